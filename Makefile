# Single entry point. `make run` and `make test` install what they need.
SHELL := /bin/bash
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

-include make/deploy.mk

.PHONY: help install test-tools run demo test lint fmt typecheck pytest unit service integration e2e schemas bench bench-idle bench-retention bench-short bench-consume up down clean

help:  ## list the targets
	@grep -hE '^[a-z0-9-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==0.13.8

$(VENV)/.installed: $(UV) uv.lock pyproject.toml libs/*/pyproject.toml services/*/pyproject.toml clients/*/pyproject.toml
	$(UV) sync --frozen --all-packages --python 3.11
	@touch $@

install: $(VENV)/.installed  ## create .venv from the lock file

run: install  ## the whole system on the embedded broker and database (Ctrl-C stops it)
	$(VENV)/bin/python -m supplychain_devstack.run

demo: install  ## against a running `make run`: an e-bike chain placed and watched live to invoiced
	$(VENV)/bin/supplychain demo

test: install lint typecheck test-tools pytest  ## ruff, mypy and every test

# promtool (Debian's prometheus package) lets tests/deploy check the alert rules, chromium
# (with chromium-driver) lets the console be tested in a real browser; when they cannot be
# installed those few tests skip and say so. In CI (`CI` set, as .ci/run sets it) they must
# install: a failure fails `make test` instead of letting their tests skip unseen.
TOOL_FAILURE_IGNORED := $(if $(CI),,-)
test-tools:
	$(TOOL_FAILURE_IGNORED)@$(MAKE) --no-print-directory promtool
	$(TOOL_FAILURE_IGNORED)@$(MAKE) --no-print-directory chromium

lint: install  ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: install  ## format and autofix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: install  ## mypy (strict on libs/)
	$(VENV)/bin/mypy -p supplychain_contracts -p supplychain_kit -p supplychain_devstack
	$(VENV)/bin/mypy -p order_intake -p fulfilment -p invoicing -p monitoring
	$(VENV)/bin/mypy --strict -p supplychain_cli

# Both cores: most tests wait on brokers, databases and service processes rather than compute.
# A test module stays on one worker (its module-scoped stacks are started once).
PYTEST_WORKERS ?= 2
# Tests marked serial (they time failovers of replicas) run alone afterwards.
pytest: install  ## every test; "no tests ran" is a failure
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=25; status=$$?; if [ $$status -eq 5 ]; then echo "no tests ran"; exit 1; fi; exit $$status

unit: install  ## unit and contract tests (no broker, no database)
	$(VENV)/bin/pytest tests/unit tests/contract

service: install  ## each service's handlers, commands and stores on the real database
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder tests/service

integration: install  ## the services as processes on the real broker and database
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder tests/integration

e2e: install  ## make run, the short bench and the short soak
	$(VENV)/bin/pytest tests/e2e

schemas: install  ## regenerate the event JSON Schemas (refuses breaking changes)
	$(VENV)/bin/python -m supplychain_contracts.schemas

# Strict: a broken link, a page missing from the nav or a missing snippet fails the build
# (tests/unit/test_docs_site.py builds it the same way in make test).
.PHONY: docs
docs: install  ## the manual (docs/, mkdocs.yml) as a site in .data/site: open .data/site/index.html
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir .data/site

# The official AsyncAPI parser and specification schemas (npm, versions locked in
# tests/contract/asyncapi-validator/) for the AsyncAPI contract test, which also calls this
# target itself; when they cannot be installed, `make test` fails instead of skipping.
ASYNCAPI_VALIDATOR := $(TOOLS)/asyncapi-validator
.PHONY: asyncapi-validator
test-tools: asyncapi-validator
asyncapi-validator: $(ASYNCAPI_VALIDATOR)/.installed
$(ASYNCAPI_VALIDATOR)/.installed: tests/contract/asyncapi-validator/package.json tests/contract/asyncapi-validator/package-lock.json
	rm -rf $(ASYNCAPI_VALIDATOR) && mkdir -p $(ASYNCAPI_VALIDATOR)
	cp $^ $(ASYNCAPI_VALIDATOR)/
	cd $(ASYNCAPI_VALIDATOR) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

bench: install  ## the whole system under rising load vs bare baselines -> bench/report.md, bench/latency-vs-rate.png
	$(VENV)/bin/python bench/system_bench.py

bench-idle: install  ## make run's idle CPU per process (one order / 5 s, 60 s) and placed→invoiced
	$(VENV)/bin/python bench/idle.py --report bench/idle.md

bench-short: install  ## the same, 2 rates x 3 s: proves the benchmark works (figures mean little)
	$(VENV)/bin/python bench/system_bench.py --short --out .data/bench-short

bench-retention: install  ## 85 min at 5 orders/s: the inbox and outbox stay bounded -> bench/retention.md
	$(VENV)/bin/python bench/retention.py

bench-consume: install  ## invoicing's and monitoring's handlers alone: events/s and SQL statements per event
	$(VENV)/bin/python bench/consume_apply.py --service invoicing --by-topic
	$(VENV)/bin/python bench/consume_apply.py --service monitoring --batched

.PHONY: soak soak-short
soak: install  ## long fault run: SOAK_ORDERS (10000) at SOAK_RATE (10/s), broker/service/database faults -> .data/soak/report.md
	PYTHONPATH=tests $(VENV)/bin/python -m soak

soak-short: install  ## the same with 200 orders and one fault of each kind (make test runs it)
	PYTHONPATH=tests $(VENV)/bin/python -m soak --short --out .data/soak-short

clean:  ## remove the virtualenv and embedded data
	rm -rf $(VENV) .data
