"""``ternarize``: a float Keras model -> an STTN Keras model (ternary layers)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import keras
import numpy as np

from . import layers as layers_lib
from . import quantizers as quantizers_lib
from . import summary_lib
from ._checks import resolve_verbose
from .export.op_support import is_graph_model, unsupported_reason

__all__ = ["ternarize", "warm_start_latent_kernels"]

logger = logging.getLogger(__name__)

# Float layer type -> ternary layer type. Exact types only: a subclass of
# Conv2D may change the math, so it is reported rather than converted.
_CONVERTIBLE = {
    keras.layers.Conv2D: layers_lib.TernaryConv2D,
    keras.layers.Dense: layers_lib.TernaryDense,
    keras.layers.DepthwiseConv2D: layers_lib.TernaryDepthwiseConv2D,
    # A ternary depthwise + ternary 1x1 pair (see _separable_halves).
    keras.layers.SeparableConv2D: layers_lib.TernaryConv2D,
}
_DROPPED_DENSE_KEYS = ("lora_rank", "lora_alpha", "quantization_config")


def _check_model(model, outer=None):
    if not isinstance(model, keras.Model):
        raise ValueError(
            "Received an invalid value for `model`, expected a keras.Model. "
            f"Received: model={model!r}"
        )
    if not is_graph_model(model):
        where = f" (nested in '{outer}')" if outer else ""
        raise ValueError(
            f"Cannot ternarize model '{model.name}'{where} of type "
            f"{type(model).__name__}: only Sequential and Functional models "
            "can be cloned layer by layer. Rebuild a subclassed model with "
            "sttn_keras.layers directly."
        )
    if not model.built:
        raise ValueError(
            f"Model '{model.name}' is not built: give it an Input or call it "
            "once before ternarize()."
        )
    seen = set()
    for layer in model.layers:
        if id(layer) in seen:
            raise ValueError(
                f"Cannot ternarize model '{model.name}': layer '{layer.name}' "
                "appears more than once (shared layer)."
            )
        seen.add(id(layer))
        if isinstance(layer, keras.Model):
            _check_model(layer, outer=model.name)
    if isinstance(model, keras.Sequential):
        return
    config = model.get_config()
    for layer_config in config.get("layers", []):
        nodes = layer_config.get("inbound_nodes", [])
        if len(nodes) > 1:
            raise ValueError(
                f"Cannot ternarize model '{model.name}': layer "
                f"'{layer_config['config']['name']}' is called "
                f"{len(nodes)} times (shared layer). Give each call its own "
                "layer."
            )


def _all_layers(model):
    """Every layer, nested models' layers included (depth first, in order)."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)
        else:
            yield layer


def _separable_halves(layer, kq, iq):
    """The ternary depthwise + pointwise pair that replaces a SeparableConv2D.

    The depthwise half (``<name>_depthwise``) has no bias and no activation,
    as inside SeparableConv2D; the pointwise half keeps the layer's name,
    bias and activation. Both ternarize their inputs: the depthwise output
    is ternarized before the 1x1 convolution, and the export chains the two
    ops bit-packed."""
    config = layer.get_config()
    common = dict(
        kernel_quantizer=quantizers_lib.serialize(kq),
        input_quantizer=quantizers_lib.serialize(iq),
        data_format=config["data_format"],
        dtype=config.get("dtype"),
        trainable=config.get("trainable", True),
    )
    depthwise = layers_lib.TernaryDepthwiseConv2D(
        kernel_size=config["kernel_size"],
        strides=config["strides"],
        padding=config["padding"],
        depth_multiplier=config["depth_multiplier"],
        dilation_rate=config["dilation_rate"],
        use_bias=False,
        activation=None,
        depthwise_initializer=config["depthwise_initializer"],
        depthwise_regularizer=config["depthwise_regularizer"],
        depthwise_constraint=config["depthwise_constraint"],
        name=f"{layer.name}_depthwise",
        **common,
    )
    pointwise = layers_lib.TernaryConv2D(
        filters=config["filters"],
        kernel_size=1,
        activation=config["activation"],
        use_bias=config["use_bias"],
        kernel_initializer=config["pointwise_initializer"],
        bias_initializer=config["bias_initializer"],
        kernel_regularizer=config["pointwise_regularizer"],
        bias_regularizer=config["bias_regularizer"],
        activity_regularizer=config["activity_regularizer"],
        kernel_constraint=config["pointwise_constraint"],
        bias_constraint=config["bias_constraint"],
        name=layer.name,
        **common,
    )
    return depthwise, pointwise


