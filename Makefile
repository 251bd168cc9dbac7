# The dev loop. `make test` and `make demo` do all set-up on a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
# Every Python file of ours that ruff checks and formats (docs/*.md code blocks are left as written).
PY_SOURCES := channellayer interfaceserver worker channels tests bench examples noxfile.py setup.py

.PHONY: test test-fast lint demo bench venv redis-server rabbitmq-server chromium legacy clean

$(VENV)/.installed: setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test,lint,encryption,hiredis,http2]'
	touch $@

venv: $(VENV)/.installed

# redis-server is a Debian package; install it when missing and we are root.
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >/dev/null; \
	  else \
	    echo "redis-server is missing: install the 'redis-server' package (sudo apt-get install redis-server)"; exit 1; \
	  fi; }

# rabbitmq-server (Debian's) for the RabbitMQ layer's tests; they start their own node on free ports.
rabbitmq-server:
	@test -x /usr/lib/rabbitmq/bin/rabbitmq-server || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server) >/dev/null; \
	  else \
	    echo "rabbitmq-server is missing: install the 'rabbitmq-server' package (sudo apt-get install rabbitmq-server)"; exit 1; \
	  fi; }

# chromium (Debian's, driven by Playwright in tests/e2e/test_browser.py); installed when missing and we are root.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null; \
	  else \
	    echo "chromium is missing: install the 'chromium' package (sudo apt-get install chromium)"; exit 1; \
	  fi; }

# The legacy Channels 1 stack, in its own virtualenv under ~/.cache/channels-classic.
legacy:
	@bash tests/legacy/build.sh >/dev/null

# The whole suite on .venv's interpreter under coverage (subprocesses included: [tool.coverage] in
# pyproject.toml), then the fast part (noxfile.FAST_PART) on every other Python x Django cell
# (noxfile.py; interpreters from ~/.pyenv/versions), then the matrix table.
# Fails if the suite or any supported cell fails, or a cell's interpreter is MISSING.
# `.venv/bin/coverage report` shows the per-file figures of the last run.
test: venv redis-server rabbitmq-server chromium legacy
	@mkdir -p .nox && rm -f .nox/report.json; status=0; start=$$(date +%s); \
	$(VENV)/bin/coverage erase; \
	echo "$(VENV)/bin/coverage run -m pytest"; $(VENV)/bin/coverage run -m pytest || status=$$?; \
	$(VENV)/bin/coverage combine -q && \
	echo "coverage: $$($(VENV)/bin/coverage report --format=total) % of channellayer, interfaceserver, worker, channels"; \
	seconds=$$(( $$(date +%s) - start )); cell=$$($(PY) noxfile.py cell); \
	NOX_DEFAULT_CELL=$$cell $(VENV)/bin/nox --report .nox/report.json || true; \
	$(PY) noxfile.py summary .nox/report.json $$cell $$status $$seconds; \
	code=$$?; echo "make test: $$(( $$(date +%s) - start )) s"; exit $$code

# Unit tests only, on the .venv that `make test` (or `make venv`) made: no apt-get, no pip, nothing
# installed (the two tests marked redis start the redis-server on PATH). Under a minute.
test-fast:
	@test -x $(PY) || { echo "make test-fast: $(VENV) is missing; run 'make venv' (or 'make test') once first"; exit 1; }
	$(PY) -m pytest -q tests/unit

# ruff, mypy and the layering contracts ([tool.importlinter] in pyproject.toml).
lint: venv
	$(VENV)/bin/ruff check $(PY_SOURCES)
	$(VENV)/bin/ruff format --check $(PY_SOURCES)
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache --no-logo

# The example chat project as real processes (1 interface server + 2 workers + 1 reports worker) on the
# embedded SQLite layer; REDIS_URL=redis://host:port/0 switches it to Redis. PORT picks the port
# (default 8000). It prints a demo login; Ctrl-C stops everything and make exits 0.
demo: venv
	$(PY) examples/demo.py --port $(or $(PORT),8000)

# The full-stack sections also need wrk (installed by the bench itself when missing and root), the
# peers virtualenv (Daphne 4, Channels 4, uvicorn, gunicorn) and matplotlib for the charts.
bench: venv redis-server legacy
	@$(PY) -c "import matplotlib" 2>/dev/null || $(VENV)/bin/pip install -q -e '.[bench]'
	@bash bench/build_peers.sh >/dev/null
	$(PY) -m bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .nox .coverage .coverage.*
