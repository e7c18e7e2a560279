"""sttn-keras: Soft Threshold Ternary Networks for Keras 3, exported to TFLite.

Where Keras is installed, ``import sttn_keras`` imports the quantizers and
layers at once, so that ``keras.models.load_model`` finds the registered sttn
classes. Everything else is imported lazily, and without Keras nothing is:
``sttn_keras.export.Interpreter`` runs on a machine with only numpy and
ai-edge-litert installed (no Keras, no TensorFlow).

Example:

>>> import keras, sttn_keras as sttn
>>> layer = sttn.layers.TernaryDense(4)
>>> tuple(layer(keras.ops.ones((1, 8))).shape)
(1, 4)
"""

import importlib
import importlib.util

__version__ = "0.1.0"

_SUBMODULES = (
    "quantizers",
    "layers",
    "convert",
    "summary_lib",
    "models",
    "training",
    "datasets",
    "export",
)
_FUNCTIONS = {"ternarize": "convert", "summary": "summary_lib"}

__all__ = ["__version__", *_SUBMODULES, *_FUNCTIONS]


def __getattr__(name):
    if name in _FUNCTIONS:
        module = importlib.import_module(f".{_FUNCTIONS[name]}", __name__)
        return getattr(module, name)
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'sttn_keras' has no attribute '{name}'")


def __dir__():
    return sorted(__all__)


if importlib.util.find_spec("keras") is not None:
    # Registers the serialisable sttn classes (layers, quantizers) with Keras.
    from . import layers, quantizers  # noqa: E402,F401
