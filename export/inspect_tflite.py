"""Reading ``.tflite`` files: op histograms and weight sizes (no TensorFlow).

Uses the flatbuffer schema bindings shipped with ai-edge-litert.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .op_format import TFLITE_FILE_IDENTIFIER

__all__ = ["op_histogram", "custom_ops", "read_model", "read_tflite_bytes"]

# A ``.tflite`` model given as a path or as its bytes.
ModelSource = str | os.PathLike | bytes | bytearray | memoryview

_CUSTOM = 32


def read_tflite_bytes(model: ModelSource) -> bytes:
    """The bytes of a ``.tflite`` model given as a path or as bytes.

    Checks the flatbuffer file identifier (``TFL3`` at bytes 4..8) only; the
    runtime and :func:`read_model` validate the rest.

    Raises:
        TypeError: ``model`` is neither a path nor bytes.
        ValueError: the data is too short or lacks the identifier.

    Example:

    >>> read_tflite_bytes(b"1234")
    Traceback (most recent call last):
    ...
    ValueError: Could not load the TFLite model from the model bytes: 4 bytes without the TFL3 file identifier (truncated or not a .tflite file).
    """
    if isinstance(model, (bytes, bytearray, memoryview)):
        content = bytes(model)
        origin = "the model bytes"
    elif isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        with open(path, "rb") as f:
            content = f.read()
        origin = f"'{path}'"
    else:
        raise TypeError(
            "Received an invalid value for the model, expected a path or bytes. "
            f"Received: {type(model).__name__}"
        )
    if len(content) < 8 or content[4:8] != TFLITE_FILE_IDENTIFIER:
        raise ValueError(
            f"Could not load the TFLite model from {origin}: {len(content)} bytes "
            "without the TFL3 file identifier (truncated or not a .tflite file)."
        )
    return content


def read_model(model: ModelSource) -> Any:
    """Parses a ``.tflite`` file (path or bytes) into the schema object API.

    Raises:
        ValueError: If the data is not a readable TFLite flatbuffer.

    Example:

    >>> len(read_model("model.tflite").subgraphs[0].operators)
    16
    """
    from ai_edge_litert import schema_py_generated as schema

    data = read_tflite_bytes(model)
    try:
        return schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
    except Exception as e:
        raise ValueError(
            f"Corrupt or truncated TFLite flatbuffer ({len(data)} bytes): {e}"
        ) from e


def _builtin_names():
    from ai_edge_litert import schema_py_generated as schema

    return {
        v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")
    }


def op_histogram(model: ModelSource) -> dict[str, int]:
    """Counts the ops of a ``.tflite`` model by name.

    Builtins are named as in the schema (``CONV_2D``); custom ops by their
    custom code (``SttnConv2D``); Flex ops start with ``Flex``.

    Args:
        model: Path to a ``.tflite`` file or its bytes.

    Returns:
        ``dict`` op name -> count.

    Example:

    >>> op_histogram("model.tflite")
    {'CONV_2D': 1, 'PRELU': 4, 'MAX_POOL_2D': 3, 'SttnTernarize': 3, 'SttnConv2D': 2, 'RESHAPE': 1, 'SttnFullyConnected': 1, 'FULLY_CONNECTED': 1}
    """
    m = read_model(model)
    names = _builtin_names()
    hist = {}
    for subgraph in m.subgraphs or []:
        for op in subgraph.operators or []:
            code = m.operatorCodes[op.opcodeIndex]
            builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
            name = (
                code.customCode.decode()
                if builtin == _CUSTOM
                else names.get(builtin, str(builtin))
            )
            hist[name] = hist.get(name, 0) + 1
    return hist


def custom_ops(model: ModelSource) -> list[dict[str, Any]]:
    """The custom ops of a model with their decoded options and input sizes.

    Returns:
        A list of dicts: ``name``, ``options`` (FlexBuffer map as dict),
        ``input_bytes`` (constant buffer size per input, 0 for activations).

    Example:

    >>> first = custom_ops("model.tflite")[0]
    >>> first["name"], first["options"]
    ('SttnTernarize', {'channels': 32, 'version': 1})
    """
    from flatbuffers import flexbuffers

    m = read_model(model)
    out = []
    for subgraph in m.subgraphs or []:
        for op in subgraph.operators or []:
            code = m.operatorCodes[op.opcodeIndex]
            if max(code.builtinCode, code.deprecatedBuiltinCode) != _CUSTOM:
                continue
            options = (
                flexbuffers.Loads(bytes(np.asarray(op.customOptions, np.uint8)))
                if op.customOptions is not None
                else {}
            )
            sizes = []
            for i in op.inputs:
                buf = m.buffers[subgraph.tensors[i].buffer]
                if buf.data is not None:
                    sizes.append(len(buf.data))
                elif buf.size:
                    sizes.append(int(buf.size))
                else:
                    sizes.append(0)
            out.append(
                {
                    "name": code.customCode.decode(),
                    "options": options,
                    "input_bytes": sizes,
                }
            )
    return out


def single_op_models(model: ModelSource) -> list[tuple[str, int, bytes]]:
    """Every builtin op of a model cut out into a one-op ``.tflite`` model.

    The op keeps its constant inputs; its other inputs become the model's
    inputs and its outputs the model's outputs. Used to time builtin ops in
    isolation (``sttn-benchmark --per_op``, ``benchmarks/e2e.py``).

    Returns:
        A list of ``(op type, op index, .tflite bytes)``.

    Example:

    >>> [name for name, _, _ in single_op_models(data)][:3]
    ['CONV_2D', 'PRELU', 'MAX_POOL_2D']
    """
    import flatbuffers

    content = read_tflite_bytes(model)
    names = _builtin_names()
    parsed = read_model(content)
    out = []
    for i, op in enumerate(parsed.subgraphs[0].operators or []):
        code = parsed.operatorCodes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        if builtin == _CUSTOM:
            continue
        one = read_model(content)
        graph = one.subgraphs[0]
        graph.operators = [graph.operators[i]]
        consts = {
            t
            for t, tensor in enumerate(graph.tensors)
            if one.buffers[tensor.buffer].data is not None
            and len(one.buffers[tensor.buffer].data) > 0
        }
        graph.inputs = [t for t in op.inputs if t >= 0 and t not in consts]
        graph.outputs = list(op.outputs)
        builder = flatbuffers.Builder(1024)
        builder.Finish(one.Pack(builder), file_identifier=TFLITE_FILE_IDENTIFIER)
        out.append((names.get(builtin, str(builtin)), i, bytes(builder.Output())))
    return out
