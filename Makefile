# Sunlight: `make demo` and `make test` set everything up from nothing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/sunlight demo

test: $(STAMP)
	$(VENV)/bin/ruff check detectors streams sinks tests
	$(VENV)/bin/mypy --strict detectors
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check detectors streams sinks tests
	$(VENV)/bin/mypy --strict detectors

bench: $(STAMP)
	$(VENV)/bin/sunlight bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
