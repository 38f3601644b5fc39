# StreamGate Platform — developer entry points. `make help` lists them.
VENV ?= .venv
PY := $(VENV)/bin/python
STACK ?= prod
LOCAL_STACK ?= local
DEBIAN_PACKAGES := redis-server nginx libnginx-mod-stream libnginx-mod-http-cache-purge prometheus \
	prometheus-alertmanager prometheus-pushgateway prometheus-redis-exporter wrk ffmpeg chromium chromium-driver \
	postgresql pgbouncer

.PHONY: help setup system-packages up down test lint typecheck check bench bench-quick plan clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

system-packages:  ## install the Debian packages the tests and local platform run (root), or print the command
	@missing=$$(for p in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || printf ' %s' $$p; done); \
	if [ -z "$$missing" ]; then echo "system packages: present"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "missing:$$missing — run: sudo apt-get install -y --no-install-recommends$$missing"; exit 2; fi

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q uv  # uv resolves this tree in seconds where pip backtracks for minutes
	# --compile-bytecode: the environment may set PYTHONDONTWRITEBYTECODE, and without .pyc files
	# importing pulumi_aws alone takes ~5 s on every plan.
	$(VENV)/bin/uv pip install -q --compile-bytecode --python $(PY) -e '.[dev]'
	# The first plan compiles the Pulumi SDKs with postponed annotations (infra/sdk_import.py) and caches
	# them: do it here, once, so that no later plan pays the ~6 s.
	$(VENV)/bin/streamgate plan prod >/dev/null
	touch $@

setup: system-packages $(VENV)/.installed  ## Debian packages + the Python environment in .venv

up: setup  ## bring up the local platform (stack LOCAL_STACK), then play the sample through the edge with ffmpeg
	$(VENV)/bin/streamgate local up --stack $(LOCAL_STACK)
	$(VENV)/bin/streamgate local smoke --stack $(LOCAL_STACK)

down:  ## stop the local platform (data kept; `streamgate local down --purge` drops it)
	$(VENV)/bin/streamgate local down --stack $(LOCAL_STACK)

test: setup  ## the whole test suite (starts its own servers on loopback)
	$(VENV)/bin/pytest -q

lint:  ## ruff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck:  ## mypy
	$(VENV)/bin/mypy

check: lint typecheck test  ## everything CI runs

bench: setup  ## every benchmark, full size
	@for b in tests/benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

bench-quick: setup  ## every benchmark, --quick
	@for b in tests/benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b --quick || exit 1; done

plan: $(VENV)/.installed  ## offline plan of STACK (default prod)
	$(VENV)/bin/streamgate plan $(STACK)

clean:  ## remove caches (keeps .venv and .streamgate)
	rm -rf .pytest_cache .mypy_cache .ruff_cache
