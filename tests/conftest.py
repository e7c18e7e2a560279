"""Shared pytest configuration.

Tests run on Keras's TensorFlow backend unless KERAS_BACKEND says otherwise;
`test_jax_backend.py` reruns the layer and quantizer tests under JAX.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


# ---------------------------------------------------------------------------
# Numerics switches of the numerics matrix (tests/numerics_matrix.py, `make
# test-numerics`): the same tests under other float rounding on one machine.
#   STTN_TEST_KERNEL=reference|portable|avx2|...  Interpreter's default kernel
#       (tests that name a kernel keep theirs): the float-input kernels sum in
#       another order than the reference.
#   STTN_TEST_JIT_COMPILE=0|1  Keras Model.compile's default jit_compile
#       (XLA or not for training and predict; tests that pass it keep theirs).
# TF_ENABLE_ONEDNN_OPTS=0|1 (oneDNN's fused kernels) is read by TensorFlow.
_KERNEL = os.environ.get("STTN_TEST_KERNEL")
_JIT = os.environ.get("STTN_TEST_JIT_COMPILE")


def pytest_configure(config):
    if _KERNEL:
        from sttn_keras.export import runtime

        init = runtime.Interpreter.__init__
        defaults = list(init.__defaults__)
        # (num_threads, kernel, backend)
        defaults[1] = _KERNEL
        init.__defaults__ = tuple(defaults)
    if _JIT is not None:
        import functools

        import keras

        compile_ = keras.Model.compile
        if not getattr(compile_, "_sttn_numerics", False):

            @functools.wraps(compile_)
            def compile_with_jit(self, *args, **kwargs):
                kwargs.setdefault("jit_compile", _JIT == "1")
                return compile_(self, *args, **kwargs)

            compile_with_jit._sttn_numerics = True
            keras.Model.compile = compile_with_jit


# ---------------------------------------------------------------------------
# Order of the test files: the heaviest first. `make test` runs two xdist
# workers with --dist loadfile --no-loadscope-reorder, which hands out whole
# files in collection order; xdist's default order (most tests first) left
# the one-test files that run for minutes (the accuracy benchmark, the JAX
# rerun) to the end, where one worker ran them while the other sat idle.
# Longest first keeps both busy to the end. Only the order changes: every
# file still runs, its tests in their own order. The list is by measured
# cost (seconds of one worker, the slowest first, `make test` on the 2-core
# machine, 2026-12-03; README "What `make test` costs"); files not listed
# follow in their usual order. test_export_size.py trains the shared
# Fashion-MNIST model (tests/trained_models.py) early; test_fmnist_e2e.py,
# later, loads it instead of waiting for it.
HEAVY_FIRST = (
    "test_applications.py",
    "test_export_size.py",
    "test_recalibration_fmnist.py",
    "test_recalibration.py",
    "test_core_cc.py",
    "test_accuracy_bench.py",
    "test_export.py",
    "test_imagenet_script.py",
    "test_training.py",
    "test_android.py",
    "test_docstring_examples.py",
    "test_tfmot.py",
    "test_fmnist_e2e.py",
    "test_jax_backend.py",
    "test_models.py",
    "test_bazel.py",
    "test_kernels.py",
    # Its libFuzzer build went from about 130 s to 25 s (the table kernels at
    # -O0, tests/fuzz/libfuzzer.py).
    "test_fuzz.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable
