"""The native kernel library, loaded through ctypes: its ops, kernels and counters.

The kernels live in ``_sttn_ops*.so`` next to this file (built from
``export/core``, ``export/tflite``, ``export/host``; ``STTN_OPS_LIBRARY``
names another build of the same sources, e.g. a sanitizer build). This
module declares the library's C API once (our own ctypes declarations),
checks that it implements this package's op format version, and answers
what it holds: the custom ops it registers, the kernel types this CPU can
run, the one ``kernel="optimized"`` picks here, and the per-op time counters
(:class:`OpProfile`). Imports only the standard library and the op format.

Example:

>>> "SttnConv2D" in registered_ops()
True
>>> optimized_kernel() in supported_kernels()
True
"""

from __future__ import annotations

import ctypes
import glob
import os
import threading
import warnings
from typing import Any

from .op_format import OP_FORMAT_VERSION

__all__ = [
    "KERNELS",
    "OpProfile",
    "native_library_info",
    "optimized_kernel",
    "registered_ops",
    "supported_kernels",
]

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
#: Every kernel type ``Interpreter(kernel=...)`` knows (this CPU may lack some:
#: see :func:`supported_kernels`).
KERNELS = tuple(_KERNEL_TYPES)

# The host layer (host_registration.cc): the error buffer it writes into, and
# sttn_host_register's return codes. 2: the runtime's op resolver failed the
# layout probe; 3: the runtime's own FindOp did not return our registrations.
# Both mean an unrecognised runtime layout.
ERROR_BUFFER_SIZE = 1024
HOST_PROBE_FAILED = 2
HOST_VERIFICATION_FAILED = 3
# What the host layer's per-Prepare layout check reports.
LAYOUT_MISMATCH_MARKER = "layout does not match the sttn host layer"

_lib: ctypes.CDLL | None = None
_lib_lock = threading.Lock()


def library_path() -> str:
    """Path of the native library this process loads (or would load).

    Example:

    >>> os.path.basename(library_path()).startswith("_sttn_ops")
    True
    """
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


def _declare(lib: ctypes.CDLL) -> None:
    """Our declarations of the C API (export/tflite/sttn_ops.h, export/host)."""
    lib.sttn_tflite_num_ops.restype = ctypes.c_int
    lib.sttn_tflite_num_ops.argtypes = []
    lib.sttn_tflite_op_name.restype = ctypes.c_char_p
    lib.sttn_tflite_op_name.argtypes = [ctypes.c_int]
    lib.sttn_op_format_version.restype = ctypes.c_int
    lib.sttn_op_format_version.argtypes = []
    # The kernel type "optimized" runs on this CPU (optimized_kernel()).
    # A library built before the C name changed (loaded through
    # STTN_OPS_LIBRARY, e.g. for a before/after benchmark) has only the old.
    if not hasattr(lib, "sttn_optimized_kernel"):
        lib.sttn_optimized_kernel = lib.sttn_optimized_popcount_path
    lib.sttn_optimized_kernel.restype = ctypes.c_char_p
    lib.sttn_optimized_kernel.argtypes = []
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


def library() -> ctypes.CDLL:
    """The loaded native library (loaded once per process, on first use).

    Raises:
        RuntimeError: the library is missing, or implements another op
            format version than this package (a stale build).

    Example:

    >>> library().sttn_op_format_version() == OP_FORMAT_VERSION
    True
    """
    global _lib
    with _lib_lock:
        if _lib is None:
            lib = ctypes.CDLL(library_path())
            _declare(lib)
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
    lib = library()
    return tuple(
        lib.sttn_tflite_op_name(i).decode() for i in range(lib.sttn_tflite_num_ops())
    )


def kernel_type_id(kernel: str) -> int:
    """The C ``KernelType`` value of a kernel type name.

    Raises:
        ValueError: ``kernel`` is not one of :data:`KERNELS`.

    Example:

    >>> kernel_type_id("reference"), kernel_type_id("optimized")
    (0, 1)
    """
    if kernel not in _KERNEL_TYPES:
        raise ValueError(
            "Received an invalid value for `kernel`, expected one of "
            f"{sorted(_KERNEL_TYPES)}. Received: kernel={kernel!r}"
        )
    return _KERNEL_TYPES[kernel]


def supported_kernels() -> tuple[str, ...]:
    """Kernel types this CPU and build can run, for ``Interpreter(kernel=...)``.

    ``"reference"`` and ``"optimized"`` (the fastest ISA path here) always;
    then each ISA path the CPU supports: ``"portable"``, ``"popcnt"``,
    ``"avx2"``, ``"avx512"`` (x86-64), ``"neon"`` (aarch64).

    Example:

    >>> {"reference", "optimized", "portable"} <= set(supported_kernels())
    True
    """
    lib = library()
    return tuple(
        k for k, i in _KERNEL_TYPES.items() if lib.sttn_kernel_type_supported(i)
    )


def optimized_kernel() -> str:
    """The ISA kernel type ``kernel="optimized"`` runs on this CPU.

    One of :func:`supported_kernels` other than ``"reference"`` and
    ``"optimized"``: the fastest path this CPU and build offer, chosen by the
    native library at run time (``"avx512"``, ``"avx2"``, ``"popcnt"``,
    ``"neon"`` or ``"portable"``).

    Example:

    >>> optimized_kernel() in supported_kernels()
    True
    """
    return library().sttn_optimized_kernel().decode()


class OpProfile:
    """Wall time spent in each sttn op while the context is active.

    Counters are process-wide: every interpreter's sttn ops add to them.

    Example:

    >>> from sttn_keras.export import Interpreter
    >>> interp = Interpreter("model.tflite")
    >>> with OpProfile() as prof:
    ...     _ = interp.predict(x)
    >>> prof.results()["SttnConv2D"]["invocations"]
    2
    """

    def __enter__(self) -> OpProfile:
        lib = library()
        lib.sttn_profile_reset()
        lib.sttn_profile_enable(1)
        self._results: dict[str, dict[str, float]] = {}
        return self

    def __exit__(self, *exc) -> None:
        lib = library()
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


class _LibraryInfo(dict):
    """``native_library_info()``'s dict; the key ``"optimized_popcount"``
    (renamed ``"optimized_kernel"``) still reads, with a DeprecationWarning."""

    _OLD, _NEW = "optimized_popcount", "optimized_kernel"

    def _renamed(self, key: Any) -> Any:
        if key != self._OLD:
            return key
        warnings.warn(
            f'native_library_info()["{self._OLD}"] is deprecated and will be '
            f'removed in the next release; use native_library_info()["{self._NEW}"] '
            "(or optimized_kernel()).",
            DeprecationWarning,
            stacklevel=3,
        )
        return self._NEW

    def __getitem__(self, key: Any) -> Any:
        return super().__getitem__(self._renamed(key))

    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(self._renamed(key), default)


def native_library_info() -> dict[str, Any]:
    """Facts about the loaded native library.

    Returns:
        ``{"path", "op_format_version", "ops", "optimized_kernel",
        "supported_kernels"}``: the library file, the op format it
        implements, :func:`registered_ops`, :func:`optimized_kernel` and
        :func:`supported_kernels`.

    Example:

    >>> info = native_library_info()
    >>> info["op_format_version"] == OP_FORMAT_VERSION
    True
    >>> info["optimized_kernel"] in info["supported_kernels"]
    True
    """
    lib = library()
    return _LibraryInfo(
        path=library_path(),
        op_format_version=lib.sttn_op_format_version(),
        ops=registered_ops(),
        optimized_kernel=optimized_kernel(),
        supported_kernels=supported_kernels(),
    )
