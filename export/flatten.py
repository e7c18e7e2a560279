"""Flattening nested models (a model used as a layer) into one graph.

The export folds and replaces layers of one Functional graph: a model
inside a model (ConvNeXt's stem ``Sequential``, a backbone inside a
classifier) is inlined first. :func:`flatten_nested` rebuilds the graph with
every nested Sequential or Functional model's layers called directly on the
outer tensors: each layer is a fresh copy (same config, same weights), so
the original model is left as it is and every layer of the result has
exactly one call. The flat model computes the same function.

Example:

>>> inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")], name="inner")
>>> outer = keras.Sequential([keras.Input((3,)), inner, keras.layers.Dense(1, name="head")])
>>> [layer.name for layer in flatten_nested(outer).layers[1:]]
['d', 'head']
"""

from __future__ import annotations

import keras

from .op_support import call_tensors as _call_tensors
from .op_support import is_graph_model

__all__ = ["flatten_nested", "has_nested_model"]


def has_nested_model(model: keras.Model) -> bool:
    """True when a layer of ``model`` is itself a Sequential or Functional model.

    Example:

    >>> has_nested_model(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]))
    False
    """
    return any(is_graph_model(layer) for layer in model.layers)


def flatten_nested(model: keras.Model) -> keras.Model:
    """``model`` with its nested graph models inlined (``model`` itself when
    it has none). See the module docstring.

    Args:
        model: A Sequential or Functional model.

    Returns:
        A Functional model with no nested model, named as ``model``.

    Example:

    >>> inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)], name="inner")
    >>> outer = keras.Sequential([keras.Input((3,)), inner])
    >>> has_nested_model(outer), has_nested_model(flatten_nested(outer))
    (True, False)
    """
    if not has_nested_model(model):
        return model
    inputs = [
        keras.Input(batch_shape=t.shape, dtype=t.dtype, name=f"{model.name}_input{i}")
        for i, t in enumerate(model.inputs)
    ]
    outputs = _inline(model, inputs)
    return keras.Model(
        inputs if len(inputs) > 1 else inputs[0],
        outputs if len(outputs) > 1 else outputs[0],
        name=model.name,
    )


def _copy(layer):
    return type(layer).from_config(layer.get_config())


def _inline(graph, args):
    """Calls copies of ``graph``'s layers on ``args`` (a flat list of
    symbolic tensors, one per input of ``graph``); returns its flat outputs."""
    if isinstance(graph, keras.Sequential):
        x = args[0]
        for layer in graph.layers:
            if is_graph_model(layer):
                x = _inline(layer, [x])[0]
            else:
                new = _copy(layer)
                x = new(x)
                new.set_weights(layer.get_weights())
        return [x]
    originals = {}
    produced = {}  # id(tensor of `graph`) -> the tensor that replaces it

    def clone(op):
        if is_graph_model(op):
            return op  # inlined by call() below
        new = _copy(op)
        originals[id(new)] = op
        return new

    def call(op, *call_args, **kwargs):
        original = originals.get(id(op), op)
        if is_graph_model(op):
            flat = list(keras.tree.flatten((call_args, kwargs)))
            outputs = _inline(op, flat[: len(op.inputs)])
            result = outputs if len(outputs) > 1 else outputs[0]
        else:
            result = op(*call_args, **kwargs)
            if isinstance(original, keras.layers.Layer) and original.weights:
                op.set_weights(original.get_weights())
        # `clone_model` returns a model whose outputs are copies of the
        # tensors built here (a Functional built from intermediate tensors
        # clones its nodes): remember the tensors of this graph instead.
        _, old_outputs = _call_tensors(original)
        for old, new in zip(old_outputs, keras.tree.flatten(result)):
            produced[id(old)] = new
        return result

    structure = args if len(args) > 1 else args[0]
    keras.models.clone_model(
        graph, input_tensors=structure, clone_function=clone, call_function=call
    )
    return [produced[id(t)] for t in graph.outputs]
