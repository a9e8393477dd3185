# Liaison — the two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
RUNTIME = $(VENV)/.runtime-stamp
STAMP   = $(VENV)/.test-stamp

.PHONY: demo test test-pg test-sqlite lint typecheck bench clean

# The demo needs the runtime dependencies only; the suite adds the test and PostgreSQL extras.
$(RUNTIME): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUNTIME)

$(STAMP): $(RUNTIME)
	$(BIN)/python -m pip install --quiet -e '.[test,postgres]'
	touch $(STAMP)

## Set up the venv and run the demo (SQLite under var/, the example cities; prints the
## agendas, feed URLs and where mail lands, then serves the pages).
demo: $(RUNTIME)
	$(BIN)/liaison demo

## Set up the venv and run the whole suite: lint, types, the import-linter layer contracts
## (.importlinter), the tests on SQLite, then again on a throwaway PostgreSQL (test-pg).
## Any failure, or pytest collecting nothing (exit 5), fails the target.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	env -u LIAISON_TEST_DATABASE_URL $(BIN)/pytest $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-pg

## The test suite again on PostgreSQL: against $$LIAISON_TEST_DATABASE_URL (a superuser URL,
## e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres) if set, else a throwaway
## cluster started for the run (needs the PostgreSQL server binaries; see tests/support/pg.py).
## Tests that never touch the database are deselected there (they ran on SQLite).
test-pg: $(STAMP)
ifdef LIAISON_TEST_DATABASE_URL
	$(BIN)/pytest $(PYTEST_ARGS)
else
	$(BIN)/python -m tests.support.pg run -- $(BIN)/pytest $(PYTEST_ARGS)
endif

## Only the SQLite pass (quick, while developing).
test-sqlite: $(STAMP)
	env -u LIAISON_TEST_DATABASE_URL $(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	benchmarks/install-tools
	$(BIN)/python benchmarks/run

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
