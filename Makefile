# The README's two commands are `make run` and `make test`; everything else is for developers.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test lint bench run clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[collector,dev]'
	touch $(STAMP)

test: install
	$(PY) -m pytest -n auto -q
	$(MAKE) lint

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: install
	$(PY) benchmarks/agent_footprint.py
	$(PY) benchmarks/patch_probe.py
	$(PY) benchmarks/ingest.py

# A collector on embedded SQLite (var/inventar.db) with this machine's agent enrolled.
run: install
	$(PY) -m collector.devrun

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache var
