"""Export of STTN models to TFLite with native ternary custom ops.

The export side (``to_tflite``, folding) needs Keras and TensorFlow; the
runtime side (``Interpreter``) needs only numpy and ai-edge-litert, so both
are imported lazily.

Example:

>>> import sttn_keras as sttn
>>> data = sttn.export.to_tflite(model, "model.tflite")
>>> interp = sttn.export.Interpreter("model.tflite")
>>> probs = interp.predict(images)
>>> probs.shape
(4, 10)
"""

import importlib

_LAZY = {
    "to_tflite": "converter",
    "fold_model": "folding",
    "Interpreter": "runtime",
    "op_histogram": "inspect_model",
    "OP_FORMAT_VERSION": "op_format",
    "ExportError": "folding",
    "supported_kernels": "runtime",
    "OpProfile": "runtime",
    "UnsupportedRuntimeError": "runtime",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'sttn_keras.export' has no attribute '{name}'")


def __dir__():
    return sorted(__all__)
