# Tailor: the two commands a new user needs are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
# uv from PATH, else the one pip installs (`python3 -m uv`).
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
# Two workers, one test file each at a time: most tests wait on dbt, Airflow or HTTP, so
# two share a 2-core machine well (tests/conftest.py gives each its own dbt target folder).
PYTEST_ARGS ?= -n 2 --dist loadfile
# The browser test drives Debian's Chromium; Playwright must never download a browser.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: help install demo test airflow bench lint clean browser

help:
	@echo "make demo     install, run the whole pipeline on a generated store, print what it built"
	@echo "make test     install and run the test suite"
	@echo "make airflow  start Airflow (UI on http://127.0.0.1:8080) with the DAGs and the sandbox"
	@echo "make bench    benchmarks at scale; figures go to bench/results.json"
	@echo "make lint     ruff and dbt parse"

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 \
		|| python3 -m pip install --quiet uv
	$(UV) sync --frozen --python 3.11
	@touch $@

# Debian's Chromium for tests/ops/test_browser.py, installed when missing (apt needs root;
# elsewhere the test skips with the reason, except under CI=true where it fails).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
		else echo "chromium is missing: as root, apt-get install -y chromium"; fi; }

demo: install
	$(PY) -m sandbox.demo

test: install browser
	$(PY) -m pytest $(PYTEST_ARGS)

airflow: install
	$(PY) -m sandbox.airflow_ui

bench: install
	$(PY) -m bench

lint: install
	$(VENV)/bin/ruff check plugins dags sandbox tests bench expectations
	$(VENV)/bin/ruff format --check plugins dags sandbox tests bench expectations

clean:
	rm -rf data .airflow dbt_project/target dbt_project/logs
