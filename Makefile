# The two commands a user needs: `make demo` and `make test`. `make install` is their shared first step.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
APT_STAMP := $(VENV)/.apt-installed
# Debian packages the tests run as peers: tshark (decoding), nft and nginx (rule checks),
# chromium (the report seen in a real browser), goaccess (benchmark peer), ipset (rule checks).
APT_PACKAGES := tshark nftables nginx-light chromium goaccess ipset

.PHONY: install install-test apt demo test bench lint clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml src/surgescope/sources/_clfscan.c src/surgescope/sources/_pcapwalk.c src/surgescope/sources/_framedecode.c | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

install: $(STAMP)

$(TEST_STAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install-test: $(TEST_STAMP)

$(APT_STAMP): Makefile | $(BIN)/python
	@if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi; \
	else echo "not root or no apt-get: tests needing $(APT_PACKAGES) will fail if they are missing"; fi
	touch $@

apt: $(APT_STAMP)

demo: install
	$(BIN)/surgescope demo --out demo-out

test: install-test apt
	$(BIN)/python -m pytest -n 2 -q

bench: install-test apt
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lint: install-test
	$(BIN)/ruff check src tests bench

clean:
	rm -rf $(VENV) demo-out bench/out
