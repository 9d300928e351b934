# The two set-up commands of the README: `make pipeline` and `make test`.
PYTHON ?= python3
CORES ?= 2
STAMP := .install.stamp

.PHONY: install pipeline test lint

# Refuse early, with the fix, a Python outside pyproject.toml's range or one managed by the
# system (Debian, Ubuntu: pip would stop with "externally-managed-environment").
define CHECK_PYTHON
import os, sys, sysconfig
if not (3, 11) <= sys.version_info[:2] < (3, 13):
    sys.exit(f"deepdraw needs Python >=3.11,<3.13; {sys.executable} is {sys.version.split()[0]}: make PYTHON=python3.12")
managed = os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))
if managed and sys.prefix == sys.base_prefix and not os.environ.get("PIP_BREAK_SYSTEM_PACKAGES"):
    sys.exit(f"{sys.executable} is managed by the system (pip: externally-managed-environment); "
             "create and activate a virtual environment first: python3 -m venv .venv && . .venv/bin/activate")
endef
export CHECK_PYTHON

$(STAMP): pyproject.toml
	@$(PYTHON) -c "$$CHECK_PYTHON"
	$(PYTHON) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

# deepdraw unlock: after a killed run, the same command finishes it (a stale lock is removed
# unless a Snakemake runs in this directory; profiles/default reruns incomplete jobs)
pipeline: $(STAMP)
	deepdraw unlock
	snakemake --cores $(CORES)

test: $(STAMP)
	$(PYTHON) -m pytest

lint: $(STAMP)
	snakemake --lint
	snakefmt --check Snakefile rules
