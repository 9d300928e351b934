# The two set-up commands of the README: `make pipeline` and `make test`.
PYTHON ?= python3
CORES ?= 2
STAMP := .install.stamp

.PHONY: install pipeline test lint

$(STAMP): pyproject.toml
	$(PYTHON) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

pipeline: $(STAMP)
	snakemake --cores $(CORES)

test: $(STAMP)
	$(PYTHON) -m pytest

lint: $(STAMP)
	snakemake --lint
	snakefmt --check Snakefile rules
