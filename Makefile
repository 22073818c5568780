# Rebalance Desk — `make run` opens the console on a demo book, `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
RUFF   ?= $(PY) -m ruff

.PHONY: setup run lint test test-pg bench screenshots clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

## opens the console; a new database gets a generated demo book first
run: $(STAMP)
	$(PY) main.py open --demo

## ruff (the rule set in pyproject.toml) and the import contracts (import-linter)
lint: $(STAMP)
	$(RUFF) check .
	$(VENV)/bin/lint-imports

## lint, then the whole test suite (offscreen Qt)
test: lint
	QT_QPA_PLATFORM=$${QT_QPA_PLATFORM:-offscreen} $(PY) -m pytest -q -n $${PYTEST_WORKERS:-2}

## the suite with the database tests on PostgreSQL too (a throwaway local server; apt-get install postgresql)
test-pg: lint
	pg_env="$$(.ci/pg-start)" && eval "$$pg_env" && trap '.ci/pg-stop' EXIT && \
	  QT_QPA_PLATFORM=$${QT_QPA_PLATFORM:-offscreen} $(PY) -m pytest -q -n $${PYTEST_WORKERS:-2}

## benchmarks (minutes; see docs/benchmarks.md)
bench: $(STAMP)
	$(PY) bench/bench_import.py
	$(PY) bench/bench_run.py --accounts 1000 10000 100000 --workers 1 2
	$(PY) bench/bench_optimizer_phases.py
	$(PY) bench/bench_export.py
	$(PY) bench/bench_audit.py
	QT_QPA_PLATFORM=offscreen $(PY) bench/bench_charts.py
	QT_QPA_PLATFORM=offscreen $(PY) bench/bench_ui.py
	QT_QPA_PLATFORM=offscreen $(PY) bench/bench_proposals_panel.py

## PNGs of each panel into docs/screenshots/ (needs xvfb-run: apt-get install xvfb)
screenshots: $(STAMP)
	xvfb-run -a -s "-screen 0 1600x1000x24" $(PY) -m ui.screenshots docs/screenshots

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
