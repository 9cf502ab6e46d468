# Developer entry points. Local services are provisioned by scripts/services.sh
# (Kafka 4.3.0 KRaft, Redis, PostgreSQL; state in ~/.cache/marketplace-services). Its ports
# and state home come from the environment (KAFKA_PORT, REDIS_PORT, PG_PORT, ...): see its header.

SHELL := /bin/bash
VENV := .venv
PYTHON ?= python3
INSTALLED := $(VENV)/.installed

# `make run` drives the real stack: Kafka on, PostgreSQL for the domain state.
RUN_ENV := KAFKA_ENABLED=$${KAFKA_ENABLED:-true} \
	DATABASE_URL=$${DATABASE_URL:-postgresql+psycopg://marketplace:marketplace@127.0.0.1:5432/marketplace}

.PHONY: install services services-down services-status test unit-coverage run bench lint

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

install: $(INSTALLED) ## Create .venv with the project and its dev tools

services: ## Start Kafka, Redis and PostgreSQL (idempotent)
	scripts/services.sh up

services-down: ## Stop the services started by `make services`
	scripts/services.sh down

services-status: ## One line per service; fails if any is down
	scripts/services.sh status

test: install lint services ## Lint and types, the whole suite against the real services, unit coverage
	$(VENV)/bin/pytest
	$(MAKE) --no-print-directory unit-coverage

# No service reachable (port 9 answers nothing), so only what runs in-process counts.
unit-coverage: install ## The unit tests alone, without any service: coverage of workers/ and marketplace/consumer/ (at least 85%)
	env -u CI TEST_KAFKA_PORT=9 TEST_REDIS_PORT=9 TEST_POSTGRES_PORT=9 \
		$(VENV)/bin/coverage run -m pytest -q -p no:cacheprovider tests/workers tests/consumer tests/events tests/domain examples
	$(VENV)/bin/coverage report

run: install services ## Migrate, create the topics and run every Procfile process
	$(RUN_ENV) $(VENV)/bin/marketplace db upgrade
	$(RUN_ENV) $(VENV)/bin/marketplace topics create
	@echo "Flower: http://127.0.0.1:5555 (user admin, password from FLOWER_PASSWORD, default 'marketplace')"
	$(RUN_ENV) PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/honcho start

bench: install services ## Throughput benchmarks side by side (BENCH_EVENTS, BENCH_RATE, BENCH_SECONDS=300: issue 9's goal run)
	$(VENV)/bin/python -m bench
	$(VENV)/bin/python -m bench.in_process
	$(VENV)/bin/python -m bench.pipeline

lint: install ## ruff (rules and formatting) and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
