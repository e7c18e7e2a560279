"""The sttn ``Interpreter``: runs a ``.tflite`` model with the native ternary kernels.

It registers the native library's kernels (:mod:`.native_library`) into the
op resolver of the chosen TFLite runtime (:mod:`.runtime_choice`) through its
``InterpreterWithCustomOps``; the host layer probes the runtime's layout,
verifies the registration through the runtime's own lookup, and any failure
surfaces here as a ``RuntimeError`` (``UnsupportedRuntimeError`` when the
runtime is not one the host layer supports), never as a crash. Imports numpy
and ctypes; the TFLite runtime when an ``Interpreter`` is created.

Example:

>>> interp = Interpreter("model.tflite")
>>> interp.predict(images, batch_size=256).shape, interp.kernel, interp.runtime.name
((4, 10), 'optimized', 'litert')
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

import numpy as np

from .inspect_tflite import read_tflite_bytes
from .native_library import (
    ERROR_BUFFER_SIZE,
    HOST_PROBE_FAILED,
    HOST_VERIFICATION_FAILED,
    LAYOUT_MISMATCH_MARKER,
    kernel_type_id,
    library,
    registered_ops,
    supported_kernels,
)
from .runtime_choice import (
    RuntimeInfo,
    UnsupportedRuntimeError,
    deprecated,
    installed_runtime,
    supported_range_text,
)

__all__ = ["Interpreter"]


class Interpreter:
    """Runs a ``.tflite`` model that contains sttn custom ops.

    Args:
        model_path_or_bytes: path of a ``.tflite`` file, or its bytes.
        num_threads: threads for the builtin ops and the sttn kernels.
        kernel: ``"optimized"`` (the fastest ISA path of this CPU),
            ``"reference"`` (plain loops, the oracle), or one ISA path of
            ``supported_kernels()`` (``"portable"``, ``"popcnt"``,
            ``"avx2"``, ``"avx512"``, ``"neon"``) to test or compare paths.
        runtime: the TFLite runtime: ``"litert"`` (ai-edge-litert),
            ``"tflite"`` (TensorFlow's ``tf.lite``) or ``"auto"``;
            ``None`` (default) reads the ``STTN_RUNTIME`` environment
            variable, itself ``"auto"`` when unset: ai-edge-litert where it
            is installed, else tf.lite. See :func:`installed_runtime`.
        backend: deprecated name of ``runtime``.

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
    >>> y.shape, interp.kernel
    ((4, 10), 'optimized')
    >>> bool(np.array_equal(Interpreter("model.tflite", kernel="reference").predict(x), y))
    True
    """

    def __init__(
        self,
        model_path_or_bytes: str | os.PathLike | bytes,
        num_threads: int = 1,
        kernel: str = "optimized",
        runtime: str | None = None,
        *,
        backend: str | None = None,
    ) -> None:
        if backend is not None:
            deprecated("Interpreter(backend=...)", "Interpreter(runtime=...)")
            runtime = backend if runtime is None else runtime
        kernel_id = kernel_type_id(kernel)  # ValueError for an unknown name
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
        self._runtime = installed_runtime(runtime)
        lib = library()
        names = registered_ops()
        state: dict[str, Any] = {"called": False, "rc": None, "error": "", "ops": ()}

        def registerer(resolver_address: int) -> None:
            error = ctypes.create_string_buffer(ERROR_BUFFER_SIZE)
            state["called"] = True
            state["rc"] = lib.sttn_host_register(
                resolver_address, kernel_id, error, ERROR_BUFFER_SIZE
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
        if state["rc"] in (HOST_PROBE_FAILED, HOST_VERIFICATION_FAILED):
            raise UnsupportedRuntimeError(
                f"The sttn host layer does not recognise the layout of {runtime}: "
                f"{state['error']}. Refusing to register the sttn ops; "
                f"{supported_range_text()}."
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
            if LAYOUT_MISMATCH_MARKER in str(e):
                raise UnsupportedRuntimeError(
                    f"{self._runtime.description} passed the sttn kernels a "
                    f"TfLiteContext/TfLiteTensor layout the host layer does not "
                    f"recognise: {e}; {supported_range_text()}."
                ) from e
            raise ValueError(f"The model failed validation: {e}") from e

    # -- properties -----------------------------------------------------------

    @property
    def kernel(self) -> str:
        """The kernel type this interpreter runs ("optimized", "reference", "avx2", ...)."""
        return self._kernel

    @property
    def kernel_path(self) -> str:
        """Deprecated name of :attr:`kernel`."""
        deprecated("Interpreter.kernel_path", "Interpreter.kernel")
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
    def runtime(self) -> RuntimeInfo:
        """The TFLite runtime in use: ``.name`` (``"litert"`` or ``"tflite"``),
        ``.version``; see :class:`RuntimeInfo`."""
        return self._runtime

    @property
    def runtime_interpreter(self) -> Any:
        """The runtime's own interpreter object underneath (an
        ``InterpreterWithCustomOps`` of ai_edge_litert or of tf.lite)."""
        return self._interp

    @property
    def backend(self) -> str:
        """Deprecated: ``runtime.name``."""
        deprecated("Interpreter.backend", "Interpreter.runtime.name")
        return self._runtime.name

    @property
    def litert_interpreter(self) -> Any:
        """Deprecated name of :attr:`runtime_interpreter`."""
        deprecated("Interpreter.litert_interpreter", "Interpreter.runtime_interpreter")
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
            f"Interpreter(kernel={self._kernel!r}, runtime={self._runtime.name!r}, inputs="
            f"{[tuple(d['shape_signature']) for d in self._inputs]})"
        )
