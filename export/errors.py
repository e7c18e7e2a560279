"""The one error the export raises: :class:`ExportError`.

Its own module because both halves of the export raise it:
:mod:`.folding` (a layer the ops cannot express) and :mod:`.keras_to_tflite`
(the TFLite converter failed, or its result does not match the model). It
imports nothing, so either can import it without importing the other.
"""

from __future__ import annotations

__all__ = ["ExportError"]


class ExportError(ValueError):
    """A model (or one of its layers) cannot be exported to sttn ops.

    Example:

    >>> import sttn_keras as sttn
    >>> float_model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> try:
    ...     sttn.export.to_tflite(float_model)
    ... except ExportError as e:
    ...     print(str(e).split(":")[0])
    Model 'sequential...' has no sttn ternary layer
    """
