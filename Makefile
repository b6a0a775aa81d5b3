# The two commands of the README: `make run` and `make test`. Everything else is set-up they call.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CATALOGS := $(wildcard locales/*/LC_MESSAGES/messages.po)
COMPILED := $(CATALOGS:.po=.mo)

.PHONY: run test console check install catalogs extract update-catalogs lint bench clean

run: install catalogs
	$(BIN)/guardian-bot run

test: install catalogs
	$(BIN)/ruff check .
	$(BIN)/guardian-bot content check
	$(BIN)/pytest

console: install catalogs
	$(BIN)/guardian-bot console --demo

# Benchmarks print their figures and write bench/results/latest.json (not part of `make test`).
bench: install catalogs
	$(BIN)/python -m bench

check: install catalogs
	$(BIN)/guardian-bot check

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

catalogs: install $(COMPILED)

locales/%/LC_MESSAGES/messages.mo: locales/%/LC_MESSAGES/messages.po
	$(BIN)/pybabel compile --statistics -d locales -D messages -l $* -i $< -o $@

# Translator workflow: extract the strings, merge them into both catalogs, translate, then `make catalogs`.
extract: install
	$(BIN)/pybabel extract -F babel.cfg -o locales/messages.pot --sort-by-file --no-location \
		-k N_ -c TRANSLATORS: --project=guardian-bot --version=0.1 .

update-catalogs: extract
	$(BIN)/pybabel update -i locales/messages.pot -d locales -D messages --ignore-obsolete --no-fuzzy-matching

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) var locales/*/LC_MESSAGES/*.mo
