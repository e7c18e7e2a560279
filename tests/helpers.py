"""Small helpers shared by the export tests."""

import numpy as np


def random_input(model, batch=4, seed=0):
    """A float32 normal batch shaped like ``model``'s input (fold checks)."""
    shape = [batch if d is None else int(d) for d in model.inputs[0].shape]
    return np.random.default_rng(seed).normal(size=shape).astype("float32")
