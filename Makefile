# The two commands of the README: `make run` and `make test`. Everything else supports them.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export INSTANCE_PATH ?= $(CURDIR)/instance

.PHONY: run test lint soak screenshots clean

$(BIN)/activate:
	$(PY) -m venv $(VENV)

# Reinstall when the pins change; the stamp file makes repeat runs instant.
$(VENV)/.installed: $(BIN)/activate pyproject.toml requirements.lock requirements-dev.lock
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

run: $(VENV)/.installed
	PATH=$(CURDIR)/$(BIN):$$PATH PORT=$(PORT) sh scripts/run-local.sh

test: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .

# PNGs of the web console (demo data in a throw-away SQLite database) into docs/screenshots/.
# Needs Debian's Chromium: apt-get install -y chromium.
screenshots: $(VENV)/.installed
	$(BIN)/python scripts/screenshots.py

# The slow fault tests at full size (PostgreSQL): a 1,000-check-in retry storm from 50 clients, a gunicorn
# worker SIGKILLed mid-load, a one-minute FCM storm (half the sends answered 500, or 429 with Retry-After) under
# two workers, PostgreSQL stopped for 5 s and then crash-restarted under a load of check-ins (soak only: a
# throw-away cluster made with pg_createcluster, so it needs root), two workers on 5,000 prompts and a worker
# SIGKILLed mid-batch. `-s` shows the sent/received/lost/duplicated line each fault test prints.
soak: $(VENV)/.installed
	DATABASE_URL=$${DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/ic_test} SOAK_CHECKINS=1000 \
		SOAK_FCM_STORM_SECONDS=60 SOAK_DB_RESTART=1 \
		$(BIN)/pytest -s tests/faults tests/worker/test_multiworker.py tests/test_end_to_end_alert.py

clean:
	rm -rf $(VENV) instance .pytest_cache
