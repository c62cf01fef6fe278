# The command index. `make up` runs the whole system locally, `make test` runs every test.
SHELL := /bin/bash
VENV ?= .venv
PROJECTS := auth catalog orders payments delivery gateway
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# DEBUG is off unless set (production); a local run and the tests run with DEBUG=1: local
# secrets and signing key, the default admin password. `make up DEBUG=0` (or DEBUG=0 in the
# environment) runs the production way. The cross-service tests' processes run with DEBUG=0.
export DEBUG ?= 1

.PHONY: help up processes install bootstrap services test unit cross lint format check-migrations run-% test-% clean bench fuzz

# PostgreSQL and Redis: the configured ones or this machine's (127.0.0.1:5432, :6379); where none
# answers, private servers from their wheels (requirements/local.txt), started before the command
# and stopped after it; EMBEDDED_SERVICES=1/0 forces the choice. It says in one line which it uses.
# `make up` keeps their data in var/; the tests (--scratch) use throwaway servers.
EMBEDDED := $(VENV)/bin/python bin/embedded.py run

help: ## list the targets with what each does
	@grep -E '^[a-z%-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:[^#]*## /\t/' | awk -F'\t' '{printf "  make %-18s %s\n", $$1, $$2}'

# The admins and Flower are off the gateway by default; a local run serves them there.
up: install ## run every process (Ctrl-C stops them all)
	@$(EMBEDDED) -- $(MAKE) --no-print-directory processes

# Its log lines are the readable console ones (LOG_FORMAT=json, the default elsewhere, for JSON).
processes: export LOG_FORMAT ?= console
processes: install # what `make up` runs once PostgreSQL and Redis answer
	bin/bootstrap
	@echo "Gateway:   http://127.0.0.1:8000  (API, /docs, /schema, /admin/<project>/, /flower/)"
	@echo "Services:  auth :4001  catalog :4002  orders :4003  payments :4004  delivery :4005"
	@echo "Local admin in every project: $${LOCAL_ADMIN_EMAIL:-admin@example.com} / $${LOCAL_ADMIN_PASSWORD:-admin}"
	@echo "Starting every process of the Procfile (the gateway answers within about 20 s; Ctrl-C stops them all)"
	GATEWAY_PROXY_ADMIN=$${GATEWAY_PROXY_ADMIN:-1} GATEWAY_PROXY_FLOWER=$${GATEWAY_PROXY_FLOWER:-1} \
	  GATEWAY_CORS_ALLOWED_ORIGINS=$${GATEWAY_CORS_ALLOWED_ORIGINS-http://localhost:3000,http://127.0.0.1:3000} \
	  honcho -f Procfile start

install: $(VENV)/.installed ## create the venv and install the pinned requirements

$(VENV)/.installed: requirements/base.txt requirements/local.txt requirements/dev.txt common/pyproject.toml
	@echo "install: the pinned requirements into $(VENV) (about a minute the first time) ..."
	@start=$$SECONDS; set -e; \
	  test -x $(VENV)/bin/python || python3 -m venv $(VENV); \
	  $(VENV)/bin/pip install -q --upgrade pip; \
	  $(VENV)/bin/pip install -q -r requirements/dev.txt; \
	  touch $@; echo "install: done in $$((SECONDS - start)) s"

bootstrap: install ## create databases, migrate, create the local admins
	@$(EMBEDDED) -- bin/bootstrap

services: ## start this machine's PostgreSQL and Redis if they are not running
	bin/services

test: install lint check-migrations unit cross ## everything CI runs

unit: install ## each project's own pytest-django suite (real PostgreSQL and Redis)
	@$(EMBEDDED) --scratch -- bash -c 'set -e; echo "== common"; (cd common && pytest); \
	for p in $(PROJECTS); do echo "== $$p"; (cd $${p}_project && pytest); done'

test-%: install ## one project's suite, e.g. `make test-catalog`
	@$(EMBEDDED) --scratch -- bash -c 'cd $*_project && pytest'

cross: install ## cross-service tests: real processes on free ports, HTTP through the gateway
	@$(EMBEDDED) --scratch -- pytest tests

# `make test` runs tests/test_fuzz.py with a fixed seed and 5 examples per operation.
fuzz: install ## schemathesis longer, with a random seed: every operation, role, gateway and direct
	FUZZ_SEED=$${FUZZ_SEED:-random} FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-50} FUZZ_STEPS=$${FUZZ_STEPS:-12} \
	  $(EMBEDDED) --scratch -- pytest tests/test_fuzz.py

lint: install ## ruff: lint and formatting check
	ruff check .
	ruff format --check .

format: install ## ruff: fix what can be fixed and format
	ruff check --fix .
	ruff format .

check-migrations: install ## fail if a model change has no migration
	@set -e; for p in $(PROJECTS); do (cd $${p}_project && python manage.py makemigrations --check --dry-run >/dev/null) || { echo "$$p: missing migration (run makemigrations)"; exit 1; }; done

run-%: install ## one project on its own, e.g. `make run-catalog PORT=4002`
	bin/serve $* $(PORT)

bench: install ## the benchmark (≤ 20 min, loopback): bench/results/latest.{json,md,png}
	@command -v wrk >/dev/null && command -v nginx >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light >/dev/null; }
	$(VENV)/bin/pip install -q -r requirements/bench.txt
	python bench/run.py $(BENCH_ARGS)

clean: ## remove the venv and var/ (the data of `make up`'s private servers too)
	rm -rf $(VENV) var
