# StreamGate Platform — developer entry points. `make help` lists them.
VENV ?= .venv
PY := $(VENV)/bin/python
STACK ?= prod
DEBIAN_PACKAGES := redis-server nginx prometheus prometheus-alertmanager prometheus-redis-exporter wrk

.PHONY: help setup system-packages test lint typecheck check bench bench-quick plan clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

system-packages:  ## install the Debian packages the tests and local platform run (root), or print the command
	@missing=""; for b in redis-server nginx prometheus promtool prometheus-alertmanager amtool prometheus-redis-exporter wrk; do \
	  command -v $$b >/dev/null 2>&1 || missing="$$missing $$b"; done; \
	if [ -z "$$missing" ]; then echo "system packages: present"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends $(DEBIAN_PACKAGES); \
	else echo "missing:$$missing — run: sudo apt-get install -y --no-install-recommends $(DEBIAN_PACKAGES)"; exit 2; fi

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q uv  # uv resolves this tree in seconds where pip backtracks for minutes
	# --compile-bytecode: the environment may set PYTHONDONTWRITEBYTECODE, and without .pyc files
	# importing pulumi_aws alone takes ~5 s on every plan.
	$(VENV)/bin/uv pip install -q --compile-bytecode --python $(PY) -e '.[dev]'
	touch $@

setup: system-packages $(VENV)/.installed  ## Debian packages + the Python environment in .venv

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
