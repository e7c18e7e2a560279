"""Which TFLite runtime runs the sttn ops: ai-edge-litert or TensorFlow's tf.lite.

One choice, one name: the *runtime*. ``Interpreter(runtime=...)``, the
``STTN_RUNTIME`` environment variable and :func:`installed_runtime` take one
of :data:`RUNTIMES`:

* ``"litert"``: ``ai_edge_litert.interpreter``, in the supported range
  (``runtime_versions.LITERT_REQUIREMENT``; every release in it is tested);
* ``"tflite"``: TensorFlow's ``tf.lite`` interpreter (the host layer's
  layout probe decides at load time whether its layout is one it knows);
* ``"auto"`` (the default): ai-edge-litert where it is installed, else tf.lite.

The answer is a :class:`RuntimeInfo` (``name``, ``version``, the runtime's
``InterpreterWithCustomOps`` class); ``Interpreter.runtime`` holds the one in
use. Nothing is imported until a runtime is chosen, and TensorFlow only when
tf.lite is the one chosen.

Example:

>>> RUNTIMES
('auto', 'litert', 'tflite')
>>> installed_runtime("litert").name
'litert'
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import warnings
from dataclasses import dataclass
from typing import Any

from .runtime_versions import (
    LITERT_REQUIREMENT,
    TESTED_TENSORFLOW_VERSIONS,
    litert_version_supported,
)

__all__ = [
    "RUNTIMES",
    "RUNTIME_ENV",
    "RuntimeInfo",
    "UnsupportedRuntimeError",
    "installed_runtime",
]

#: The values of ``Interpreter(runtime=...)`` and of ``STTN_RUNTIME``.
RUNTIMES = ("auto", "litert", "tflite")
#: The environment variable read when no runtime is passed.
RUNTIME_ENV = "STTN_RUNTIME"


class UnsupportedRuntimeError(RuntimeError):
    """The installed TFLite runtime is not one the sttn host layer supports.

    Raised for an ai-edge-litert version outside ``LITERT_REQUIREMENT``, and
    for a runtime (of any version, tf.lite included) whose layout the host
    layer's probe does not recognise. The message names the installed runtime
    and version and the supported range.

    Example:

    >>> issubclass(UnsupportedRuntimeError, RuntimeError)
    True
    """


def deprecated(old: str, new: str) -> None:
    """Warns that ``old`` was renamed ``new`` (kept for one release)."""
    warnings.warn(
        f"{old} is deprecated and will be removed in the next release; use {new}.",
        DeprecationWarning,
        stacklevel=3,
    )


@dataclass(frozen=True)
class RuntimeInfo:
    """The TFLite runtime an ``Interpreter`` runs on.

    Attributes:
        name: ``"litert"`` (ai_edge_litert) or ``"tflite"`` (tf.lite).
        version: the installed version of that package.
        interpreter_class: its ``InterpreterWithCustomOps`` class.

    Example:

    >>> info = installed_runtime("litert")
    >>> info.name, info.description.startswith("ai-edge-litert ")
    ('litert', True)
    """

    name: str
    version: str
    interpreter_class: type

    @property
    def description(self) -> str:
        """E.g. ``"ai-edge-litert 2.3.0"`` or ``"tensorflow 2.21.0 (tf.lite)"``."""
        if self.name == "litert":
            return f"ai-edge-litert {self.version}"
        return f"tensorflow {self.version} (tf.lite)"

    @property
    def backend(self) -> str:
        """Deprecated name of :attr:`name`."""
        deprecated("RuntimeInfo.backend", "RuntimeInfo.name")
        return self.name


def _installed_litert_version(module: Any) -> str:
    """The version of the imported ``ai_edge_litert`` package."""
    version = getattr(module, "__version__", None)
    if isinstance(version, str) and version:
        return version
    try:
        return importlib.metadata.version("ai-edge-litert")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def supported_range_text() -> str:
    """The supported runtimes, in words, for error messages.

    Example:

    >>> supported_range_text().startswith("the sttn host layer supports ai-edge-litert")
    True
    """
    return (
        f"the sttn host layer supports {LITERT_REQUIREMENT} (or, without "
        "ai-edge-litert, TensorFlow's tf.lite where its layout probe passes; "
        f"tested: TensorFlow {', '.join(TESTED_TENSORFLOW_VERSIONS)})"
    )


def _requested_runtime(runtime: str | None) -> str:
    if runtime is None:
        requested = os.environ.get(RUNTIME_ENV, "").strip() or "auto"
        if requested not in RUNTIMES:
            raise ValueError(
                f"Received an invalid value for the {RUNTIME_ENV} environment "
                f"variable, expected one of {list(RUNTIMES)}. "
                f"Received: {RUNTIME_ENV}={requested!r}"
            )
        return requested
    if runtime not in RUNTIMES:
        raise ValueError(
            "Received an invalid value for `runtime`, expected one of "
            f"{list(RUNTIMES)}. Received: runtime={runtime!r}"
        )
    return runtime


def _litert_runtime() -> RuntimeInfo:
    import ai_edge_litert
    from ai_edge_litert import interpreter as litert

    version = _installed_litert_version(ai_edge_litert)
    if not litert_version_supported(version):
        raise UnsupportedRuntimeError(
            f"ai-edge-litert {version} is installed, but {supported_range_text()}. "
            f"Install a supported version: pip install '{LITERT_REQUIREMENT}'."
        )
    return RuntimeInfo("litert", version, litert.InterpreterWithCustomOps)


def _tflite_runtime() -> RuntimeInfo:
    import tensorflow as tf

    # tf.lite exports Interpreter only; InterpreterWithCustomOps (the same
    # class as ai_edge_litert's) lives beside it in the module that defines
    # tf.lite.Interpreter.
    module = importlib.import_module(tf.lite.Interpreter.__module__)
    cls = getattr(module, "InterpreterWithCustomOps", None)
    if cls is None:
        raise UnsupportedRuntimeError(
            f"TensorFlow {tf.__version__}'s tf.lite offers no "
            f"InterpreterWithCustomOps to register the sttn ops into; "
            f"{supported_range_text()}. Install pip install '{LITERT_REQUIREMENT}'."
        )
    return RuntimeInfo("tflite", str(tf.__version__), cls)


def installed_runtime(
    runtime: str | None = None, *, backend: str | None = None
) -> RuntimeInfo:
    """The TFLite runtime ``Interpreter(runtime=runtime)`` would run on.

    Args:
        runtime: ``"litert"``, ``"tflite"`` or ``"auto"``; ``None`` reads the
            ``STTN_RUNTIME`` environment variable (default ``"auto"``: the
            installed ai-edge-litert, else TensorFlow's tf.lite).
        backend: deprecated name of ``runtime``.

    Returns:
        A :class:`RuntimeInfo` (name, version, interpreter class).

    Raises:
        ValueError: ``runtime`` (or ``STTN_RUNTIME``) is not one of ``RUNTIMES``.
        ImportError: the requested runtime is not installed (for ``"auto"``:
            neither ai-edge-litert nor TensorFlow is).
        UnsupportedRuntimeError: ai-edge-litert is installed in a version
            outside ``LITERT_REQUIREMENT``.

    Example:

    >>> info = installed_runtime("litert")
    >>> info.name, litert_version_supported(info.version)
    ('litert', True)
    """
    if backend is not None:
        deprecated("installed_runtime(backend=...)", "installed_runtime(runtime=...)")
        runtime = backend if runtime is None else runtime
    requested = _requested_runtime(runtime)
    if requested in ("auto", "litert"):
        if importlib.util.find_spec("ai_edge_litert") is not None:
            return _litert_runtime()
        if requested == "litert":
            raise ImportError(
                f"{RUNTIME_ENV}/runtime asks for ai-edge-litert, which is not "
                f"installed: pip install '{LITERT_REQUIREMENT}'."
            )
    if importlib.util.find_spec("tensorflow") is not None:
        return _tflite_runtime()
    if requested == "tflite":
        raise ImportError(
            f"{RUNTIME_ENV}/runtime asks for TensorFlow's tf.lite, but "
            "TensorFlow is not installed."
        )
    raise ImportError(
        "No TFLite runtime is installed (neither ai-edge-litert nor "
        f"TensorFlow): pip install '{LITERT_REQUIREMENT}'."
    )
