# Deployment targets, included by the main Makefile (`-include make/deploy.mk`).
# `make up` / `make down` need Docker with the compose plugin; `make deploy-check` does not.
COMPOSE ?= docker compose
KUBECTL ?= $(VENV)/bin/kubectl
K8S_OVERLAYS := deploy/k8s/overlays/dev deploy/k8s/overlays/prod deploy/k8s/overlays/prod-keda deploy/k8s/kafka-topics

.PHONY: up down logs ps deploy-check k8s-render k8s-dev-keys promtool chromium

.env:
	cp .env.example .env

up: .env  ## the full local stack in Docker: Kafka, PostgreSQL, the services, OTel, Jaeger, Prometheus, Grafana
	$(COMPOSE) up --build --detach --wait
	@echo "Grafana    http://localhost:$${GRAFANA_HOST_PORT:-3000}"
	@echo "Prometheus http://localhost:$${PROMETHEUS_HOST_PORT:-9090}"
	@echo "Jaeger     http://localhost:$${JAEGER_HOST_PORT:-16686}"
	@echo "Services   http://localhost:8001/docs 8002 8003 8004"

down:  ## stop the compose stack (add ARGS=-v to delete its volumes)
	$(COMPOSE) down $(ARGS)

logs:  ## follow the compose stack's logs
	$(COMPOSE) logs --follow --tail=100

ps:
	$(COMPOSE) ps

k8s-render: install  ## print the rendered kustomize overlay OVERLAY (default: prod)
	$(KUBECTL) kustomize deploy/k8s/overlays/$(or $(OVERLAY),prod)

k8s-dev-keys: install  ## fresh random API keys for the dev cluster overlay (printed once; hashes written)
	$(VENV)/bin/python deploy/k8s/overlays/dev/generate_keys.py

# promtool comes from Debian's `prometheus` package, amtool and the Alertmanager from
# `prometheus-alertmanager` (used by tests/deploy when present).
promtool:
	@{ command -v promtool && command -v amtool; } >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null; }
	@promtool --version | head -1
	@amtool --version 2>&1 | head -1

# Debian's chromium and its chromedriver: the console's browser test drives the system
# browser through selenium (never a browser download at run time).
chromium:
	@{ command -v chromium && command -v chromedriver; } >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null; }
	@chromium --version 2>/dev/null

deploy-check: install  ## validate compose, k8s overlays, Dockerfile, Prometheus rules and dashboards (no Docker needed)
	$(VENV)/bin/pytest tests/deploy -q
