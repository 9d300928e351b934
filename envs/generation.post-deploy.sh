#!/usr/bin/env bash
# Run by Snakemake (--sdm conda) inside the new env: installs the deepdraw package without its
# dependencies (--no-deps), so the env keeps exactly the pins of its yaml file. Conda's pip
# section cannot pass --no-deps (conda writes a requirements file, where pip ignores it).
# Snakemake runs this from the workflow directory; DEEPDRAW_ROOT overrides it.
set -euo pipefail
root="${DEEPDRAW_ROOT:-$PWD}"
if ! grep -qs '^name = "deepdraw"' "$root/pyproject.toml"; then
    echo "post-deploy: $root/pyproject.toml is not deepdraw's; run snakemake from the" \
         "repository root or set DEEPDRAW_ROOT to it" >&2
    exit 1
fi
python -m pip install --no-deps --editable "$root"
