"""What the sttn ops can express: the part of the op contract that decides,
layer by layer, whether a Keras layer can become an sttn op.

``sttn_keras.float_to_sttn`` (``ternarize`` keeps float what the ops cannot
express) and ``export.folding`` (the export refuses it) both ask here, so
the two never disagree. A leaf: it imports Keras and nothing of this
project.

Example:

>>> is_graph_model(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
True
"""

from __future__ import annotations

import keras

__all__ = ["call_tensors", "is_graph_model", "unsupported_reason"]


def is_graph_model(model: object) -> bool:
    """True for a Sequential or Functional model (not a subclassed one),
    without importing Keras's private Functional class.

    Example:

    >>> is_graph_model(keras.layers.Dense(1))
    False
    """
    return isinstance(model, keras.Model) and type(model).__name__ in (
        "Sequential",
        "Functional",
    )


def call_tensors(op: object) -> tuple[list, list]:
    """The flat input and output tensors of ``op``'s (first) call in the
    graph that holds it (for a nested model: its call, not its own inputs).

    Example:

    >>> x = keras.Input((2,)); layer = keras.layers.Dense(1); y = layer(x)
    >>> [t is x for t in call_tensors(layer)[0]]
    [True]
    """
    if isinstance(op, keras.Model):
        # A model's ``input`` / ``output`` are its own graph's tensors, not
        # those of its call in the outer graph: read the call's node (Keras
        # has no public accessor for it).
        node = op._inbound_nodes[0]
        return _flat(node.input_tensors), _flat(node.output_tensors)
    return _flat(op.input), _flat(op.output)


def _flat(structure):
    return list(keras.tree.flatten(structure))


def unsupported_reason(
    layer: keras.layers.Layer, ternary_input: bool = True
) -> str | None:
    """Why the sttn ops cannot express a conv/dense layer, or ``None``.

    The geometry checks of the export, applied to a float ``Conv2D``,
    ``DepthwiseConv2D``, ``SeparableConv2D`` or ``Dense`` as well as to
    their ternary versions:
    ``ternarize`` keeps a layer float when this returns a reason, so that it
    never produces a layer the export refuses. Activations are never a
    reason (see :func:`split_activation`).

    Args:
        layer: A Keras conv or dense layer (built, called once).
        ternary_input: Whether the layer's input will be ternarized (the
            ``SttnTernarize`` op takes rank-2 and rank-4 tensors only).

    Returns:
        A sentence naming the layer and the feature, or ``None``.

    Example:

    >>> unsupported_reason(keras.layers.Conv2D(4, 3, dilation_rate=2, name="c"))
    "Layer 'c' has dilation_rate=(2, 2); the sttn conv ops support no dilation."
    >>> unsupported_reason(keras.layers.Conv2D(4, 3)) is None
    True
    """
    if isinstance(
        layer,
        (
            keras.layers.Conv2D,
            keras.layers.DepthwiseConv2D,
            keras.layers.SeparableConv2D,
        ),
    ):
        if layer.data_format != "channels_last":
            return (
                f"Layer '{layer.name}' uses data_format='{layer.data_format}'; the sttn "
                "ops take channels_last (NHWC) tensors."
            )
        if tuple(layer.dilation_rate) != (1, 1):
            return (
                f"Layer '{layer.name}' has dilation_rate={tuple(layer.dilation_rate)}; the "
                "sttn conv ops support no dilation."
            )
        if getattr(layer, "groups", 1) != 1:
            return (
                f"Layer '{layer.name}' has groups={layer.groups}; the sttn conv ops "
                "support no grouped convolution."
            )
    elif ternary_input and isinstance(layer, keras.layers.Dense):
        try:
            rank = len(layer.input.shape)
        except (AttributeError, ValueError):  # not called yet: nothing to check
            rank = None
        if rank not in (None, 2, 4):
            return (
                f"Layer '{layer.name}' takes a rank-{rank} input; the sttn ops "
                "ternarize rank-2 and rank-4 tensors only."
            )
    return None