def warm_start_latent_kernels(
    kernel: np.ndarray,
    kernel_quantizer: quantizers_lib.QuantizerLike,
    reduce_axes: tuple[int, ...] | None = None,
    threshold_factor: float = 0.7,
) -> list[np.ndarray]:
    """Latent kernels that start a ternary layer at the TWN ternarisation.

    For ``"sttn"``: with ``s = max|W|`` (so ``W/s`` lies in [-1, 1]) and
    ``d = threshold_factor * mean|W/s|`` per output channel,
    ``W1 = W/s + d`` and ``W2 = W/s - d`` (clipped to [-1, 1]). Then
    ``sign(W1) + sign(W2) = 0`` exactly where ``|W/s| < d``: the same zeros
    and signs as TWN with ``Delta = 0.7 * mean|W|``, and the two kernels
    learn away from it. For ``"twn"`` (one latent kernel) the float kernel is
    used as it is.

    Args:
        kernel: Float kernel (numpy array).
        kernel_quantizer: A kernel quantizer instance.
        reduce_axes: Axes forming one output channel (default: all but last).
        threshold_factor: TWN factor for the initial zero band.

    Returns:
        A list of numpy arrays, one per latent kernel.

    Example:

    >>> w = np.array([[0.9], [0.1], [-0.5]], "float32")
    >>> w1, w2 = warm_start_latent_kernels(w, quantizers_lib.get("sttn"))
    >>> (np.where(w1 >= 0, 1, -1) + np.where(w2 >= 0, 1, -1)).ravel() // 2
    array([ 1,  0, -1])
    """
    kernel = np.asarray(kernel, dtype="float32")
    if kernel_quantizer.num_latent_kernels == 1:
        return [kernel]
    if reduce_axes is None:
        reduce_axes = tuple(range(kernel.ndim - 1))
    s = float(np.max(np.abs(kernel))) or 1.0
    w = kernel / s
    d = threshold_factor * np.mean(np.abs(w), axis=reduce_axes, keepdims=True)
    lo, hi = kernel_quantizer.latent_range or (-np.inf, np.inf)
    return [np.clip(w + d, lo, hi), np.clip(w - d, lo, hi)]


