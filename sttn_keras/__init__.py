"""sttn-keras: Soft Threshold Ternary Networks for Keras 3, exported to TFLite.

``import sttn_keras`` imports nothing heavy: its submodules (``layers``,
``quantizers``, ``training``, ``export``, ...) and functions (``ternarize``,
``summary``) load on first use (PEP 562 lazy attributes), so that the
deployment runtime, ``sttn_keras.export.Interpreter``, imports neither Keras
nor TensorFlow, whether or not they are installed (it needs only numpy and
ai-edge-litert).

``keras.models.load_model`` still finds the registered sttn classes (layers,
quantizers) after a plain ``import sttn_keras``: they are registered when
Keras is imported, at once where it already is, else right after Keras's own
import completes, whenever that happens.

Example:

>>> import keras, sttn_keras as sttn
>>> layer = sttn.layers.TernaryDense(4)
>>> tuple(layer(keras.ops.ones((1, 8))).shape)
(1, 4)
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import threading
import types
import warnings
from typing import Any

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


def __getattr__(name: str) -> Any:
    if name in _FUNCTIONS:
        module = importlib.import_module(f".{_FUNCTIONS[name]}", __name__)
        return getattr(module, name)
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'sttn_keras' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(__all__)


# -- registration of the serialisable classes with Keras ----------------------
# The modules whose import registers sttn classes with keras.saving.
_REGISTERING = ("quantizers", "layers")


def _register_with_keras() -> None:
    for name in _REGISTERING:
        importlib.import_module(f".{name}", __name__)


class _RegisterAfterKeras(importlib.abc.MetaPathFinder):
    """Finds nothing itself: when ``keras`` is about to be imported, wraps
    its loader so that the sttn classes are registered once Keras's own
    import has completed. Removes itself from ``sys.meta_path`` on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def find_spec(
        self, fullname: str, path: Any = None, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "keras":
            return None
        with self._lock:
            if self not in sys.meta_path:
                return None
            sys.meta_path.remove(self)
        spec = None
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                break
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _RegisteringLoader(spec.loader)
        return spec


class _RegisteringLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        # Keras sees its own loader (importlib.resources and friends use it).
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        try:
            _register_with_keras()
        except Exception as e:  # Keras itself imported; say why sttn did not
            warnings.warn(
                f"sttn_keras could not register its Keras classes ({e!r}); "
                "import sttn_keras.layers to see the error.",
                RuntimeWarning,
                stacklevel=2,
            )


if sys.modules.get("keras") is not None:
    _register_with_keras()
elif not any(isinstance(f, _RegisterAfterKeras) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterAfterKeras())
