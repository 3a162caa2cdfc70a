# Sunlight: `make demo` and `make test` set everything up from nothing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean venv sysdeps

venv: $(STAMP)

# The track's bit coder is compiled (detectors/_trackcode.pyx): a C compiler is needed, and
# is installed from Debian when missing and we are root. Editing the .pyx rebuilds.
$(STAMP): pyproject.toml setup.py detectors/_trackcode.pyx
	@command -v cc >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	  --no-install-recommends gcc libc6-dev >/dev/null; } || echo "warning: no C compiler"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/sunlight demo

# Debian packages the tests use: Chromium (dashboard browser test), CJK fonts (readable
# screenshots), promtool and amtool (checks of the Prometheus and Alertmanager configs),
# stunnel4 and openssl (Kafka and Redis over TLS, with a CA made by the test). Without them
# those tests fail: they never skip.
SYSDEPS := chromium fonts-noto-cjk prometheus prometheus-alertmanager stunnel4 openssl

sysdeps:
	@if [ -x /usr/bin/chromium ] && command -v promtool >/dev/null && command -v amtool >/dev/null \
	  && command -v stunnel4 >/dev/null && command -v openssl >/dev/null; then \
	  echo "system packages: present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends $(SYSDEPS) >/dev/null; \
	else \
	  echo "warning: not root; install $(SYSDEPS): the browser, promtool and TLS tests need them"; \
	fi

test: $(STAMP) sysdeps
	$(VENV)/bin/ruff check detectors streams sinks tests
	$(VENV)/bin/mypy --strict detectors
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check detectors streams sinks tests
	$(VENV)/bin/mypy --strict detectors

bench: $(STAMP)
	mkdir -p bench-results
	$(VENV)/bin/sunlight bench --out bench-results/latest.json

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
