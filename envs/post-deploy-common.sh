# Sourced by envs/<env>.post-deploy.sh, which Snakemake (--sdm conda) copies next to the new env
# (.snakemake/conda/<hash>.post-deploy.sh) and runs inside it from the workflow directory, so
# the project is found from the working directory, not from the script's own path.
# Sets `root` to the deepdraw repository (DEEPDRAW_ROOT overrides the working directory) and
# stops when it is not deepdraw's. The caller then installs the package from "$root".
root="${DEEPDRAW_ROOT:-$PWD}"
if ! grep -qs '^name = "deepdraw"' "$root/pyproject.toml"; then
    echo "post-deploy: $root/pyproject.toml is not deepdraw's; run snakemake from the" \
         "repository root or set DEEPDRAW_ROOT to it" >&2
    exit 1
fi
