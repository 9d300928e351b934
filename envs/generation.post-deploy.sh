#!/usr/bin/env bash
# Run by Snakemake (--sdm conda) inside the new env: installs the deepdraw package without its
# dependencies (--no-deps), so the env keeps exactly the pins of its yaml file. Conda's pip
# section cannot pass --no-deps (conda writes a requirements file, where pip ignores it).
# Snakemake runs a copy of this file from the workflow directory; envs/post-deploy-common.sh
# finds and checks the repository (DEEPDRAW_ROOT overrides the working directory).
set -euo pipefail
source "${DEEPDRAW_ROOT:-$PWD}/envs/post-deploy-common.sh"
python -m pip install --no-deps --editable "$root"
