"""Conversion of a float Keras model into an STTN model (``ternarize``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import keras
import numpy as np

from . import layers as layers_lib
from . import quantizers as quantizers_lib

__all__ = ["ternarize", "warm_start_latent_kernels"]

logger = logging.getLogger(__name__)

# Float layer type -> ternary layer type. Exact types only: a subclass of
# Conv2D may change the math, so it is reported rather than converted.
_CONVERTIBLE = {
    keras.layers.Conv2D: layers_lib.TernaryConv2D,
    keras.layers.Dense: layers_lib.TernaryDense,
    keras.layers.DepthwiseConv2D: layers_lib.TernaryDepthwiseConv2D,
}
_DROPPED_DENSE_KEYS = ("lora_rank", "lora_alpha", "quantization_config")


def is_graph_model(model):
    """True for a Sequential or Functional model (not a subclassed one),
    without importing Keras's private Functional class."""
    return isinstance(model, keras.Model) and type(model).__name__ in (
        "Sequential",
        "Functional",
    )


def _check_model(model):
    if not isinstance(model, keras.Model):
        raise ValueError(
            "Received an invalid value for `model`, expected a keras.Model. "
            f"Received: model={model!r}"
        )
    if not is_graph_model(model):
        raise ValueError(
            f"Cannot ternarize model '{model.name}' of type "
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
            raise ValueError(
                f"Cannot ternarize model '{model.name}': layer '{layer.name}' "
                f"is a nested model ({type(layer).__name__}). Ternarize the "
                "nested model separately or flatten it into the outer model."
            )
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
) -> keras.Model:
    """Clones a float model into an STTN model, warm-started from its weights.

    Every ``Conv2D``, ``Dense`` and ``DepthwiseConv2D`` becomes the matching
    ternary layer (same configuration, same name), except the first and last
    of them by default (they usually need float precision). All other layers
    are cloned with their weights. Latent kernels are warm-started with
    :func:`warm_start_latent_kernels`, so the model begins at the TWN
    ternarisation of the float model.

    The result always exports (``sttn_keras.export.to_tflite``): a layer the
    sttn ops cannot express (dilation, groups, ``channels_first``, a
    ternary-input ``Dense`` on a rank-3 tensor) stays float, with a warning
    from the ``sttn_keras.convert`` logger naming the layer and the reason.
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

    Returns:
        A new, uncompiled model of the same class.

    Raises:
        ValueError: For a subclassed or unbuilt model, a shared layer, a
            nested model, or an unknown name in ``exclude``.

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
    names = {layer.name for layer in model.layers}
    unknown = sorted(set(exclude) - names)
    if unknown:
        raise ValueError(
            f"Received an invalid value for `exclude`: no layer named "
            f"{unknown} in model '{model.name}'. Received: exclude={exclude!r}"
        )

    from sttn_keras.export import folding  # lazy: folding imports this module

    candidates = [ly for ly in model.layers if type(ly) in _CONVERTIBLE]
    keep = set(exclude)
    for ly in candidates:
        reason = folding.unsupported_reason(ly, ternary_input=iq is not None)
        if reason is not None:
            logger.warning("ternarize keeps layer '%s' float: %s", ly.name, reason)
            keep.add(ly.name)
    if candidates and keep_first:
        keep.add(candidates[0].name)
    if candidates and keep_last:
        keep.add(candidates[-1].name)
    to_convert = {ly.name for ly in candidates} - keep

    clones = {}

    def clone_layer(layer):
        config = layer.get_config()
        if layer.name in to_convert:
            for key in _DROPPED_DENSE_KEYS:
                config.pop(key, None)
            new = _CONVERTIBLE[type(layer)].from_config(
                {
                    **config,
                    "kernel_quantizer": quantizers_lib.serialize(kq),
                    "input_quantizer": quantizers_lib.serialize(iq),
                }
            )
        else:
            new = type(layer).from_config(config)
        clones[layer.name] = new
        return new

    new_model = keras.models.clone_model(model, clone_function=clone_layer)
    if not warm_start:
        return new_model
    for layer in model.layers:
        new = clones.get(layer.name)
        if new is None or not layer.weights:
            continue
        if layer.name not in to_convert:
            new.set_weights(layer.get_weights())
            continue
        kernel = keras.ops.convert_to_numpy(layer.kernel)
        latents = (
            [kernel]
            if new.kernel_quantizer is None
            else warm_start_latent_kernels(
                kernel, new.kernel_quantizer, new._reduce_axes()
            )
        )
        for variable, value in zip(new.latent_kernels, latents):
            variable.assign(value)
        if layer.use_bias:
            new.bias.assign(layer.bias)
    return new_model
