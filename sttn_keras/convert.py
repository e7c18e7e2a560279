"""Deprecated alias of :mod:`sttn_keras.float_to_sttn` (renamed: "convert"
was a near-twin of ``export/converter.py``, which does another job).

Kept for one release: importing it warns (``DeprecationWarning``) and gives
the ``float_to_sttn`` module itself, so every name is the same object under
both names. ``sttn_keras.ternarize`` is unchanged.
"""

import sys
import warnings

from . import float_to_sttn as _renamed

warnings.warn(
    "sttn_keras.convert is deprecated and will be removed in the next release; "
    "use sttn_keras.float_to_sttn (sttn_keras.ternarize is unchanged).",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = _renamed
