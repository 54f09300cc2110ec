# License Portal: `make run` serves the portal on a fresh machine; `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
PORT ?= 8000
BIN := $(VENV)/bin
PY := $(BIN)/python

.PHONY: run test test-fast drills install migrate seed worker beat lint bench bench-usage clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-dev: requirements/base.txt requirements/dev.txt | $(BIN)/activate
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/dev.txt
	touch $@

install: $(VENV)/.installed-dev

migrate: install
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

# Links in emails point at the address the portal is served on (PORT), unless set explicitly.
PORTAL_BASE_URL ?= http://127.0.0.1:$(PORT)

run: seed
	PORTAL_BASE_URL=$(PORTAL_BASE_URL) $(PY) manage.py runserver 127.0.0.1:$(PORT)

# axe-core (npm) for the accessibility checks of the browser tests.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

test: install node_modules/.package-lock.json
	$(BIN)/pytest $(PYTEST_ARGS)

# The loop to run while working: everything but the `slow` tests (browser journeys, outage
# drills, hypothesis property runs; tests/conftest.py marks them). `make test` runs them all.
test-fast: install
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

# The operations drills alone (restore, outages, probes, metrics, logs, upgrades): docs/operations.md.
drills: install
	$(BIN)/pytest tests/drills tests/ops $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

worker: install
	$(BIN)/celery -A portal worker --loglevel=INFO

beat: install
	$(BIN)/celery -A portal beat --loglevel=INFO

clean:
	rm -rf $(VENV) var staticfiles

# Benchmarks (issue 7): not part of `make test`. Needs PostgreSQL, Redis and wrk; uses the
# portal_bench database and Redis DB 13. Results: bench/results/latest.json, docs/performance.md.
$(VENV)/.installed-bench: requirements/base.txt requirements/dev.txt requirements/bench.txt | $(BIN)/activate
	$(PY) -m pip install --quiet -r requirements/bench.txt
	touch $@

bench: $(VENV)/.installed-bench
	$(PY) bench/run.py $(BENCH_ARGS)

# Usage insights (issue 15): parse vs read-and-split, ingest RSS, Usage page vs /healthz.
# Database portal_usage_bench, Redis DB 14; results: bench/results/usage.json, docs/performance.md.
bench-usage: $(VENV)/.installed-bench
	$(PY) bench/usage.py $(BENCH_ARGS)
