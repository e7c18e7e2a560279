"""Reading ``.tflite`` files: op histograms and weight sizes (no TensorFlow).

Uses the flatbuffer schema bindings shipped with ai-edge-litert.
"""

from __future__ import annotations

import os

import numpy as np

from .op_format import OP_FOR_LAYER

__all__ = ["op_histogram", "custom_ops", "op_name_for", "read_model"]

_CUSTOM = 32


def op_name_for(kind, float_input):
    """The custom op name of a folded layer kind."""
    return OP_FOR_LAYER[(kind, bool(float_input))]


def _as_bytes(model):
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model)
    with open(os.fspath(model), "rb") as f:
        return f.read()


def read_model(model):
    """Parses a ``.tflite`` file (path or bytes) into the schema object API.

    Raises:
        ValueError: If the data is not a readable TFLite flatbuffer.
    """
    from ai_edge_litert import schema_py_generated as schema

    data = _as_bytes(model)
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ValueError(
            f"Not a TFLite flatbuffer: expected the identifier 'TFL3' at bytes 4..8. "
            f"Received {len(data)} bytes starting {data[:8]!r}"
        )
    try:
        return schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
    except Exception as e:
        raise ValueError(f"Corrupt or truncated TFLite flatbuffer ({len(data)} bytes): {e}") from e


def _builtin_names():
    from ai_edge_litert import schema_py_generated as schema

    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def op_histogram(model):
    """Counts the ops of a ``.tflite`` model by name.

    Builtins are named as in the schema (``CONV_2D``); custom ops by their
    custom code (``SttnConv2D``); Flex ops start with ``Flex``.

    Args:
        model: Path to a ``.tflite`` file or its bytes.

    Returns:
        ``dict`` op name -> count.

    Example:

    >>> op_histogram("model.tflite")                            # doctest: +SKIP
    {'CONV_2D': 1, 'SttnTernarize': 2, 'SttnConv2D': 1, 'MAX_POOL_2D': 1}
    """
    m = read_model(model)
    names = _builtin_names()
    hist = {}
    for subgraph in m.subgraphs or []:
        for op in subgraph.operators or []:
            code = m.operatorCodes[op.opcodeIndex]
            builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
            name = code.customCode.decode() if builtin == _CUSTOM else names.get(builtin, str(builtin))
            hist[name] = hist.get(name, 0) + 1
    return hist


def custom_ops(model):
    """The custom ops of a model with their decoded options and input sizes.

    Returns:
        A list of dicts: ``name``, ``options`` (FlexBuffer map as dict),
        ``input_bytes`` (constant buffer size per input, 0 for activations).
    """
    from flatbuffers import flexbuffers

    m = read_model(model)
    out = []
    for subgraph in m.subgraphs or []:
        for op in subgraph.operators or []:
            code = m.operatorCodes[op.opcodeIndex]
            if max(code.builtinCode, code.deprecatedBuiltinCode) != _CUSTOM:
                continue
            options = flexbuffers.Loads(bytes(np.asarray(op.customOptions, np.uint8))) if op.customOptions is not None else {}
            sizes = []
            for i in op.inputs:
                buf = m.buffers[subgraph.tensors[i].buffer]
                if buf.data is not None:
                    sizes.append(len(buf.data))
                elif buf.size:
                    sizes.append(int(buf.size))
                else:
                    sizes.append(0)
            out.append({"name": code.customCode.decode(), "options": options, "input_bytes": sizes})
    return out


def single_op_models(model):
    """Every builtin op of a model cut out into a one-op ``.tflite`` model.

    The op keeps its constant inputs; its other inputs become the model's
    inputs and its outputs the model's outputs. Used to time builtin ops in
    isolation (``sttn-benchmark --per_op``, ``benchmarks/e2e.py``).

    Returns:
        A list of ``(op type, op index, .tflite bytes)``.

    Example:

    >>> [name for name, _, _ in single_op_models(data)]       # doctest: +SKIP
    ['CONV_2D', 'PRELU', 'MAX_POOL_2D', 'RESHAPE', 'FULLY_CONNECTED']
    """
    import flatbuffers

    content = _as_bytes(model)
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
        consts = {t for t, tensor in enumerate(graph.tensors)
                  if one.buffers[tensor.buffer].data is not None
                  and len(one.buffers[tensor.buffer].data) > 0}
        graph.inputs = [t for t in op.inputs if t >= 0 and t not in consts]
        graph.outputs = list(op.outputs)
        builder = flatbuffers.Builder(1024)
        builder.Finish(one.Pack(builder), file_identifier=b"TFL3")
        out.append((names.get(builtin, str(builtin)), i, bytes(builder.Output())))
    return out
