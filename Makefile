# orbital-twin: `make run` and `make test` are all a newcomer needs (see README.md).
# Both are idempotent: they install what is missing (Debian packages, .venv, the package) first.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
APT_PACKAGES := mbpoll socat victoria-metrics tmux chromium

.PHONY: run test lint bench sysdeps venv clean

run: $(STAMP)
	$(VENV)/bin/twin up

test: $(STAMP) interop/node_modules/.installed
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# Every benchmark, one after the other (each prints its figures and its ratio to a peer or a
# physical limit); run them on a quiet machine.
bench: $(STAMP) interop/node_modules/.installed
	$(PY) bench/plant_speed.py
	$(PY) bench/store_bench.py
	$(PY) bench/influx_bench.py
	$(PY) bench/opcua_publish.py
	$(PY) bench/hil_poll.py
	$(PY) bench/stub_rate.py
	$(PY) bench/console_bench.py

sysdeps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml $(VENV)/bin/python | sysdeps
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

# node-opcua, the independent OPC UA client the interop tests run (versions in the lock file).
interop/node_modules/.installed: interop/package.json interop/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix interop --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the node-opcua interop tests will be skipped"; fi

venv: $(STAMP)

clean:
	rm -rf $(VENV) build *.egg-info runs .pytest_cache interop/node_modules
