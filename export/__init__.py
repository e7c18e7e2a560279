"""Export of STTN models to TFLite with native ternary custom ops.

The export side (``to_tflite``, folding) needs Keras and TensorFlow; the
runtime side (``Interpreter``, ``runtime``, ``inspect_tflite``, ``op_format``,
``sttn-benchmark``) needs only numpy and ai-edge-litert and imports neither
Keras nor TensorFlow, even where they are installed. Every name here is a
lazy attribute (PEP 562): ``import sttn_keras.export`` imports nothing, and
each name imports its module on first use.

Example:

>>> import sttn_keras as sttn
>>> data = sttn.export.to_tflite(model, "model.tflite")
>>> interp = sttn.export.Interpreter("model.tflite")
>>> probs = interp.predict(images)
>>> probs.shape
(4, 10)
"""

import importlib
import importlib.util
import pkgutil
from typing import Any

from sttn_keras import _warn_renamed_module

_LAZY = {
    "to_tflite": "keras_to_tflite",
    "fold_model": "folding",
    "Interpreter": "interpreter",
    "op_histogram": "inspect_tflite",
    "OP_FORMAT_VERSION": "op_format",
    "ExportError": "errors",
    "supported_kernels": "native_library",
    "OpProfile": "native_library",
    "UnsupportedRuntimeError": "runtime_choice",
}

__all__ = sorted(_LAZY)

# Renamed modules, kept for one release: {old name: new name}. Reading
# ``sttn_keras.export.converter`` warns (DeprecationWarning) and gives the
# new module; so does ``import sttn_keras.export.converter`` (its file).
_RENAMED = {"converter": "keras_to_tflite", "inspect_model": "inspect_tflite"}


def _submodules() -> list[str]:
    return [
        m.name
        for m in pkgutil.iter_modules(__path__)
        if not m.name.startswith("_") and m.name not in _RENAMED
    ]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    if name in _RENAMED:
        new = f"{__name__}.{_RENAMED[name]}"
        _warn_renamed_module(f"{__name__}.{name}", new)
        # Cached, so that ``from ... import old`` (which reads the name
        # twice) warns once.
        module = globals()[name] = importlib.import_module(new)
        return module
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}"):
        return importlib.import_module(f".{name}", __name__)  # e.g. .runtime
    raise AttributeError(f"module 'sttn_keras.export' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(set(__all__) | set(_submodules()))
