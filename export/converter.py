"""Deprecated alias of :mod:`sttn_keras.export.keras_to_tflite` (renamed:
"converter" was a near-twin of ``sttn_keras/convert.py``, which does another
job).

Kept for one release: importing it warns (``DeprecationWarning``) and gives
the ``keras_to_tflite`` module itself, so every name, private ones included,
is the same object under both names. ``sttn_keras.export.to_tflite`` is
unchanged.
"""

import sys
import warnings

from . import keras_to_tflite as _renamed

warnings.warn(
    "sttn_keras.export.converter is deprecated and will be removed in the next "
    "release; use sttn_keras.export.keras_to_tflite (sttn_keras.export.to_tflite "
    "is unchanged).",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = _renamed
