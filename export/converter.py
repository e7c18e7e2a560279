"""Deprecated alias of :mod:`sttn_keras.export.keras_to_tflite` (renamed:
"converter" was a near-twin of ``sttn_keras/convert.py``, which does another
job).

Kept for one release: importing it warns (``DeprecationWarning``) and gives
the ``keras_to_tflite`` module itself, so every name, private ones included,
is the same object under both names. ``sttn_keras.export.to_tflite`` is
unchanged.
"""

import sys

from sttn_keras import _warn_renamed_module

from . import keras_to_tflite as _renamed

_warn_renamed_module(
    __name__, _renamed.__name__, " (sttn_keras.export.to_tflite is unchanged)"
)
sys.modules[__name__] = _renamed
