"""Deployment runtime: runs exported sttn ``.tflite`` models with the native
ternary kernels inside ai-edge-litert (or, without it, TensorFlow's tf.lite).

Imports only numpy and ctypes at module level, and the TFLite runtime when an
``Interpreter`` is created: ai-edge-litert in the supported range
(``runtime_versions.LITERT_REQUIREMENT``, ``>=1.1.1,<2.4``; every release in it
is tested), or, where ai-edge-litert is not installed but TensorFlow is,
``tf.lite``'s interpreter. A deployment environment needs only numpy,
ai-edge-litert and this package (no Keras, no TensorFlow).

The kernels live in ``_sttn_ops*.so`` next to this file (built from
``export/core``, ``export/tflite``, ``export/host``). They are registered into
the interpreter's op resolver through ``InterpreterWithCustomOps``; the host
layer probes the runtime's layout, verifies the registration through the
runtime's own lookup, and any failure surfaces here as a ``RuntimeError``
(``UnsupportedRuntimeError`` when the runtime is not one the host layer
supports), never as a crash.

Example:

>>> from sttn_keras.export.runtime import Interpreter
>>> interp = Interpreter("model.tflite")
>>> probs = interp.predict(images, batch_size=256)
>>> probs.shape, interp.kernel_path, interp.backend
((4, 10), 'optimized', 'litert')
"""

from __future__ import annotations

import ctypes
import glob
import importlib
import importlib.metadata
import importlib.util
import os
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from .inspect_model import read_tflite_bytes
from .op_format import OP_FORMAT_VERSION
from .runtime_versions import (
    LITERT_REQUIREMENT,
    TESTED_TENSORFLOW_VERSIONS,
    litert_version_supported,
)

__all__ = [
    "BACKENDS",
    "Interpreter",
    "LITERT_REQUIREMENT",
    "OP_FORMAT_VERSION",
    "RuntimeInfo",
    "UnsupportedRuntimeError",
    "installed_runtime",
    "native_library_info",
    "registered_ops",
]

# Interpreter(backend=...) and the STTN_RUNTIME environment variable: "litert"
# (ai_edge_litert.interpreter), "tflite" (TensorFlow's tf.lite), or "auto"
# (the default: ai-edge-litert where it is installed, else tf.lite).
BACKENDS = ("auto", "litert", "tflite")
_BACKEND_ENV = "STTN_RUNTIME"
# What the host layer's per-Prepare layout check reports (host_registration.cc).
_LAYOUT_MISMATCH_MARKER = "layout does not match the sttn host layer"


# sttn::tflite::KernelType: reference, the best path, and one per ISA path.
_KERNEL_TYPES = {
    "reference": 0,
    "optimized": 1,
    "portable": 2,
    "popcnt": 3,
    "avx2": 4,
    "avx512": 5,
    "neon": 6,
}
_ERROR_BUFFER_SIZE = 1024
# sttn_host_register's return codes (host_registration.cc): 2, the runtime's
# op resolver failed the layout probe; 3, the runtime's own FindOp did not
# return our registrations. Both mean an unrecognised runtime layout.
_HOST_PROBE_FAILED = 2
_HOST_VERIFICATION_FAILED = 3

_lib: ctypes.CDLL | None = None
_lib_lock = threading.Lock()


def _library_path() -> str:
    override = os.environ.get("STTN_OPS_LIBRARY")
    if override:  # e.g. a sanitizer build of the same sources
        return override
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = sorted(glob.glob(os.path.join(here, "_sttn_ops*.so")))
    if not candidates:
        raise RuntimeError(
            "The sttn native kernel library (_sttn_ops*.so) was not found next "
            f"to {__file__}. Build it with `pip install -e .` (or `make setup`)."
        )
    return candidates[0]


