# leadqual: the two commands (make run, make test) and their helpers.
# Every install step lives here, so a fresh machine needs only Python 3.11 (and Node.js with npm for the
# analytics charts: Chart.js comes from the pinned package-lock.json).

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-installed
DEV_STAMP := $(VENV)/.dev-installed
NPM_STAMP := node_modules/.installed
LEADS ?= 100000

.PHONY: run test lint format bench faults clean-venv chromium npm

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(RUN_STAMP)

## Chart.js for the analytics page, from the pinned package-lock.json; reruns only when the lock changes.
## Without npm the page still works (tables, no charts): say so and go on.
$(NPM_STAMP): package.json package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --no-audit --no-fund --ignore-scripts && touch $@; \
	else \
		echo "npm not found: install Node.js and npm for the analytics charts (the page shows its tables without them)." >&2; \
	fi

npm: $(NPM_STAMP)

## make run: set up, migrate, load demo data and rules when empty, start web + worker.
run: $(RUN_STAMP) $(NPM_STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo --if-empty
	$(BIN)/python manage.py seed_rules --if-empty
	$(BIN)/python manage.py seed_segments --if-empty
	$(BIN)/python manage.py runembedded

## make test: set up, lint, run every test (PostgreSQL/Redis ones when DATABASE_URL/REDIS_URL are set).
test: $(DEV_STAMP) chromium $(NPM_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest $(PYTEST_ARGS)
	@# The Python/SQL agreement, and routing's one-statement-at-a-time write path, must hold on the embedded SQLite default too (PostgreSQL-only tests, run above, skip here).
	@if [ -n "$$DATABASE_URL" ]; then env -u DATABASE_URL -u REDIS_URL -u LEADQUAL_REQUIRE_SERVICES $(BIN)/pytest -q tests/scoring/test_property.py tests/scoring/test_score_lead.py tests/segments; fi

## Browser tests drive Debian's chromium (STACK.md); `playwright install` downloads a browser and cannot work here.
chromium:
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(DEV_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## make bench: every benchmark under bench/ on PostgreSQL and Redis (LEADS=1000000 for the full run).
bench: $(DEV_STAMP)
	$(BIN)/python -m bench --leads $(LEADS)

## make faults: the fault-and-abuse suite at full size against PostgreSQL, Redis and real workers; prints its table.
## Full-size scenarios run for minutes (the load window alone is 60 s): a longer per-test timeout than make test's.
faults: $(DEV_STAMP)
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/leadqual} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/0} \
	FAULTS_SIZE=$${FAULTS_SIZE:-full} LEADQUAL_REQUIRE_SERVICES=1 \
	$(BIN)/pytest -p no:cacheprovider -q -o timeout=1800 tests/faults $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
