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
