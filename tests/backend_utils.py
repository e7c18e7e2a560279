"""Backend-agnostic gradient helper for the tests (TensorFlow or JAX)."""

import keras
import numpy as np


def value_and_grads(fn, *args):
    """Returns ``(fn(*args), [d fn / d arg for arg in args])`` as numpy."""
    backend = keras.backend.backend()
    args = [np.asarray(a, dtype="float32") for a in args]
    if backend == "tensorflow":
        import tensorflow as tf

        tensors = [tf.convert_to_tensor(a) for a in args]
        with tf.GradientTape() as tape:
            for t in tensors:
                tape.watch(t)
            y = fn(*tensors)
        grads = tape.gradient(y, tensors)
        return np.asarray(y), [np.asarray(g) for g in grads]
    if backend == "jax":
        import jax

        y, grads = jax.value_and_grad(fn, argnums=tuple(range(len(args))))(*args)
        return np.asarray(y), [np.asarray(g) for g in grads]
    raise RuntimeError(f"No gradient helper for backend {backend!r}")