def _library() -> ctypes.CDLL:
    global _lib
    with _lib_lock:
        if _lib is None:
            lib = ctypes.CDLL(_library_path())
            lib.sttn_tflite_num_ops.restype = ctypes.c_int
            lib.sttn_tflite_num_ops.argtypes = []
            lib.sttn_tflite_op_name.restype = ctypes.c_char_p
            lib.sttn_tflite_op_name.argtypes = [ctypes.c_int]
            lib.sttn_op_format_version.restype = ctypes.c_int
            lib.sttn_op_format_version.argtypes = []
            lib.sttn_optimized_popcount_path.restype = ctypes.c_char_p
            lib.sttn_optimized_popcount_path.argtypes = []
            lib.sttn_kernel_type_supported.restype = ctypes.c_int
            lib.sttn_kernel_type_supported.argtypes = [ctypes.c_int]
            lib.sttn_profile_enable.restype = None
            lib.sttn_profile_enable.argtypes = [ctypes.c_int]
            lib.sttn_profile_reset.restype = None
            lib.sttn_profile_reset.argtypes = []
            lib.sttn_profile_read.restype = ctypes.c_int
            lib.sttn_profile_read.argtypes = [
                ctypes.c_int,
                ctypes.POINTER(ctypes.c_longlong),
                ctypes.POINTER(ctypes.c_longlong),
            ]
            lib.sttn_host_register.restype = ctypes.c_int
            lib.sttn_host_register.argtypes = [
                ctypes.c_size_t,
                ctypes.c_int,
                ctypes.c_char_p,
                ctypes.c_size_t,
            ]
            lib.sttn_host_lookup.restype = ctypes.c_int
            lib.sttn_host_lookup.argtypes = [ctypes.c_size_t, ctypes.c_char_p]
            version = lib.sttn_op_format_version()
            if version != OP_FORMAT_VERSION:
                raise RuntimeError(
                    f"The native kernels implement op format version {version}, "
                    f"this runtime expects {OP_FORMAT_VERSION}: rebuild the "
                    "library (`pip install -e .`)."
                )
            _lib = lib
        return _lib


def registered_ops() -> tuple[str, ...]:
    """Names of the custom ops the native library registers.

    Returns:
        Tuple of custom op names, e.g. ``("SttnTernarize", "SttnConv2D", ...)``.

    Example:

    >>> "SttnConv2D" in registered_ops()
    True
    """
    lib = _library()
    return tuple(
        lib.sttn_tflite_op_name(i).decode() for i in range(lib.sttn_tflite_num_ops())
    )


def supported_kernels() -> tuple[str, ...]:
    """Kernel types this CPU and build can run, for ``Interpreter(kernel=...)``.

    ``"reference"`` and ``"optimized"`` (the fastest ISA path here) always;
    then each ISA path the CPU supports: ``"portable"``, ``"popcnt"``,
    ``"avx2"``, ``"avx512"`` (x86-64), ``"neon"`` (aarch64).

    Example:

    >>> {"reference", "optimized", "portable"} <= set(supported_kernels())
    True
    """
    lib = _library()
    return tuple(
        k for k, i in _KERNEL_TYPES.items() if lib.sttn_kernel_type_supported(i)
    )


class OpProfile:
    """Wall time spent in each sttn op while the context is active.

    Counters are process-wide: every interpreter's sttn ops add to them.

    Example:

    >>> interp = Interpreter("model.tflite")
    >>> with OpProfile() as prof:
    ...     _ = interp.predict(x)
    >>> prof.results()["SttnConv2D"]["invocations"]
    2
    """

    def __enter__(self) -> OpProfile:
        lib = _library()
        lib.sttn_profile_reset()
        lib.sttn_profile_enable(1)
        self._results: dict[str, dict[str, float]] = {}
        return self

    def __exit__(self, *exc) -> None:
        lib = _library()
        lib.sttn_profile_enable(0)
        count, ns = ctypes.c_longlong(), ctypes.c_longlong()
        for i, name in enumerate(registered_ops()):
            lib.sttn_profile_read(i, ctypes.byref(count), ctypes.byref(ns))
            if count.value:
                self._results[name] = {
                    "invocations": int(count.value),
                    "ms": ns.value / 1e6,
                }

    def results(self) -> dict[str, dict[str, float]]:
        """``{op name: {"invocations": n, "ms": total milliseconds}}``."""
        return dict(self._results)


