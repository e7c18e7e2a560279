"""Folding a trained STTN model into deployable constants.

For every ternary layer:

* the two latent kernels merge into one ternary kernel with one scale per
  output channel (``layer.get_ternary_kernel()``);
* a BatchNormalization right after it (its only consumer, no activation in
  between) folds into that scale and the bias:
  ``scale' = scale * g / s``, ``bias' = (bias - mean) * g / s + beta`` with
  ``s = sqrt(var + eps)``;
* a BatchNormalization right before it (whose output feeds only this layer)
  plus the ternary activation fold into per-channel thresholds of the
  ``SttnTernarize`` op: with ``y = m x + a`` (``m = g / s``,
  ``a = beta - mean * m``) and threshold ``th``, ``t = +1`` iff
  ``y > th`` and ``t = -1`` iff ``y < -th`` become comparisons on ``x``,
  flipped where ``m < 0`` (see docs/op-format.md).

Then, where a ternary layer's output reaches exactly one other ternary layer
with a ternary input, through nothing but ReLU/ReLU6 activations and that
layer's folded BatchNormalization (single consumers all along), the two are
chained bit-packed: the producer's op writes its output already ternarized
(op format version 2, ``output = "PACKED"``) with the consumer's thresholds
composed with the activations (:func:`thresholds_through_clamp`), and the
consumer reads it without an ``SttnTernarize``: no float tensor, activation
op or ternarize op in between (Larq Compute Engine's "bitpacked output").

Anything the ops cannot express raises :class:`ExportError` naming the layer.
Nothing falls back to float silently.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import keras
import numpy as np

from sttn_keras import layers as sl
from sttn_keras import quantizers as sq

from .errors import ExportError
from .flatten import flatten_nested
from .op_support import is_graph_model, unsupported_reason

__all__ = [
    "ExportError",
    "FoldedLayer",
    "FoldPlan",
    "fold_model",
    "split_activation",
    "unsupported_reason",
]


@dataclasses.dataclass
class FoldedLayer:
    """The deployable constants of one ternary layer.

    Attributes:
        name: The ternary layer's name.
        kind: ``"conv2d"``, ``"fully_connected"`` or ``"depthwise_conv2d"``.
        trits: int8 kernel in {-1, 0, 1}, in the op's weight order (OHWI for
            conv2d, ``[out, in]`` for fully connected, ``[kh, kw, C * mult]``
            for depthwise).
        scale: float32 ``[out_channels]``.
        bias: float32 ``[out_channels]``.
        thresholds: float32 ``[3, in_channels]`` (lo, hi, sign) for a ternary
            input, ``None`` for a float input (weights-only layer).
        activation: The activation the op fuses: ``"NONE"`` or ``"RELU"``.
        options: The op's geometry (in/out channels, kernel, strides,
            padding, depth multiplier).
        pre_bn: Name of the BatchNormalization folded into the thresholds.
        post_bn: Name of the BatchNormalization folded into scale and bias.
        output_thresholds: float32 ``[3, out_channels]`` when the op writes
            its output ternarized and packed (chained to the next ternary
            layer), else ``None``.
        input_packed: The input arrives packed from the previous ternary
            layer (no ``SttnTernarize`` before this op).
        post_activation: The layer's own activation when the op cannot fuse
            it (anything but linear and ReLU: ``silu``, ``sigmoid``,
            ``relu6``, ``hard_silu``, ``gelu``, ...): a Keras activation
            applied to the op's output, which the converter turns into
            builtin ops after the custom op. ``None`` otherwise.

    Example:

    >>> folded = fold_model(model).layers["conv2"]
    >>> folded.kind, folded.trits.shape, folded.scale.shape, folded.thresholds.shape
    ('conv2d', (64, 3, 3, 32), (64,), (3, 32))
    """

    name: str
    kind: str
    trits: np.ndarray
    scale: np.ndarray
    bias: np.ndarray
    thresholds: np.ndarray | None
    activation: str
    options: dict
    pre_bn: str | None = None
    post_bn: str | None = None
    output_thresholds: np.ndarray | None = None
    input_packed: bool = False
    post_activation: Callable | None = None


@dataclasses.dataclass
class FoldPlan:
    """All folded layers of a model, the BatchNormalizations they absorb and
    the activation layers absorbed by bit-packed chaining.

    Example:

    >>> plan = fold_model(model)
    >>> sorted(plan.layers), len(plan.folded_bns) > 0
    (['conv2', 'conv3', 'fc'], True)
    """

    layers: dict
    folded_bns: set
    fused_activations: set = dataclasses.field(default_factory=set)
    packed_pads: set = dataclasses.field(default_factory=set)


# -- graph ---------------------------------------------------------------------


def _keras_history_names(structure, out):
    if isinstance(structure, dict):
        if structure.get("class_name") == "__keras_tensor__":
            out.append(structure["config"]["keras_history"][0])
            return
        for value in structure.values():
            _keras_history_names(value, out)
    elif isinstance(structure, (list, tuple)):
        for value in structure:
            _keras_history_names(value, out)


def _graph(model):
    """(producers, consumers): layer name -> list of layer names."""
    producers, consumers = {}, {}
    names = [ly.name for ly in model.layers]
    for name in names:
        producers[name], consumers[name] = [], []
    if isinstance(model, keras.Sequential):
        for a, b in zip(names, names[1:]):
            producers[b].append(a)
            consumers[a].append(b)
        if names:
            consumers[names[-1]].append("<output>")
        return producers, consumers
    config = model.get_config()
    for layer_config in config["layers"]:
        name = layer_config["config"]["name"]
        for node in layer_config.get("inbound_nodes", []):
            inputs = []
            _keras_history_names(node, inputs)
            for src in inputs:
                # Operations applied to Keras tensors (``x + 3.0`` in
                # MobileNetV3's hard_sigmoid) are nodes of the config but
                # not layers of the model.
                producers.setdefault(name, []).append(src)
                consumers.setdefault(src, []).append(name)
    # [name, node, tensor] for one output, a list of those for several.
    outputs = config.get("output_layers", [])
    if outputs and isinstance(outputs[0], str):
        outputs = [outputs]
    for name, *_ in outputs:
        consumers.setdefault(name, []).append("<output>")
    return producers, consumers


# -- per-layer folding -----------------------------------------------------------


def _bn_affine(bn):
    """(m, a) with BN(x) = m * x + a per channel, for a channels-last BN."""
    axis = bn.axis if isinstance(bn.axis, int) else tuple(bn.axis)
    if axis not in (-1, 3, 1) or (axis != -1 and axis != len(bn.input.shape) - 1):
        raise ExportError(
            f"BatchNormalization '{bn.name}' normalises axis {bn.axis}; only the "
            "last (channels) axis can be folded."
        )
    mean = keras.ops.convert_to_numpy(bn.moving_mean).astype(np.float64)
    var = keras.ops.convert_to_numpy(bn.moving_variance).astype(np.float64)
    gamma = (
        keras.ops.convert_to_numpy(bn.gamma).astype(np.float64)
        if bn.scale
        else np.ones_like(mean)
    )
    beta = (
        keras.ops.convert_to_numpy(bn.beta).astype(np.float64)
        if bn.center
        else np.zeros_like(mean)
    )
    m = gamma / np.sqrt(var + bn.epsilon)
    return m, beta - mean * m


def thresholds_from_affine(m, a, threshold):
    """Per-channel (lo, hi, sign) for ``t = ternary(m * x + a)``.

    Example:

    >>> thresholds_from_affine(np.array([2.0]), np.array([0.0]), 0.5).ravel().tolist()
    [-0.25, 0.25, 1.0]
    """
    m = np.asarray(m, np.float64)
    a = np.asarray(a, np.float64)
    lo = np.empty_like(m)
    hi = np.empty_like(m)
    sgn = np.ones_like(m)
    pos, neg, zero = m > 0, m < 0, m == 0
    lo[pos] = (-threshold - a[pos]) / m[pos]
    hi[pos] = (threshold - a[pos]) / m[pos]
    lo[neg] = (threshold - a[neg]) / m[neg]
    hi[neg] = (-threshold - a[neg]) / m[neg]
    sgn[neg] = -1.0
    # m == 0: the BN output is the constant a; encode its ternary value.
    const_plus = zero & (a > threshold)
    const_minus = zero & (a < -threshold)
    const_zero = zero & ~const_plus & ~const_minus
    lo[const_plus], hi[const_plus] = -np.inf, -np.inf
    lo[const_minus], hi[const_minus] = np.inf, np.inf
    lo[const_zero], hi[const_zero] = -np.inf, np.inf
    return np.stack([lo, hi, sgn]).astype(np.float32)


def thresholds_through_clamp(thresholds, cap):
    """Thresholds on ``y`` equivalent to ``thresholds`` on ``clamp(y, 0, cap)``.

    ``[clamp(y) > hi]`` is always true for ``hi < 0``, ``[y > hi]`` for
    ``0 <= hi < cap`` and never true for ``hi >= cap``; likewise for
    ``[clamp(y) < lo]``. Infinite thresholds express "always" and "never"
    (as ``SttnTernarize`` does for a BatchNormalization with zero gain).
    ``cap`` is ``inf`` for ReLU, 6 for ReLU6.

    Example:

    >>> th = np.array([[-0.5], [0.5], [1.0]], np.float32)
    >>> thresholds_through_clamp(th, 6.0).ravel().tolist()
    [-inf, 0.5, 1.0]
    """
    lo = np.asarray(thresholds[0], np.float64).copy()
    hi = np.asarray(thresholds[1], np.float64).copy()
    sgn = np.asarray(thresholds[2], np.float32)
    new_hi = np.where(hi < 0, -np.inf, np.where(hi >= cap, np.inf, hi))
    new_lo = np.where(lo <= 0, -np.inf, np.where(lo > cap, np.inf, lo))
    return np.stack([new_lo.astype(np.float32), new_hi.astype(np.float32), sgn])


def _clamp_cap(layer):
    """``cap`` when ``layer`` computes ``clamp(x, 0, cap)`` elementwise, else None."""
    if isinstance(layer, keras.layers.ReLU):
        if float(layer.negative_slope) != 0.0 or float(layer.threshold) != 0.0:
            return None
        return np.inf if layer.max_value is None else float(layer.max_value)
    if isinstance(layer, keras.layers.Activation):
        act = layer.activation
        name = getattr(act, "__name__", None) or type(act).__name__
        return {"relu": np.inf, "relu6": 6.0}.get(name)
    return None


# Activations the sttn ops apply in their epilogue (op option `activation`).
_FUSED_ACTIVATIONS = {"linear": "NONE", "relu": "RELU"}


def split_activation(layer: keras.layers.Layer) -> tuple[str, Callable | None]:
    """``(fused, post)``: the activation the sttn op fuses (``"NONE"`` or
    ``"RELU"``) and the rest of the layer's activation, to run after the op.

    ``linear`` and ``relu`` (Keras's functions) are fused; any other
    activation (``silu``, ``sigmoid``, ``relu6``, ``hard_silu``, ``gelu``,
    a ``ReLU`` layer object, ...) is returned as ``post``, the callable the
    layer applies, and the export model calls it on the op's output, so the
    converter emits it as builtin ops (``LOGISTIC`` + ``MUL`` for ``silu``,
    ``HARD_SWISH``, ``RELU6``, ``GELU``, ...).

    Example:

    >>> split_activation(keras.layers.Dense(2, activation="relu"))
    ('RELU', None)
    >>> fused, post = split_activation(keras.layers.Dense(2, activation="silu"))
    >>> fused, post.__name__
    ('NONE', 'silu')
    """
    act = layer.activation
    if act is None:
        return "NONE", None
    name = getattr(act, "__name__", None)
    if name in _FUSED_ACTIVATIONS and act is keras.activations.get(name):
        return _FUSED_ACTIVATIONS[name], None
    return "NONE", act


def _has_activation(layer):
    return split_activation(layer) != ("NONE", None)


def _check_supported(layer):
    reason = unsupported_reason(layer, layer.input_quantizer is not None)
    if reason is not None:
        raise ExportError(reason)
    if layer.kernel_quantizer is None:
        raise ExportError(
            f"Layer '{layer.name}' has a float kernel (kernel_quantizer=None); the "
            "sttn ops need ternary weights. Export refuses rather than keeping it float."
        )
    iq = layer.input_quantizer
    if iq is not None and not isinstance(iq, sq.TernaryActivation):
        raise ExportError(
            f"Layer '{layer.name}' has input_quantizer {iq!r}; only "
            "TernaryActivation ('ternary') or None can be exported."
        )


def _fold_layer(layer, pre_bn, post_bn):
    _check_supported(layer)
    activation, post_activation = split_activation(layer)
    trits, scale = layer.get_ternary_kernel()
    scale = scale.astype(np.float64)
    out_channels = scale.shape[0]
    bias = (
        keras.ops.convert_to_numpy(layer.bias).astype(np.float64)
        if layer.use_bias
        else np.zeros(out_channels)
    )
    if post_bn is not None:
        m, a = _bn_affine(post_bn)
        scale, bias = scale * m, bias * m + a

    if isinstance(layer, keras.layers.Conv2D | keras.layers.DepthwiseConv2D):
        kh, kw = trits.shape[:2]
        geometry = dict(
            kernel_h=kh,
            kernel_w=kw,
            stride_h=int(layer.strides[0]),
            stride_w=int(layer.strides[1]),
            padding=layer.padding.upper(),
        )
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kind = "depthwise_conv2d"
        _, _, cin, mult = trits.shape
        op_trits = trits.reshape(kh, kw, cin * mult)
        options = dict(in_channels=cin, depth_multiplier=mult, **geometry)
    elif isinstance(layer, keras.layers.Conv2D):
        kind = "conv2d"
        _, _, cin, cout = trits.shape
        op_trits = np.transpose(trits, (3, 0, 1, 2))
        options = dict(in_channels=cin, out_channels=cout, **geometry)
    else:
        kind = "fully_connected"
        cin, cout = trits.shape
        op_trits = trits.T
        options = dict(in_channels=cin, out_channels=cout)

    thresholds = None
    cin = options["in_channels"]
    if layer.input_quantizer is not None:
        th = layer.input_quantizer.threshold
        if pre_bn is not None:
            m, a = _bn_affine(pre_bn)
        else:
            m, a = np.ones(cin), np.zeros(cin)
        thresholds = thresholds_from_affine(m, a, th)
    return FoldedLayer(
        name=layer.name,
        kind=kind,
        trits=np.ascontiguousarray(op_trits, np.int8),
        scale=scale.astype(np.float32),
        bias=bias.astype(np.float32),
        thresholds=thresholds,
        activation=activation,
        options=options,
        pre_bn=pre_bn.name if pre_bn is not None else None,
        post_bn=post_bn.name if post_bn is not None else None,
        post_activation=post_activation,
    )


def fold_model(model: keras.Model) -> FoldPlan:
    """Folds every ternary layer of a model (and adjacent BatchNorms).

    Args:
        model: A built Sequential or Functional Keras model (nested
            Sequential / Functional models are inlined first,
            :func:`~.flatten.flatten_nested`).

    Returns:
        A :class:`FoldPlan`.

    Raises:
        ExportError: If a ternary layer uses a feature the ops lack, or the
            model is not a Sequential or Functional model.

    Example:

    >>> plan = fold_model(model)
    >>> plan.layers["conv2"].trits.shape
    (64, 3, 3, 32)
    """
    if not is_graph_model(model):
        raise ExportError(
            "Only Sequential and Functional Keras models can be exported. "
            f"Received: model of type {type(model).__name__}"
        )
    model = flatten_nested(model)
    producers, consumers = _graph(model)
    by_name = {ly.name: ly for ly in model.layers}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            raise ExportError(
                f"Layer '{layer.name}' is a nested subclassed model "
                f"({type(layer).__name__}): its graph cannot be read. Rebuild it "
                "as a functional model."
            )

    def single(names):
        return names[0] if len(names) == 1 else None

    plan = FoldPlan(layers={}, folded_bns=set())
    for layer in model.layers:
        if not isinstance(layer, sl.TernaryLayerMixin):
            continue
        pre = by_name.get(single(producers[layer.name]) or "")
        pre_bn = None
        if (
            isinstance(pre, keras.layers.BatchNormalization)
            and layer.input_quantizer is not None
            and consumers.get(pre.name) == [layer.name]
        ):
            pre_bn = pre
        post = by_name.get(single(consumers[layer.name]) or "")
        post_bn = None
        if (
            isinstance(post, keras.layers.BatchNormalization)
            and not _has_activation(layer)
            and producers.get(post.name) == [layer.name]
            and post.name not in plan.folded_bns
        ):
            post_bn = post
        if pre_bn is not None and pre_bn.name in plan.folded_bns:
            pre_bn = None
        folded = _fold_layer(layer, pre_bn, post_bn)
        plan.layers[layer.name] = folded
        plan.folded_bns.update(n for n in (folded.pre_bn, folded.post_bn) if n)
    _chain_packed(plan, by_name, producers, consumers)
    return plan


def _is_zero_padding(layer):
    return (
        isinstance(layer, keras.layers.ZeroPadding2D)
        and getattr(layer, "data_format", "channels_last") == "channels_last"
    )


def _ternary_of_zero_is_zero(th):
    """True when ``sgn * ([0 > hi] - [0 < lo])`` is 0 on every channel."""
    return bool(np.all((0.0 > th[1]) == (0.0 < th[0])))


def _chain_packed(plan, by_name, producers, consumers):
    """Marks producer/consumer pairs of ternary layers that can pass their
    activations bit-packed (see the module docstring). Between them may sit
    ReLU/ReLU6 layers (absorbed into the thresholds) and ZeroPadding2D
    layers (kept: they pad the packed tensor with zero words, which is exact
    where the consumer maps 0 to the trit 0)."""

    def only(names):
        return names[0] if len(names) == 1 else None

    for name, folded in plan.layers.items():
        if folded.post_activation is not None:
            continue  # its activation runs as builtins on the float output
        cur = folded.post_bn or name
        if folded.post_bn and producers.get(cur) != [name]:
            continue
        chain = []  # ("clamp", cap, layer name) or ("pad", None, layer name)
        nxt = only(consumers.get(cur, []))
        while nxt is not None and nxt in by_name and producers.get(nxt) == [cur]:
            layer = by_name[nxt]
            cap = _clamp_cap(layer)
            if cap is not None:
                chain.append(("clamp", cap, nxt))
            elif _is_zero_padding(layer):
                chain.append(("pad", None, nxt))
            else:
                break
            cur, nxt = nxt, only(consumers.get(nxt, []))
        if nxt is None or nxt not in by_name:
            continue
        target = plan.layers.get(nxt)
        if target is None:
            # The consumer's folded pre-BN sits between: step over it.
            following = only(consumers.get(nxt, []))
            target = plan.layers.get(following or "")
            if target is None or target.pre_bn != nxt or producers.get(nxt) != [cur]:
                continue
            cur = nxt
        if target.thresholds is None or target.input_packed:
            continue
        if producers.get(target.name) != [cur]:
            continue
        th = target.thresholds
        exact = True
        for kind, cap, _ in reversed(chain):
            if kind == "clamp":
                th = thresholds_through_clamp(th, cap)
            elif not _ternary_of_zero_is_zero(th):
                exact = False
                break
        if not exact:
            continue
        folded.output_thresholds = th.astype(np.float32)
        target.input_packed = True
        plan.fused_activations.update(n for kind, _, n in chain if kind == "clamp")
        plan.packed_pads.update(n for kind, _, n in chain if kind == "pad")
