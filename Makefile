# Developer entry points. Local services are provisioned by scripts/services.sh
# (Kafka 4.3.0 KRaft, Redis, PostgreSQL; state in ~/.cache/marketplace-services).

SHELL := /bin/bash

.PHONY: services services-down services-status

services: ## Start Kafka, Redis and PostgreSQL (idempotent)
	scripts/services.sh up

services-down: ## Stop the services started by `make services`
	scripts/services.sh down

services-status: ## One line per service; fails if any is down
	scripts/services.sh status
