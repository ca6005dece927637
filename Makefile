# Two commands set everything up on a fresh machine with Python 3.10+ and pip:
#   make demo   create .venv, install srlab with its extras, run notebooks/quickstart.ipynb headlessly
#               into out/ (ignored by git: the checkout stays clean)
#   make test   the same environment, then ruff and the test suite (what CI runs)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# The CPU wheel of PyTorch; installed first so that srlab's torch range is already satisfied.
TORCH  ?= torch==2.13.0

.PHONY: demo test lint env clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[notebooks,dev]"
	touch $@

env: $(VENV)/.installed

demo: env
	mkdir -p out
	$(PY) -m papermill notebooks/quickstart.ipynb out/quickstart.ipynb -k python3 \
		-p out_dir "$(CURDIR)/out/figures" -p results_dir "$(CURDIR)/out/results"

lint: env
	$(PY) -m ruff check srlab tests benchmarks tools
	$(PY) -m ruff format --check srlab tests benchmarks tools

test: lint
	$(PY) -m pytest -q -n 2 --dist loadfile

clean:
	rm -rf $(VENV) out .pytest_cache
