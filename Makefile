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
	cd tests/web && (test -d node_modules || npm ci --no-audit --no-fund)
	$(PY) -m pytest -n auto -q
	$(MAKE) lint

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache --no-logo

# Each prints its figures; a missed goal does not stop the others.
bench: install
	-$(PY) -m benchmarks.agent_footprint
	-$(PY) -m benchmarks.patch_probe
	-$(PY) -m benchmarks.agent_idle
	-$(PY) -m benchmarks.ingest
	-$(PY) -m benchmarks.policy_eval
	-$(PY) -m benchmarks.metrics_scrape
	-$(PY) -m benchmarks.web
	-$(PY) -m benchmarks.vulns

# A collector on embedded SQLite (var/inventar.db) with this machine's agent enrolled.
run: install
	$(PY) -m collector.devrun

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache var
