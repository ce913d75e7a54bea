# The two commands a newcomer needs: `make demo` (the platform end to end) and `make test` (every check CI runs).
# Both bootstrap .venv with the locked dependency tree first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export CHURN_HOME ?= $(CURDIR)/var
# Prefect keeps its state beside the platform's, never in ~/.prefect; its local API server gets 3 minutes to start
# on a loaded laptop (Prefect's own default is 20 s).
export PREFECT_HOME ?= $(CHURN_HOME)/prefect
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 180
DEMO_CUSTOMERS ?= 20000
DEMO_MONTHS ?= 24
TELCO_CSV ?= ../shared/data/telco/Telco-Customer-Churn.csv
TELCO_HOME ?= $(CURDIR)/var/telco

.PHONY: install demo demo-telco orchestrate test test-fast lint typecheck bench clean

$(STAMP): requirements/base.txt requirements/dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.8
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements/base.txt -r requirements/dev.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

demo: install
	@mkdir -p "$(PREFECT_HOME)"
	$(BIN)/python -m flows.demo --customers $(DEMO_CUSTOMERS) --months $(DEMO_MONTHS)
	$(BIN)/python -m harness.api_demo
	$(BIN)/churn evaluate-policy

# The real-data path on the public IBM Telco file, in its own CHURN_HOME (var/telco): the commands a user runs.
demo-telco: install
	@test -f "$(TELCO_CSV)" || { echo "demo-telco: the IBM Telco CSV is expected at $(TELCO_CSV) (set TELCO_CSV=PATH)"; exit 2; }
	CHURN_HOME=$(TELCO_HOME) $(BIN)/churn ingest telco "$(TELCO_CSV)" --as-of 2024-12
	CHURN_HOME=$(TELCO_HOME) $(BIN)/churn build
	CHURN_HOME=$(TELCO_HOME) $(BIN)/churn features apply
	CHURN_HOME=$(TELCO_HOME) $(BIN)/churn train --promote auto --bootstrap 20
	CHURN_HOME=$(TELCO_HOME) $(BIN)/churn features materialize
	CHURN_HOME=$(TELCO_HOME) $(BIN)/churn score
	CHURN_HOME=$(TELCO_HOME) $(BIN)/churn decide
	CHURN_HOME=$(TELCO_HOME) $(BIN)/python -m harness.api_demo

orchestrate: install
	infra/orchestrate.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

# Two pytest workers, a whole module each at a time (module fixtures stay in one process); idle OpenMP threads
# sleep instead of spinning, which otherwise doubled the CPU time of two workers on two cores (8.9 min vs 15).
test: lint typecheck
	OMP_WAIT_POLICY=PASSIVE $(BIN)/pytest -q -n 2 --dist loadfile

test-fast: install
	$(BIN)/pytest -q -m "not slow and not integration" -x

bench: install
	$(BIN)/python benchmarks/bench_foundation.py
	$(BIN)/python benchmarks/bench_byod.py
	$(BIN)/python benchmarks/bench_feast.py
	$(BIN)/python benchmarks/bench_training.py
	$(BIN)/python benchmarks/bench_telco.py
	$(BIN)/python benchmarks/bench_serving.py
	$(BIN)/python benchmarks/bench_batch.py
	$(BIN)/python benchmarks/bench_policy.py
	$(BIN)/python benchmarks/bench_drift.py
	$(BIN)/python benchmarks/bench_drift_power.py
	$(BIN)/python benchmarks/bench_capacity.py
	$(BIN)/python benchmarks/bench_spark.py
	$(BIN)/python benchmarks/bench_console.py
	$(BIN)/python benchmarks/bench_uplift.py

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
