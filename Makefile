# License Portal: `make run` serves the portal on a fresh machine; `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
PORT ?= 8000
BIN := $(VENV)/bin
PY := $(BIN)/python

.PHONY: run test test-fast drills install migrate seed worker beat lint complexity lock bench bench-usage clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# Installs from the hashed lock (requirements/lock-*.txt, made by `make lock` from the
# human-edited requirements/*.txt): the same versions everywhere, every download checked.
$(VENV)/.installed-dev: requirements/lock-dev.txt | $(BIN)/activate
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements/lock-dev.txt
	touch $@

# The debug-log scanner (usage/_flexscan.c, issue 15), compiled in place. Without a C compiler
# the portal reads logs with the pure-Python path (usage.parsers), slower; the tests insist on it.
$(VENV)/.built-flexscan: usage/_flexscan.c setup.py $(VENV)/.installed-dev
	$(PY) setup.py --quiet build_ext --inplace && touch $@ || echo "warning: usage/_flexscan.c not built (no C compiler?): logs are read by the slower Python path"

install: $(VENV)/.installed-dev $(VENV)/.built-flexscan

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

# The whole suite in two runs on TEST_WORKERS processes (pytest-xdist; a database per worker,
# a test file's tests stay together): the fast tests, then the `slow` ones (browser journeys,
# outage drills, property runs; the drills bring their own Redis and PostgreSQL cluster on free
# ports). In one process the suite took 14 minutes on the 2-core machine of 2026-12-04; on one
# whose CPU runs the tests 2.5 times slower (2026-12-05) that would pass CI's 30 minutes.
test: install node_modules/.package-lock.json
	$(BIN)/pytest -m "not slow" -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)
	$(BIN)/pytest -m slow -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The loop to run while working: everything but the `slow` tests (browser journeys, outage
# drills, hypothesis property runs; tests/conftest.py marks them), on TEST_WORKERS processes.
TEST_WORKERS ?= 2
test-fast: install
	$(BIN)/pytest -m "not slow" -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The operations drills alone (restore, outages, probes, metrics, logs, upgrades): docs/operations.md.
drills: install
	$(BIN)/pytest tests/drills tests/ops $(PYTEST_ARGS)

# `ruff format --check` fails until the tree has been formatted (one commit, after the merges);
# CI runs `ruff check` only until then (.ci/run).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Cyclomatic complexity of every function above 10, worst first; tests/portal/test_complexity.py
# fails the build for any above 15.
complexity: install
	$(BIN)/radon cc --min C --order SCORE --show-complexity --exclude "*/migrations/*" accounts activations entitlements notices portal api usage support ops agent bench tests

# Regenerate the hashed locks after editing requirements/base.txt, dev.txt or bench.txt.
# Versions already locked are kept (uv prefers the existing output); to upgrade one package:
# make lock LOCK_ARGS="--upgrade-package django".
UV_COMPILE = $(BIN)/uv pip compile --quiet --generate-hashes --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock" $(LOCK_ARGS)
lock:
	$(UV_COMPILE) requirements/dev.txt -o requirements/lock-dev.txt
	$(UV_COMPILE) requirements/base.txt -c requirements/lock-dev.txt -o requirements/lock-base.txt
	$(UV_COMPILE) requirements/bench.txt -c requirements/lock-dev.txt -o requirements/lock-bench.txt

worker: install
	$(BIN)/celery -A portal worker --loglevel=INFO

beat: install
	$(BIN)/celery -A portal beat --loglevel=INFO

clean:
	rm -rf $(VENV) var staticfiles build usage/_flexscan.*.so

# Benchmarks (issue 7): not part of `make test`. Needs PostgreSQL, Redis and wrk; uses the
# portal_bench database and Redis DB 13. Results: bench/results/latest.json, docs/performance.md.
$(VENV)/.installed-bench: requirements/lock-bench.txt | $(BIN)/activate
	$(PY) -m pip install --quiet --require-hashes -r requirements/lock-bench.txt
	touch $@

bench: $(VENV)/.installed-bench
	$(PY) bench/run.py $(BENCH_ARGS)

# Usage insights (issue 15): parse vs read-and-split, ingest RSS, Usage page vs /healthz.
# Database portal_usage_bench, Redis DB 14; results: bench/results/usage.json, docs/performance.md.
bench-usage: $(VENV)/.installed-bench
	$(PY) bench/usage.py $(BENCH_ARGS)