def ternarize(
    model: keras.Model,
    kernel_quantizer: quantizers_lib.QuantizerLike = "sttn",
    input_quantizer: quantizers_lib.QuantizerLike = "ternary",
    keep_first: bool = True,
    keep_last: bool = True,
    exclude: Iterable[str] = (),
    warm_start: bool = True,
    verbose: int | str = "auto",
) -> keras.Model:
    """Clones a float model into an STTN model, warm-started from its weights.

    Every ``Conv2D``, ``Dense`` and ``DepthwiseConv2D`` becomes the matching
    ternary layer (same configuration, same name), except the first and last
    of them by default (they usually need float precision). All other layers
    are cloned with their weights. Latent kernels are warm-started with
    :func:`warm_start_latent_kernels`, so the model begins at the TWN
    ternarisation of the float model.

    A ``SeparableConv2D`` becomes a ternary depthwise + ternary 1x1 pair:
    a ``TernaryDepthwiseConv2D`` named ``<name>_depthwise`` (no bias, no
    activation) and a 1x1 ``TernaryConv2D`` that keeps the layer's name,
    bias and activation; the depthwise output is ternarized before the 1x1
    convolution, and the export chains the two ops bit-packed. (A pair of
    existing layers rather than a new ``TernarySeparableConv2D``: they
    train, fold, export and summarise with the code and kernels the other
    layers use, and each half is visible to ``exclude`` and ``summary``.)
    Nested Sequential / Functional models (a backbone inside a classifier,
    ConvNeXt's stem) are ternarized inside and keep their structure; the
    first and last convertible layers are counted over the whole model.

    The result always exports (``sttn_keras.export.to_tflite``): a layer the
    sttn ops cannot express (dilation, groups, ``channels_first``, a
    ternary-input ``Dense`` on a rank-3 tensor) stays float. At the end,
    one report (:func:`~sttn_keras.summary_lib.float_layers_report`) lists
    every conv/dense layer that stays float, its MACs and why: printed with
    ``verbose``, and logged by the ``sttn_keras.float_to_sttn`` logger (a warning
    when the ops forced a layer float, else info). ``sttn.summary`` shows
    the same report.
    Any activation is fine: ``linear`` and ``relu`` are fused into the ops,
    the others (``silu``, ``sigmoid``, ``hard_silu``, ``relu6``, ...) run as
    builtin ops after them. Operations applied to Keras tensors inside the
    model (``x + 3.0``) are kept as they are. ``keras.applications`` models
    (MobileNetV2/V3, ResNet50, EfficientNetB0, DenseNet121) go through
    ternarize and export unchanged (``tests/test_applications.py``).

    Args:
        model: A built ``keras.Sequential`` or Functional model.
        kernel_quantizer: Kernel quantizer of the new layers (``"sttn"``,
            ``"twn"`` or ``None``).
        input_quantizer: Input quantizer of the new layers (``"ternary"`` or
            ``None`` for weights only).
        keep_first: Keep the first convertible layer float.
        keep_last: Keep the last convertible layer float.
        exclude: Names of further layers to keep float.
        warm_start: Copy the float weights (else fresh initialisation).
        verbose: ``1`` shows a progress bar (layers cloned) and prints the
            report of float layers, ``0`` neither, ``"auto"`` both only when
            standard output is a terminal.

    Returns:
        A new, uncompiled model of the same class.

    Raises:
        ValueError: For a subclassed or unbuilt model (nested ones too), a
            shared layer, or an unknown name in ``exclude``.

    Example:

    >>> float_model = keras.Sequential([
    ...     keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3),
    ...     keras.layers.Conv2D(4, 3), keras.layers.Flatten(),
    ...     keras.layers.Dense(10)])
    >>> student = ternarize(float_model)
    >>> [type(layer).__name__ for layer in student.layers]
    ['Conv2D', 'TernaryConv2D', 'Flatten', 'Dense']
    """
    _check_model(model)
    kq = quantizers_lib.get(
        kernel_quantizer, kind="kernel", argument="kernel_quantizer"
    )
    iq = quantizers_lib.get(input_quantizer, kind="input", argument="input_quantizer")
    if kq is None and iq is None:
        raise ValueError(
            "Received kernel_quantizer=None and input_quantizer=None: "
            "ternarize() would change nothing."
        )
    every = list(_all_layers(model))
    names = {layer.name for layer in every}
    unknown = sorted(set(exclude) - names)
    if unknown:
        raise ValueError(
            f"Received an invalid value for `exclude`: no layer named "
            f"{unknown} in model '{model.name}'. Received: exclude={exclude!r}"
        )
    show = resolve_verbose(verbose)

    candidates = [ly for ly in every if type(ly) in _CONVERTIBLE]
    reasons = {}  # layer name -> why it stays float
    for ly in candidates:
        reason = unsupported_reason(ly, ternary_input=iq is not None)
        if reason is not None:
            reasons[ly.name] = reason
    for name in exclude:
        reasons.setdefault(name, "in `exclude`")
    if candidates and keep_first:
        reasons.setdefault(
            candidates[0].name, "first conv/dense layer (keep_first=True)"
        )
    if candidates and keep_last:
        reasons.setdefault(
            candidates[-1].name, "last conv/dense layer (keep_last=True)"
        )
    to_convert = {id(ly) for ly in candidates if ly.name not in reasons}

    clones = {}  # id(float layer) -> new layer, or (depthwise, pointwise)
    depthwise_of = {}  # id(pointwise half) -> depthwise half
    bar = keras.utils.Progbar(len(every), unit_name="layer") if show else None

    def clone_layer(layer):
        if is_graph_model(layer):
            return clone_graph(layer)
        config = layer.get_config()
        if id(layer) in to_convert and type(layer) is keras.layers.SeparableConv2D:
            depthwise, new = _separable_halves(layer, kq, iq)
            depthwise_of[id(new)] = depthwise
            clones[id(layer)] = (depthwise, new)
        elif id(layer) in to_convert:
            for key in _DROPPED_DENSE_KEYS:
                config.pop(key, None)
            new = _CONVERTIBLE[type(layer)].from_config(
                {
                    **config,
                    "kernel_quantizer": quantizers_lib.serialize(kq),
                    "input_quantizer": quantizers_lib.serialize(iq),
                }
            )
            clones[id(layer)] = new
        else:
            new = type(layer).from_config(config)
            clones[id(layer)] = new
        if bar is not None and isinstance(layer, keras.layers.Layer):
            bar.add(1)
        return new

    def call_layer(layer, *args, **kwargs):
        depthwise = depthwise_of.get(id(layer))
        if depthwise is not None:
            return layer(depthwise(*args, **kwargs))
        return layer(*args, **kwargs)

    def clone_graph(graph):
        if not isinstance(graph, keras.Sequential):
            return keras.models.clone_model(
                graph, clone_function=clone_layer, call_function=call_layer
            )
        new_layers = []
        for layer in graph.layers:
            new = clone_layer(layer)
            if id(new) in depthwise_of:
                new_layers.append(depthwise_of[id(new)])
            new_layers.append(new)
        source = graph.inputs[0]
        return keras.Sequential(
            [keras.Input(batch_shape=source.shape, dtype=source.dtype), *new_layers],
            name=graph.name,
        )

    new_model = clone_graph(model)
    if warm_start:
        for layer in every:
            new = clones.get(id(layer))
            if new is not None and layer.weights:
                _warm_start(layer, new, id(layer) in to_convert)
    report = summary_lib.float_layers_report(new_model, reasons)
    if show:
        print(f"ternarize '{model.name}': {report}")
    # A warning when the ops forced a layer float (the user did not ask for
    # it); the default keep_first / keep_last alone is only logged as info.
    forced = (
        [
            row
            for row in report.layers
            if row.name not in (candidates[0].name, candidates[-1].name)
            and row.name not in set(exclude)
        ]
        if candidates
        else []
    )
    level = logging.WARNING if forced else logging.INFO
    logger.log(level, "ternarize '%s': %s", model.name, report)
    return new_model


def _warm_start(layer, new, converted):
    if not converted:
        new.set_weights(layer.get_weights())
        return
    if isinstance(new, tuple):  # SeparableConv2D -> depthwise + pointwise
        depthwise, pointwise = new
        kernels = [
            (depthwise, layer.depthwise_kernel),
            (pointwise, layer.pointwise_kernel),
        ]
    else:
        pointwise, kernels = new, [(new, layer.kernel)]
    for target, kernel in kernels:
        kernel = keras.ops.convert_to_numpy(kernel)
        latents = (
            [kernel]
            if target.kernel_quantizer is None
            else warm_start_latent_kernels(
                kernel, target.kernel_quantizer, target._reduce_axes()
            )
        )
        for variable, value in zip(target.latent_kernels, latents):
            variable.assign(value)
    if layer.use_bias:
        pointwise.bias.assign(layer.bias)
