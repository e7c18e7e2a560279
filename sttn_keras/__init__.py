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
import importlib.util
import sys
import types
import warnings
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = (
    "quantizers",
    "layers",
    "float_to_sttn",
    "summary_lib",
    "models",
    "training",
    "distillation",
    "recipe",
    "recalibration",
    "datasets",
    "export",
)
_FUNCTIONS = {"ternarize": "float_to_sttn", "summary": "summary_lib"}
# Renamed submodules, kept for one release: {old name: new name}. Reading
# ``sttn_keras.convert`` warns (DeprecationWarning) and gives the new module.
_RENAMED = {"convert": "float_to_sttn"}

__all__ = ["__version__", *_SUBMODULES, *_FUNCTIONS]


def __getattr__(name: str) -> Any:
    if name in _FUNCTIONS:
        module = importlib.import_module(f".{_FUNCTIONS[name]}", __name__)
        return getattr(module, name)
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _RENAMED:
        new = f"{__name__}.{_RENAMED[name]}"
        _warn_renamed_module(f"{__name__}.{name}", new)
        # Cached, so that ``from ... import old`` (which reads the name
        # twice) warns once.
        module = globals()[name] = importlib.import_module(new)
        return module
    raise AttributeError(f"module 'sttn_keras' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(__all__)


def _warn_renamed_module(old: str, new: str, note: str = "") -> None:
    """Warns (``DeprecationWarning``) that module ``old`` is now ``new``.

    The warning points at the user's line that reached ``old`` (``import``,
    ``from ... import`` or an attribute read): the frames of the import
    system, of these packages' ``__getattr__`` and import hooks, and of the
    alias module ``old`` itself are skipped. (``stacklevel`` cannot do this:
    how many such frames there are depends on the route.)
    """
    machinery = {"sttn_keras", "sttn_keras.export", old}
    frame = sys._getframe(1)
    while frame.f_back is not None:
        module = frame.f_globals.get("__name__", "")
        if module not in machinery and not module.startswith("importlib"):
            break
        frame = frame.f_back
    warnings.warn_explicit(
        f"{old} is deprecated and will be removed in the next release; use "
        f"{new}{note}.",
        DeprecationWarning,
        frame.f_code.co_filename,
        frame.f_lineno,
        module=frame.f_globals.get("__name__", "<string>"),
        registry=frame.f_globals.setdefault("__warningregistry__", {}),
    )


# -- registration of the serialisable classes with Keras ----------------------
# The modules whose import registers sttn classes with keras.saving.
_REGISTERING = ("quantizers", "layers")
_registered = False


def _register_with_keras() -> None:
    global _registered
    _registered = True
    for name in _REGISTERING:
        importlib.import_module(f".{name}", __name__)


def _initializing(name: str) -> bool:
    spec = getattr(sys.modules.get(name), "__spec__", None)
    return bool(getattr(spec, "_initializing", False))


def _register_when_ready(just_loaded: str) -> None:
    """Registers once Keras is imported and no sttn_keras module is halfway
    through its own import (``import sttn_keras.quantizers`` imports Keras
    from inside itself: registering then would import ``layers`` against a
    half-made ``quantizers``). ``just_loaded`` has finished executing."""
    if _registered or sys.modules.get("keras") is None:
        return
    if any(
        name != just_loaded and name.startswith(f"{__name__}.") and _initializing(name)
        for name in list(sys.modules)
    ):
        return  # the last of them to finish registers
    for finder in [f for f in sys.meta_path if isinstance(f, _RegisterAfterKeras)]:
        sys.meta_path.remove(finder)
    try:
        _register_with_keras()
    except Exception as e:  # Keras itself imported; say why sttn did not
        warnings.warn(
            f"sttn_keras could not register its Keras classes ({e!r}); "
            "import sttn_keras.layers to see the error.",
            RuntimeWarning,
            stacklevel=2,
        )


class _RegisterAfterKeras(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the loaders of ``keras`` and of the
    sttn_keras submodules imported before the sttn classes are registered,
    so that they are registered as soon as Keras's import, and any sttn
    module import it happened inside, has completed. Removes itself then."""

    def find_spec(
        self, fullname: str, path: Any = None, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if _registered or not (
            fullname == "keras" or fullname.startswith(f"{__name__}.")
        ):
            return None
        spec = None
        for finder in [f for f in sys.meta_path if f is not self]:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                break
        if spec is not None and spec.loader is not None:
            spec.loader = _RegisteringLoader(spec.loader)
        return spec


class _RegisteringLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        return self._loader.create_module(spec)

    def __getattr__(self, name: str) -> Any:
        # The wrapped loader's other methods (get_code for ``python -m``,
        # get_source, is_package, get_filename, get_resource_reader, ...).
        return getattr(self._loader, name)

    def exec_module(self, module: types.ModuleType) -> None:
        # The module sees its own loader (importlib.resources and friends use it).
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        _register_when_ready(module.__name__)


if sys.modules.get("keras") is not None:
    _register_with_keras()
elif importlib.util.find_spec("keras") is not None and not any(
    isinstance(f, _RegisterAfterKeras) for f in sys.meta_path
):
    sys.meta_path.insert(0, _RegisterAfterKeras())
