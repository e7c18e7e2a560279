# The README's two commands are `make demo` and `make test`; both run
# `make setup` first. All targets are idempotent.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
NATIVE_SOURCES := $(wildcard export/core/*.h export/core/*.cc export/tflite/*.h export/tflite/*.cc export/host/*.h export/host/*.cc)

# Data sets: use the shared copies when they are beside the checkout
# (offline machines); otherwise keras.datasets downloads as usual.
ifneq ($(wildcard ../shared/data/fashion-mnist),)
export STTN_DATA_DIR ?= $(abspath ../shared/data)
endif
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONUNBUFFERED := 1

.PHONY: setup demo test test-fast bench accuracy clean

setup: $(VENV)/.installed

$(VENV)/.toolchain:
	@command -v g++ >/dev/null 2>&1 || { \
	  echo "g++ not found: installing it from Debian"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ make; }
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { \
	  echo "python3-venv not found: installing it from Debian"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-dev; }
	@{ command -v aarch64-linux-gnu-g++ >/dev/null 2>&1 && command -v qemu-aarch64-static >/dev/null 2>&1; } || { \
	  echo "aarch64 cross compiler / qemu-user not found: installing them from Debian (NEON kernel tests)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++-aarch64-linux-gnu qemu-user-static; }
	@mkdir -p $(VENV) && touch $@

$(VENV)/.deps: requirements-dev.txt $(VENV)/.toolchain
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

$(VENV)/.installed: $(VENV)/.deps setup.py pyproject.toml $(NATIVE_SOURCES)
	$(PY) -m pip install -q --no-build-isolation --no-deps -e .
	touch $@

demo: setup
	$(PY) -m sttn_keras.demo

test: setup
	$(PY) -m pytest -q -ra

# Everything but the tests that train on real data.
test-fast: setup
	$(PY) -m pytest -q -ra -m "not slow"

bench: setup
	$(PY) benchmarks/train_overhead.py
	$(PY) benchmarks/kernels.py
	$(PY) benchmarks/e2e.py

accuracy: setup
	$(PY) benchmarks/accuracy.py

clean:
	rm -rf $(VENV) build *.egg-info export/_sttn_ops*.so
