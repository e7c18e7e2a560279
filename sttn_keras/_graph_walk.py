"""Running a Keras graph model one operation at a time over a whole data set.

:func:`walk` evaluates a Sequential or Functional model operation by
operation in topological order, in inference mode, holding each operation's
outputs for all the examples (as per-batch backend tensors, so the compute
of each call is bounded by the batch size) until its last consumer has run.
A hook sees the inputs of every BatchNormalization over the whole data
before the layer runs, so it can set the layer's statistics first
(``recalibrate_batchnorm``): every layer runs once per batch, whatever the
depth of the network. Nested graph models (a model used as a layer) are
walked inside, so their BatchNorms are reached too.

The graph is read with ``model.operations`` (Functional), ``model.layers``
(Sequential) and ``op.input`` / ``op.output`` (the tensors of an
operation's first call); a nested model's call is read from its first
inbound node, which Keras exposes no public accessor for. Each operation
runs through a Functional model built from its input tensors to its output
tensors, so its call structure (lists, constants, keyword arguments) is
Keras's own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras

from .export.op_support import call_tensors as _call_tensors
from .export.op_support import is_graph_model

__all__ = ["graph_operations", "is_graph_model", "walk"]


def _is_input_layer(op):
    return type(op).__name__ == "InputLayer"


def _flat(structure):
    return list(keras.tree.flatten(structure))


def graph_operations(model: keras.Model) -> list:
    """The operations of a graph model in topological order (input layers
    excluded), with their flat input and output tensors:
    ``[(op, inputs, outputs), ...]``."""
    if isinstance(model, keras.Sequential):
        # A chain: key the tensors by position (a Sequential loaded from a
        # file may hold layer tensors of another graph than its inputs).
        layers = [ly for ly in model.layers if not _is_input_layer(ly)]
        keys = [model.inputs[0]] + [object() for _ in layers[:-1]]
        keys.append(model.outputs[0])
        return [(ly, [keys[i]], [keys[i + 1]]) for i, ly in enumerate(layers)]
    ops = [op for op in model.operations if not _is_input_layer(op)]
    rows = []
    for op in ops:
        try:
            inputs, outputs = _call_tensors(op)
        except (AttributeError, ValueError) as e:
            raise ValueError(
                f"Cannot walk model '{model.name}': operation "
                f"'{getattr(op, 'name', op)}' has no single call in the graph "
                f"(a shared layer?). Underlying error: {e}"
            ) from None
        rows.append((op, inputs, outputs))
    # Functional keeps operations by depth; sort topologically to be sure.
    produced = {id(t) for t in _flat(model.inputs)}
    ordered, pending = [], rows
    while pending:
        ready = [r for r in pending if all(id(t) in produced for t in r[1])]
        if not ready:
            names = [getattr(r[0], "name", "?") for r in pending[:5]]
            raise ValueError(
                f"Cannot walk model '{model.name}': operations {names} depend "
                "on tensors that no operation of the model produces."
            )
        for r in ready:
            produced.update(id(t) for t in r[2])
        ordered.extend(ready)
        ready_ids = {id(r) for r in ready}
        pending = [r for r in pending if id(r) not in ready_ids]
    return ordered


def _runner(op, inputs, outputs, chained):
    """A callable running one operation on one batch per flat input, with
    the operation's own call structure (a Functional model built from the
    operation's input tensors to its output tensors)."""
    if chained:  # a Sequential's layer: one tensor in, one out
        return lambda xs: [op(xs[0], training=False)]
    unique = []
    for t in inputs:
        if all(t is not u for u in unique):
            unique.append(t)
    position = [next(i for i, u in enumerate(unique) if u is t) for t in inputs]
    sub = keras.Model(unique, list(outputs))

    def run(xs):
        args = [None] * len(unique)
        for p, x in zip(position, xs):
            args[p] = x
        return _flat(sub(args, training=False))

    return run


def walk(
    model: keras.Model,
    batches: Sequence,
    on_batchnorm: Callable,
    progress: Callable | None = None,
) -> list:
    """Runs ``model`` over ``batches`` operation by operation.

    Args:
        model: A Sequential or Functional model with one input (nested
            graph models inside are walked too).
        batches: The input batches (a list of arrays).
        on_batchnorm: Called as ``on_batchnorm(layer, inputs)`` with a
            BatchNormalization layer and the list of its input batches,
            before the layer runs on them.
        progress: Called with no argument after each operation.

    Returns:
        The model's output batches, one list per flat output.
    """
    store = {id(model.inputs[0]): list(batches)}
    _walk(model, store, on_batchnorm, progress)
    return [store[id(t)] for t in _flat(model.outputs)]


def count_operations(model: keras.Model) -> int:
    """Number of operations :func:`walk` runs (nested models included)."""
    total = 0
    for op, _, _ in graph_operations(model):
        total += count_operations(op) if is_graph_model(op) else 1
    return total


def _walk(model, store, on_batchnorm, progress):
    rows = graph_operations(model)
    chained = isinstance(model, keras.Sequential)
    uses = {}
    for _, inputs, _ in rows:
        for t in inputs:
            uses[id(t)] = uses.get(id(t), 0) + 1
    keep = {id(t) for t in _flat(model.outputs)}
    for op, inputs, outputs in rows:
        in_batches = [store[id(t)] for t in inputs]
        if is_graph_model(op):
            inner_inputs = _flat(op.inputs)
            if len(inner_inputs) != len(inputs):
                raise ValueError(
                    f"Cannot walk nested model '{op.name}': it takes "
                    f"{len(inner_inputs)} inputs, called with {len(inputs)}."
                )
            inner = {id(t): b for t, b in zip(inner_inputs, in_batches)}
            _walk(op, inner, on_batchnorm, progress)
            results = [inner[id(t)] for t in _flat(op.outputs)]
        else:
            if isinstance(op, keras.layers.BatchNormalization):
                on_batchnorm(op, in_batches[0])
            run = _runner(op, inputs, outputs, chained)
            per_batch = [run(list(xs)) for xs in zip(*in_batches)]
            results = [list(col) for col in zip(*per_batch)]
            if progress is not None:
                progress()
        for t, b in zip(outputs, results):
            store[id(t)] = b
        for t in inputs:
            uses[id(t)] -= 1
            if uses[id(t)] == 0 and id(t) not in keep:
                store.pop(id(t), None)
