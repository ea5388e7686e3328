# Shelfkeeper — the commands a fresh machine needs. `make run` and `make test` install what they use.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# make run talks to the local simulator unless the environment says otherwise. Only `run` (and
# the .env it writes) gets these: the tests start simulators of their own and check the shipped
# defaults (a loopback artwork host must stay refused there).
export SIMULATOR_PORT ?= 9090
run: export VPP_SERVICE_URL ?= http://127.0.0.1:$(SIMULATOR_PORT)/mdm/v2
run: export VPP_STORE_LOOKUP_URL ?= http://127.0.0.1:$(SIMULATOR_PORT)/lookup
run: export VPP_ARTWORK_HOSTS ?= mzstatic.com,apple.com,127.0.0.1

.PHONY: run test lint fmt install chromium clean-var bench-simulator bench-sync bench-assign bench-pages bench-api-cursor

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet '.[dev]'
	@touch $@

install: $(STAMP)

# Secrets for a development install, made once and kept out of git.
.env:
	@umask 077 && $(PYTHON) -c "import base64, secrets; print('DEBUG=true'); print('SECRET_KEY=' + secrets.token_urlsafe(50)); print('VPP_TOKEN_KEY=' + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())" > .env
	@# So plain `manage.py` commands (vpp_sync, vpp_import_token...) talk to the simulator too.
	@printf 'VPP_SERVICE_URL=%s\nVPP_STORE_LOOKUP_URL=%s\n' '$(VPP_SERVICE_URL)' '$(VPP_STORE_LOOKUP_URL)' >> .env
	@echo "Wrote .env with a new SECRET_KEY and VPP_TOKEN_KEY (keep it: stored tokens need that key)."

# The simulator posts Apple's notifications to the local portal (a person is licensed seconds
# after accepting an invitation); only for `make run`, so tests keep notifications off.
run: export PUBLIC_URL ?= http://127.0.0.1:$(or $(WEB_PORT),8000)
run: $(STAMP) .env
	$(PY) manage.py portal_setup $(if $(ADMIN_EMAIL),--email '$(ADMIN_EMAIL)')
	$(VENV)/bin/honcho start -f Procfile.dev

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: $(STAMP) chromium lint
	$(PY) -m pytest

bench-simulator: $(STAMP)
	$(PY) tests/perf/bench_simulator_generate.py

bench-sync: $(STAMP)
	$(PY) tests/perf/bench_sync.py

bench-assign: $(STAMP)
	$(PY) tests/perf/bench_assign.py

bench-pages: $(STAMP)
	$(PY) tests/perf/bench_pages.py

bench-api-cursor: $(STAMP)
	$(PY) tests/perf/bench_api_cursor.py

clean-var:
	rm -rf var
