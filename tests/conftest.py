"""Shared pytest configuration.

Tests run on Keras's TensorFlow backend unless KERAS_BACKEND says otherwise;
`test_jax_backend.py` reruns the layer and quantizer tests under JAX.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
