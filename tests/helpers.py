"""Small helpers shared by the tests (inputs and affines that keep float32 exact)."""

import numpy as np


def random_input(model, batch=4, seed=0):
    """A float32 normal batch shaped like ``model``'s input (fold checks)."""
    shape = [batch if d is None else int(d) for d in model.inputs[0].shape]
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def dyadic_affine(rng, n):
    """A per-channel (scale, bias) of signed powers of two and eighths, so
    that scale * acc + bias is exact in float32 (bit-exact comparisons)."""
    scale = (rng.choice([-1.0, 1.0], n) * 2.0 ** rng.integers(-3, 3, n)).astype(
        np.float32
    )
    bias = (rng.integers(-16, 16, n) / 8.0).astype(np.float32)
    return scale, bias


def exact_floats(rng, shape):
    """Quarters in [-2, 2]: their products with trits sum exactly in float32."""
    return (rng.integers(-8, 9, shape) / 4.0).astype(np.float32)
