"""Deprecated alias of :mod:`sttn_keras.float_to_sttn` (renamed: "convert"
was a near-twin of ``export/converter.py``, which does another job).

Kept for one release: importing it warns (``DeprecationWarning``) and gives
the ``float_to_sttn`` module itself, so every name is the same object under
both names. ``sttn_keras.ternarize`` is unchanged.
"""

import sys

from sttn_keras import _warn_renamed_module

from . import float_to_sttn as _renamed

_warn_renamed_module(
    __name__, _renamed.__name__, " (sttn_keras.ternarize is unchanged)"
)
sys.modules[__name__] = _renamed