def native_library_info() -> dict[str, Any]:
    """Facts about the loaded native library (path, op format, popcount path).

    Example:

    >>> native_library_info()["op_format_version"] == OP_FORMAT_VERSION
    True
    """
    lib = _library()
    return {
        "path": _library_path(),
        "op_format_version": lib.sttn_op_format_version(),
        "ops": registered_ops(),
        "optimized_popcount": lib.sttn_optimized_popcount_path().decode(),
        "supported_kernels": supported_kernels(),
    }


# -- the TFLite runtime ----------------------------------------------------------


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


@dataclass(frozen=True)
class RuntimeInfo:
    """The TFLite runtime an ``Interpreter`` runs on.

    Attributes:
        backend: ``"litert"`` (ai_edge_litert) or ``"tflite"`` (tf.lite).
        version: the installed version of that package.
        interpreter_class: its ``InterpreterWithCustomOps`` class.

    Example:

    >>> installed_runtime("litert").description.startswith("ai-edge-litert ")
    True
    """

    backend: str
    version: str
    interpreter_class: type

    @property
    def description(self) -> str:
        """E.g. ``"ai-edge-litert 2.3.0"`` or ``"tensorflow 2.21.0 (tf.lite)"``."""
        if self.backend == "litert":
            return f"ai-edge-litert {self.version}"
        return f"tensorflow {self.version} (tf.lite)"


def _installed_litert_version(module: Any) -> str:
    """The version of the imported ``ai_edge_litert`` package."""
    version = getattr(module, "__version__", None)
    if isinstance(version, str) and version:
        return version
    try:
        return importlib.metadata.version("ai-edge-litert")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _supported_range_text() -> str:
    return (
        f"the sttn host layer supports {LITERT_REQUIREMENT} (or, without "
        "ai-edge-litert, TensorFlow's tf.lite where its layout probe passes; "
        f"tested: TensorFlow {', '.join(TESTED_TENSORFLOW_VERSIONS)})"
    )


def _requested_backend(backend: str | None) -> str:
    if backend is None:
        requested = os.environ.get(_BACKEND_ENV, "").strip() or "auto"
        if requested not in BACKENDS:
            raise ValueError(
                f"Received an invalid value for the {_BACKEND_ENV} environment "
                f"variable, expected one of {list(BACKENDS)}. "
                f"Received: {_BACKEND_ENV}={requested!r}"
            )
        return requested
    if backend not in BACKENDS:
        raise ValueError(
            "Received an invalid value for `backend`, expected one of "
            f"{list(BACKENDS)}. Received: backend={backend!r}"
        )
    return backend


def _litert_runtime() -> RuntimeInfo:
    import ai_edge_litert
    from ai_edge_litert import interpreter as litert_interpreter

    version = _installed_litert_version(ai_edge_litert)
    if not litert_version_supported(version):
        raise UnsupportedRuntimeError(
            f"ai-edge-litert {version} is installed, but {_supported_range_text()}. "
            f"Install a supported version: pip install '{LITERT_REQUIREMENT}'."
        )
    return RuntimeInfo("litert", version, litert_interpreter.InterpreterWithCustomOps)


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
            f"{_supported_range_text()}. Install pip install '{LITERT_REQUIREMENT}'."
        )
    return RuntimeInfo("tflite", str(tf.__version__), cls)


def installed_runtime(backend: str | None = None) -> RuntimeInfo:
    """The TFLite runtime ``Interpreter(backend=backend)`` would run on.

    Args:
        backend: ``"litert"``, ``"tflite"`` or ``"auto"``; ``None`` reads the
            ``STTN_RUNTIME`` environment variable (default ``"auto"``: the
            installed ai-edge-litert, else TensorFlow's tf.lite).

    Returns:
        A :class:`RuntimeInfo` (backend, version, interpreter class).

    Raises:
        ValueError: ``backend`` (or ``STTN_RUNTIME``) is not one of ``BACKENDS``.
        ImportError: the requested runtime is not installed (for ``"auto"``:
            neither ai-edge-litert nor TensorFlow is).
        UnsupportedRuntimeError: ai-edge-litert is installed in a version
            outside ``LITERT_REQUIREMENT``.

    Example:

    >>> info = installed_runtime("litert")
    >>> info.backend, litert_version_supported(info.version)
    ('litert', True)
    """
    requested = _requested_backend(backend)
    if requested in ("auto", "litert"):
        if importlib.util.find_spec("ai_edge_litert") is not None:
            return _litert_runtime()
        if requested == "litert":
            raise ImportError(
                f"{_BACKEND_ENV}/backend asks for ai-edge-litert, which is not "
                f"installed: pip install '{LITERT_REQUIREMENT}'."
            )
    if importlib.util.find_spec("tensorflow") is not None:
        return _tflite_runtime()
    if requested == "tflite":
        raise ImportError(
            f"{_BACKEND_ENV}/backend asks for TensorFlow's tf.lite, but "
            "TensorFlow is not installed."
        )
    raise ImportError(
        "No TFLite runtime is installed (neither ai-edge-litert nor "
        f"TensorFlow): pip install '{LITERT_REQUIREMENT}'."
    )


