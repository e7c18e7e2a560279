"""Writes small ``.tflite`` models holding the sttn custom ops directly.

Built with the flatbuffer object API of ``ai_edge_litert.schema_py_generated``
(no TensorFlow needed): one subgraph, CUSTOM operator codes (builtin code 32),
custom options as a FlexBuffer map, constant buffers 64-byte aligned.

Example:

>>> import numpy as np
>>> from tests import ternary_reference as ref
>>> b = ModelBuilder()
>>> x = b.input("x", [-1, 40], np.float32)
>>> th = b.const("th", np.stack([np.full(40, -.5), np.full(40, .5), np.ones(40)]))
>>> y = b.output("y", [-1, 4], np.int32)
>>> b.op("SttnTernarize", [x, th], [y], {"version": 1, "channels": 40})
>>> model_bytes = b.build()
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema
from flatbuffers import flexbuffers

CUSTOM_BUILTIN_CODE = 32

_TENSOR_TYPES = {
    np.dtype(np.float32): schema.TensorType.FLOAT32,
    np.dtype(np.int32): schema.TensorType.INT32,
    np.dtype(np.uint8): schema.TensorType.UINT8,
    np.dtype(np.int8): schema.TensorType.INT8,
    np.dtype(np.int64): schema.TensorType.INT64,
}


class _AlignedBufferT(schema.BufferT):
    """A BufferT whose data vector is 64-byte aligned in the file."""

    def Pack(self, builder):  # noqa: N802 (flatbuffers API name)
        data = None
        if self.data is not None:
            payload = bytes(self.data)
            builder.StartVector(1, len(payload), 64)
            builder.head = builder.head - len(payload)
            builder.Bytes[builder.head : builder.head + len(payload)] = payload
            data = builder.EndVector()
        schema.BufferStart(builder)
        if data is not None:
            schema.BufferAddData(builder, data)
        return schema.BufferEnd(builder)


def flexbuffer_map(options: dict[str, Any]) -> bytes:
    """Serialises ``options`` (int, float, bool, str values) as a FlexBuffer map."""
    fbb = flexbuffers.Builder()
    with fbb.Map():
        for key in sorted(options):
            value = options[key]
            if isinstance(value, bool):
                fbb.Bool(key, value)
            elif isinstance(value, (int, np.integer)):
                fbb.Int(key, int(value))
            elif isinstance(value, (float, np.floating)):
                fbb.Float(key, float(value))
            elif isinstance(value, str):
                fbb.String(key, value)
            else:
                raise TypeError(f"Unsupported option type for {key!r}: {type(value)}")
    return bytes(fbb.Finish())


class ModelBuilder:
    """Accumulates tensors and ops of one subgraph, then serialises the model."""

    def __init__(self) -> None:
        self._buffers: list[schema.BufferT] = [schema.BufferT()]  # buffer 0: empty
        self._tensors: list[schema.TensorT] = []
        self._ops: list[schema.OperatorT] = []
        self._opcodes: list[schema.OperatorCodeT] = []
        self._opcode_index: dict[str, int] = {}
        self._inputs: list[int] = []
        self._outputs: list[int] = []

    def _tensor(self, name: str, shape: Iterable[int], dtype, buffer: int = 0) -> int:
        t = schema.TensorT()
        shape = [int(d) for d in shape]
        t.shape = [1 if d < 0 else d for d in shape]
        if any(d < 0 for d in shape):
            t.shapeSignature = shape
        t.type = _TENSOR_TYPES[np.dtype(dtype)]
        t.buffer = buffer
        t.name = name
        self._tensors.append(t)
        return len(self._tensors) - 1

    def input(self, name: str, shape: Iterable[int], dtype) -> int:
        """Adds a subgraph input (``-1`` marks a dynamic dimension)."""
        index = self._tensor(name, shape, dtype)
        self._inputs.append(index)
        return index

    def output(self, name: str, shape: Iterable[int], dtype) -> int:
        """Adds a subgraph output."""
        index = self._tensor(name, shape, dtype)
        self._outputs.append(index)
        return index

    def intermediate(self, name: str, shape: Iterable[int], dtype) -> int:
        """Adds a tensor produced and consumed inside the subgraph."""
        return self._tensor(name, shape, dtype)

    def const(self, name: str, value: np.ndarray, dtype=None) -> int:
        """Adds a constant tensor backed by its own (aligned) buffer."""
        value = np.asarray(value, dtype=dtype if dtype is not None else None)
        if dtype is None and value.dtype == np.float64:
            value = value.astype(np.float32)
        buf = _AlignedBufferT()
        buf.data = np.ascontiguousarray(value).tobytes()
        self._buffers.append(buf)
        return self._tensor(name, value.shape, value.dtype, len(self._buffers) - 1)

    def op(
        self,
        custom_name: str,
        inputs: list[int],
        outputs: list[int],
        options: dict[str, Any] | bytes | None = None,
        version: int = 1,
    ) -> None:
        """Adds a CUSTOM op; ``options`` is a dict (FlexBuffer map) or raw bytes."""
        key = f"{custom_name}@{version}"
        if key not in self._opcode_index:
            code = schema.OperatorCodeT()
            code.builtinCode = CUSTOM_BUILTIN_CODE
            code.deprecatedBuiltinCode = CUSTOM_BUILTIN_CODE
            code.customCode = custom_name
            code.version = version
            self._opcodes.append(code)
            self._opcode_index[key] = len(self._opcodes) - 1
        op = schema.OperatorT()
        op.opcodeIndex = self._opcode_index[key]
        op.inputs = list(inputs)
        op.outputs = list(outputs)
        if options is not None:
            raw = options if isinstance(options, bytes) else flexbuffer_map(options)
            op.customOptions = list(raw)
            op.customOptionsFormat = schema.CustomOptionsFormat.FLEXBUFFERS
        self._ops.append(op)

    def build(self) -> bytes:
        """Serialises the model (file identifier ``TFL3``)."""
        sub = schema.SubGraphT()
        sub.tensors = self._tensors
        sub.inputs = self._inputs
        sub.outputs = self._outputs
        sub.operators = self._ops
        sub.name = "main"
        model = schema.ModelT()
        model.version = 3
        model.operatorCodes = self._opcodes
        model.subgraphs = [sub]
        model.buffers = self._buffers
        model.description = "sttn kernel test model"
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())


# ---------------------------------------------------------------------------
# One-op models of every sttn op.


def ternarize_model(
    channels: int,
    thresholds: np.ndarray,
    rank: int = 2,
    spatial: tuple[int, int] = (3, 3),
    options: dict | None = None,
) -> bytes:
    """``SttnTernarize``: float ``[-1, C]`` or ``[-1, H, W, C]`` to packed int32."""
    b = ModelBuilder()
    lead = [-1] if rank == 2 else [-1, *spatial]
    x = b.input("x", lead + [channels], np.float32)
    th = b.const("thresholds", np.asarray(thresholds, np.float32))
    y = b.output("y", lead + [2 * ((channels + 31) // 32)], np.int32)
    opts = {"version": 1, "channels": channels}
    if options is not None:
        opts = options
    b.op("SttnTernarize", [x, th], [y], opts)
    return b.build()


def _set_encoding(opts: dict, weight_encoding: str | None) -> None:
    if weight_encoding is not None:
        opts["version"] = 2
        opts["weight_encoding"] = weight_encoding


def conv_model(
    kind: str,
    *,
    in_channels: int,
    out_channels: int,
    kernel: tuple[int, int],
    strides: tuple[int, int],
    padding: str,
    activation: str,
    weights_packed: np.ndarray,
    scale: np.ndarray,
    bias: np.ndarray,
    input_hw: tuple[int, int],
    depth_multiplier: int = 1,
    float_in: bool = False,
    options: dict | bytes | None = None,
    input_channels_dim: int | None = None,
    output_thresholds: np.ndarray | None = None,
    weight_encoding: str | None = None,
) -> bytes:
    """``SttnConv2D[FloatIn]`` / ``SttnDepthwiseConv2D[FloatIn]`` with a
    dynamic batch. ``kind`` is ``"conv2d"`` or ``"depthwise"``. With
    ``output_thresholds`` ([3, out_channels]) the op is version 2 with a
    packed (ternarized) output. ``weight_encoding=None`` writes no
    `weight_encoding` key (version 1 unless a packed output); a string writes
    version 2 with that key (``weights_packed`` must be in that encoding)."""
    b = ModelBuilder()
    h, w = input_hw
    if input_channels_dim is None:
        input_channels_dim = in_channels if float_in else 2 * ((in_channels + 31) // 32)
    x = b.input(
        "x", [-1, h, w, input_channels_dim], np.float32 if float_in else np.int32
    )
    wt = b.const("weights", np.asarray(weights_packed, np.uint8))
    sc = b.const("scale", np.asarray(scale, np.float32))
    bi = b.const("bias", np.asarray(bias, np.float32))
    opts = {
        "version": 1,
        "in_channels": in_channels,
        "out_channels": out_channels,
        "kernel_h": kernel[0],
        "kernel_w": kernel[1],
        "stride_h": strides[0],
        "stride_w": strides[1],
        "padding": padding,
        "activation": activation,
    }
    inputs = [x, wt, sc, bi]
    if output_thresholds is None:
        y = b.output("y", [-1, 1, 1, out_channels], np.float32)
    else:
        y = b.output("y", [-1, 1, 1, 2 * ((out_channels + 31) // 32)], np.int32)
        inputs.append(
            b.const("output_thresholds", np.asarray(output_thresholds, np.float32))
        )
        opts.update(version=2, output="PACKED")
    _set_encoding(opts, weight_encoding)
    name = "SttnConv2D"
    if kind == "depthwise":
        opts["depth_multiplier"] = depth_multiplier
        name = "SttnDepthwiseConv2D"
    if float_in:
        name += "FloatIn"
    b.op(name, inputs, [y], opts if options is None else options)
    return b.build()


def fc_model(
    *,
    in_channels: int,
    out_channels: int,
    activation: str,
    weights_packed: np.ndarray,
    scale: np.ndarray,
    bias: np.ndarray,
    float_in: bool = False,
    lead_shape: tuple[int, ...] = (-1,),
    options: dict | bytes | None = None,
    output_thresholds: np.ndarray | None = None,
    weight_encoding: str | None = None,
) -> bytes:
    """``SttnFullyConnected[FloatIn]`` over ``lead_shape + [C]`` (packed
    output, version 2, with ``output_thresholds``; ``weight_encoding`` as in
    :func:`conv_model`)."""
    b = ModelBuilder()
    cdim = in_channels if float_in else 2 * ((in_channels + 31) // 32)
    x = b.input("x", list(lead_shape) + [cdim], np.float32 if float_in else np.int32)
    wt = b.const("weights", np.asarray(weights_packed, np.uint8))
    sc = b.const("scale", np.asarray(scale, np.float32))
    bi = b.const("bias", np.asarray(bias, np.float32))
    opts = {
        "version": 1,
        "in_channels": in_channels,
        "out_channels": out_channels,
        "activation": activation,
    }
    inputs = [x, wt, sc, bi]
    if output_thresholds is None:
        y = b.output("y", list(lead_shape) + [out_channels], np.float32)
    else:
        y = b.output(
            "y", list(lead_shape) + [2 * ((out_channels + 31) // 32)], np.int32
        )
        inputs.append(
            b.const("output_thresholds", np.asarray(output_thresholds, np.float32))
        )
        opts.update(version=2, output="PACKED")
    _set_encoding(opts, weight_encoding)
    name = "SttnFullyConnectedFloatIn" if float_in else "SttnFullyConnected"
    b.op(name, inputs, [y], opts if options is None else options)
    return b.build()
