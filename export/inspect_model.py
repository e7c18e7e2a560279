"""Deprecated alias of :mod:`sttn_keras.export.inspect_tflite` (renamed: it
reads ``.tflite`` files, and "model" elsewhere means a Keras model).

Kept for one release: importing it warns (``DeprecationWarning``) and gives
the ``inspect_tflite`` module itself, so every name, private ones included,
is the same object under both names.
"""

import sys

from sttn_keras import _warn_renamed_module

from . import inspect_tflite as _renamed

_warn_renamed_module(__name__, _renamed.__name__)
sys.modules[__name__] = _renamed