class Interpreter:
    """Runs a ``.tflite`` model that contains sttn custom ops.

    Args:
        model_path_or_bytes: path of a ``.tflite`` file, or its bytes.
        num_threads: threads for the builtin ops and the sttn kernels.
        kernel: ``"optimized"`` (the fastest ISA path of this CPU),
            ``"reference"`` (plain loops, the oracle), or one ISA path of
            ``supported_kernels()`` (``"portable"``, ``"popcnt"``,
            ``"avx2"``, ``"avx512"``, ``"neon"``) to test or compare paths.
        backend: the TFLite runtime: ``"litert"`` (ai-edge-litert),
            ``"tflite"`` (TensorFlow's ``tf.lite``) or ``"auto"``;
            ``None`` (default) reads the ``STTN_RUNTIME`` environment
            variable, itself ``"auto"`` when unset: ai-edge-litert where it
            is installed, else tf.lite. See :func:`installed_runtime`.

    Raises:
        ValueError: the model is not a valid TFLite model, or a custom op in
            it fails validation (wrong ``version``, missing option, wrong
            channel count, invalid packed weights, ...).
        ImportError: no TFLite runtime (or not the requested one) is installed.
        UnsupportedRuntimeError: ai-edge-litert is installed in a version
            outside ``LITERT_REQUIREMENT``, or the runtime's layout is not
            one the host layer recognises (a ``RuntimeError``).
        RuntimeError: the kernels could not be registered into the runtime.

    Example:

    >>> interp = Interpreter("model.tflite", kernel="optimized")
    >>> y = interp.predict(x)
    >>> y.shape, interp.kernel_path
    ((4, 10), 'optimized')
    >>> bool(np.array_equal(Interpreter("model.tflite", kernel="reference").predict(x), y))
    True
    """

    def __init__(
        self,
        model_path_or_bytes: str | os.PathLike | bytes,
        num_threads: int = 1,
        kernel: str = "optimized",
        backend: str | None = None,
    ) -> None:
        if kernel not in _KERNEL_TYPES:
            raise ValueError(
                "Received an invalid value for `kernel`, expected one of "
                f"{sorted(_KERNEL_TYPES)}. Received: kernel={kernel!r}"
            )
        if kernel not in supported_kernels():
            raise ValueError(
                f"Received an invalid value for `kernel`: this CPU or build "
                f"cannot run kernel={kernel!r}; supported here: "
                f"{list(supported_kernels())}"
            )
        if (
            not isinstance(num_threads, int)
            or isinstance(num_threads, bool)
            or num_threads < 1
        ):
            raise ValueError(
                "Received an invalid value for `num_threads`, expected a "
                f"positive integer. Received: num_threads={num_threads!r}"
            )
        self._kernel = kernel
        self._content = read_tflite_bytes(model_path_or_bytes)
        self._runtime = installed_runtime(backend)
        lib = _library()
        names = registered_ops()
        kernel_id = _KERNEL_TYPES[kernel]
        state: dict[str, Any] = {"called": False, "rc": None, "error": "", "ops": ()}

        def registerer(resolver_address: int) -> None:
            error = ctypes.create_string_buffer(_ERROR_BUFFER_SIZE)
            state["called"] = True
            state["rc"] = lib.sttn_host_register(
                resolver_address, kernel_id, error, _ERROR_BUFFER_SIZE
            )
            state["error"] = error.value.decode(errors="replace")
            if state["rc"] == 0:
                state["ops"] = tuple(
                    n
                    for n in names
                    if lib.sttn_host_lookup(resolver_address, n.encode())
                    == kernel_id + 1
                )

        try:
            self._interp = self._runtime.interpreter_class(
                custom_op_registerers=[registerer],
                model_content=self._content,
                num_threads=num_threads,
            )
        except (ValueError, RuntimeError) as e:
            self._raise_registration_error(state, e)
            raise ValueError(f"Could not load the TFLite model: {e}") from e
        self._raise_registration_error(state, None)
        self._registered = state["ops"]
        self._inputs = self._interp.get_input_details()
        self._outputs = self._interp.get_output_details()
        self._allocate()

    def _raise_registration_error(
        self, state: dict[str, Any], cause: Exception | None
    ) -> None:
        runtime = self._runtime.description
        if not state["called"]:
            if cause is None:
                raise RuntimeError(
                    f"{runtime} did not call the sttn custom-op registerer."
                )
            return
        if state["rc"] in (_HOST_PROBE_FAILED, _HOST_VERIFICATION_FAILED):
            raise UnsupportedRuntimeError(
                f"The sttn host layer does not recognise the layout of {runtime}: "
                f"{state['error']}. Refusing to register the sttn ops; "
                f"{_supported_range_text()}."
            ) from cause
        if state["rc"] != 0:
            raise RuntimeError(
                f"Could not register the sttn custom ops into {runtime}: "
                f"{state['error']}"
            ) from cause

    def _allocate(self) -> None:
        try:
            self._interp.allocate_tensors()
        except (RuntimeError, ValueError) as e:
            if _LAYOUT_MISMATCH_MARKER in str(e):
                raise UnsupportedRuntimeError(
                    f"{self._runtime.description} passed the sttn kernels a "
                    f"TfLiteContext/TfLiteTensor layout the host layer does not "
                    f"recognise: {e}; {_supported_range_text()}."
                ) from e
            raise ValueError(f"The model failed validation: {e}") from e

    # -- properties -----------------------------------------------------------

    @property
    def kernel_path(self) -> str:
        """The kernel type this interpreter runs ("optimized", "reference", "avx2", ...)."""
        return self._kernel

    @property
    def registered_ops(self) -> tuple[str, ...]:
        """Custom ops verified in this interpreter's resolver at registration."""
        return self._registered

    @property
    def input_details(self) -> list[dict[str, Any]]:
        """The runtime's input details (name, index, shape, shape_signature, dtype)."""
        return self._interp.get_input_details()

    @property
    def output_details(self) -> list[dict[str, Any]]:
        """The runtime's output details."""
        return self._interp.get_output_details()

    @property
    def backend(self) -> str:
        """The TFLite runtime in use: ``"litert"`` or ``"tflite"``."""
        return self._runtime.backend

    @property
    def runtime(self) -> RuntimeInfo:
        """The TFLite runtime in use (backend, version), see :class:`RuntimeInfo`."""
        return self._runtime

    @property
    def litert_interpreter(self) -> Any:
        """The underlying interpreter object (``ai_edge_litert`` or ``tf.lite``)."""
        return self._interp

    # -- invoke-level access ---------------------------------------------------

    def _check_input(self, x: np.ndarray, index: int) -> np.ndarray:
        if not 0 <= index < len(self._inputs):
            raise IndexError(
                f"Input index {index} out of range: the model has "
                f"{len(self._inputs)} input(s)."
            )
        detail = self._inputs[index]
        dtype = np.dtype(detail["dtype"])
        x = np.asarray(x)
        if dtype == np.float32:
            if not (
                np.issubdtype(x.dtype, np.floating)
                or np.issubdtype(x.dtype, np.integer)
            ):
                raise ValueError(
                    f"Input {index} ('{detail['name']}') expects float32 data, "
                    f"received dtype {x.dtype}."
                )
            x = x.astype(np.float32, copy=False)
        elif x.dtype != dtype:
            raise ValueError(
                f"Input {index} ('{detail['name']}') expects {dtype} data "
                f"(e.g. packed trits), received dtype {x.dtype}."
            )
        signature = [int(d) for d in detail.get("shape_signature", detail["shape"])]
        expected = tuple(None if d < 0 else d for d in signature)
        if x.ndim != len(signature) or any(
            s >= 0 and s != d
            for i, (s, d) in enumerate(zip(signature, x.shape))
            if i > 0
        ):
            raise ValueError(
                f"Input {index} ('{detail['name']}') expects shape {expected}, "
                f"received {tuple(x.shape)}."
            )
        if x.ndim and x.shape[0] < 1:
            raise ValueError(
                f"Input {index} ('{detail['name']}') received an empty batch."
            )
        return np.ascontiguousarray(x)

    def set_input(self, x: np.ndarray, index: int = 0) -> None:
        """Sets input ``index``, resizing and reallocating when its shape changes.

        Args:
            x: the input array (batch first).
            index: input position.
        """
        x = self._check_input(x, index)
        detail = self._inputs[index]
        current = tuple(
            int(d) for d in self._interp.get_input_details()[index]["shape"]
        )
        if current != tuple(x.shape):
            signature = [int(d) for d in detail.get("shape_signature", detail["shape"])]
            if signature and signature[0] >= 0 and x.shape[0] != signature[0]:
                raise ValueError(
                    f"Input {index} ('{detail['name']}') has a static batch of "
                    f"{signature[0]}, received a batch of {x.shape[0]}."
                )
            self._interp.resize_tensor_input(
                detail["index"], list(x.shape), strict=True
            )
            self._allocate()
        self._interp.set_tensor(detail["index"], x)

    def invoke(self) -> None:
        """Runs the model once on the inputs set with :meth:`set_input`."""
        try:
            self._interp.invoke()
        except (RuntimeError, ValueError) as e:
            raise RuntimeError(f"The model failed to run: {e}") from e

    def get_output(self, index: int = 0) -> np.ndarray:
        """Returns a copy of output ``index`` after :meth:`invoke`."""
        return np.array(self._interp.get_tensor(self._outputs[index]["index"]))

    # -- batch prediction -----------------------------------------------------

    def predict(self, x: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Runs a batch through the model (single-input, single-output models).

        Args:
            x: input batch, float32 (or the model's input dtype), batch first.
            batch_size: rows per invoke; ``None`` runs the whole batch at once
                (a model with a static batch dimension runs in chunks of it).

        Returns:
            float32 output of the model for every row of ``x``.

        Raises:
            ValueError: wrong input dtype or shape.

        Example:

        >>> interp = Interpreter("model.tflite")
        >>> interp.predict(np.zeros((3, 28, 28, 1), np.float32)).shape
        (3, 10)
        """
        if len(self._inputs) != 1 or len(self._outputs) != 1:
            raise ValueError(
                "predict() needs a model with one input and one output; use "
                "set_input()/invoke()/get_output() for this model "
                f"({len(self._inputs)} inputs, {len(self._outputs)} outputs)."
            )
        x = self._check_input(x, 0)
        n = x.shape[0]
        signature = [
            int(d)
            for d in self._inputs[0].get("shape_signature", self._inputs[0]["shape"])
        ]
        static_batch = signature[0] if signature and signature[0] >= 0 else None
        if batch_size is not None and (
            not isinstance(batch_size, int) or batch_size < 1
        ):
            raise ValueError(
                "Received an invalid value for `batch_size`, expected a positive "
                f"integer or None. Received: batch_size={batch_size!r}"
            )
        step = static_batch or batch_size or n
        results: list[np.ndarray] = []
        for start in range(0, n, step):
            chunk = x[start : start + step]
            rows = chunk.shape[0]
            if static_batch is not None and rows < static_batch:
                pad = np.zeros((static_batch - rows,) + chunk.shape[1:], chunk.dtype)
                chunk = np.concatenate([chunk, pad])
            self.set_input(chunk, 0)
            self.invoke()
            results.append(self.get_output(0)[:rows])
        return np.concatenate(results) if len(results) > 1 else results[0]

    def __repr__(self) -> str:
        return (
            f"Interpreter(kernel={self._kernel!r}, backend={self.backend!r}, inputs="
            f"{[tuple(d['shape_signature']) for d in self._inputs]})"
        )
