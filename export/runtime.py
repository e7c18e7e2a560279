"""Deployment runtime: runs exported sttn ``.tflite`` models with the native
ternary kernels inside ai-edge-litert (or, without it, TensorFlow's tf.lite).

This module gathers the runtime's public names from the three modules that
hold them, so that ``sttn_keras.export.runtime`` keeps working as before:

* :mod:`.native_library`: the native kernel library loaded through ctypes
  (``registered_ops``, ``supported_kernels``, ``optimized_kernel``,
  ``OpProfile``, ``native_library_info``);
* :mod:`.runtime_choice`: which TFLite runtime runs them (``RUNTIMES``,
  ``installed_runtime``, ``RuntimeInfo``, ``UnsupportedRuntimeError``):
  ai-edge-litert in the supported range (``LITERT_REQUIREMENT``), or
  TensorFlow's tf.lite where ai-edge-litert is not installed;
* :mod:`.interpreter`: the ``Interpreter``.

Imports only numpy and ctypes at module level, and the TFLite runtime when an
``Interpreter`` is created: a deployment environment needs only numpy,
ai-edge-litert and this package (no Keras, no TensorFlow, and neither is
imported where they are installed).

Example:

>>> from sttn_keras.export.runtime import Interpreter
>>> interp = Interpreter("model.tflite")
>>> probs = interp.predict(images, batch_size=256)
>>> probs.shape, interp.kernel, interp.runtime.name
((4, 10), 'optimized', 'litert')
"""

from __future__ import annotations

from typing import Any

from .interpreter import Interpreter
from .native_library import (
    KERNELS,
    OpProfile,
    native_library_info,
    optimized_kernel,
    registered_ops,
    supported_kernels,
)
from .op_format import OP_FORMAT_VERSION
from .runtime_choice import (
    RUNTIME_ENV,
    RUNTIMES,
    RuntimeInfo,
    UnsupportedRuntimeError,
    deprecated,
    installed_runtime,
)
from .runtime_versions import LITERT_REQUIREMENT

__all__ = [
    "KERNELS",
    "Interpreter",
    "LITERT_REQUIREMENT",
    "OP_FORMAT_VERSION",
    "OpProfile",
    "RUNTIMES",
    "RUNTIME_ENV",
    "RuntimeInfo",
    "UnsupportedRuntimeError",
    "installed_runtime",
    "native_library_info",
    "optimized_kernel",
    "registered_ops",
    "supported_kernels",
]

# Renamed names, kept for one release.
_DEPRECATED = {"BACKENDS": ("RUNTIMES", RUNTIMES)}


def __getattr__(name: str) -> Any:
    if name in _DEPRECATED:
        new, value = _DEPRECATED[name]
        deprecated(f"sttn_keras.export.runtime.{name}", f"runtime.{new}")
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
