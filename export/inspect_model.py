"""Deprecated alias of :mod:`sttn_keras.export.inspect_tflite` (renamed: it
reads ``.tflite`` files, and "model" elsewhere means a Keras model).

Kept for one release: importing it warns (``DeprecationWarning``) and gives
the ``inspect_tflite`` module itself, so every name, private ones included,
is the same object under both names.
"""

import sys
import warnings

from . import inspect_tflite as _renamed

warnings.warn(
    "sttn_keras.export.inspect_model is deprecated and will be removed in the "
    "next release; use sttn_keras.export.inspect_tflite.",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = _renamed
