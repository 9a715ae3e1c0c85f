# make demo: create .venv if missing, then run the main benchmark (ml-100k).
# make test: create .venv if missing, then run the test suite.
# Set GRAPHREC_DATA to the folder that holds ml-100k/ (or ml-100k.zip);
# without it the data is downloaded from GroupLens into ~/.cache/graphrec/data.

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test clean-venv

$(STAMP): setup.cfg constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip<25"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test,text]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/graphrec benchmark benchmarks/configs/ml100k.yaml

test: $(STAMP)
	$(BIN)/python -m pytest

clean-venv:
	rm -rf $(VENV)
