"""TF-MOT QuantizeConfigs, the scheme, and ``annotate`` / ``quantize_apply``.

The configs put the quantizers of :mod:`sttn_keras.tfmot.quantizers` on
``tf_keras`` ``Conv2D``, ``Dense`` and ``DepthwiseConv2D`` kernels and on
layer outputs; :class:`SttnQuantizeScheme` quantizes only what is annotated.
"""

from __future__ import annotations

from typing import Any

from ..quantizers import _check_positive
from ._tf_keras import _qk, _register, tf_keras
from .quantizers import (
    _KERNEL_QUANTIZERS,
    LatentClip,
    SttnKernelQuantizer,
    TernaryActivationQuantizer,
    TwnKernelQuantizer,
    _ConfigEquality,
)

# ---------------------------------------------------------------------------
# QuantizeConfigs
# ---------------------------------------------------------------------------


class _TernaryKernelConfig(_ConfigEquality, _qk.QuantizeConfig):
    """Shared logic of the STTN/TWN kernel configs."""

    _layer_class_name = ""
    _kernel_attr = "kernel"
    _constraint_attr = "kernel_constraint"

    def __init__(
        self,
        kernel_quantizer: str = "sttn",
        warm_start: bool = True,
        threshold_factor: float = 0.7,
    ):
        name = type(self).__name__
        if kernel_quantizer not in _KERNEL_QUANTIZERS:
            raise ValueError(
                f"Received an invalid value for `kernel_quantizer` of {name}, "
                f"expected one of {list(_KERNEL_QUANTIZERS)}. "
                f"Received: kernel_quantizer={kernel_quantizer!r}"
            )
        _check_positive(name, "threshold_factor", threshold_factor)
        self.kernel_quantizer = kernel_quantizer
        self.warm_start = bool(warm_start)
        self.threshold_factor = float(threshold_factor)

    @classmethod
    def _layer_class(cls):
        return getattr(tf_keras.layers, cls._layer_class_name)

    def _reduce_axes(self, kernel):
        return tuple(range(len(kernel.shape) - 1))

    def _check_layer(self, layer):
        expected = self._layer_class()
        if type(layer) is not expected:
            raise ValueError(
                f"{type(self).__name__} quantizes exactly "
                f"tf_keras.layers.{self._layer_class_name} layers. Received: "
                f"layer '{layer.name}' of type {type(layer).__name__}"
            )
        if self.kernel_quantizer == "sttn":
            constraint = getattr(layer, self._kernel_attr).constraint
            if not isinstance(constraint, LatentClip):
                raise ValueError(
                    f"Layer '{layer.name}': the STTN latent kernel must be "
                    "clamped to [-1, 1]. Annotate the layer with "
                    "`sttn_keras.tfmot.annotate(layer)` (which adds the clamp) "
                    f"or build it with `{self._constraint_attr}="
                    "sttn_keras.tfmot.LatentClip()`. Received: "
                    f"{self._constraint_attr}={constraint!r}"
                )

    def get_weights_and_quantizers(self, layer):
        self._check_layer(layer)
        kernel = getattr(layer, self._kernel_attr)
        axes = self._reduce_axes(kernel)
        if self.kernel_quantizer == "sttn":
            quantizer = SttnKernelQuantizer(axes, self._kernel_attr, self.warm_start)
        else:
            quantizer = TwnKernelQuantizer(axes, self.threshold_factor)
        return [(kernel, quantizer)]

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        if len(quantize_weights) != 1:
            raise ValueError(
                f"{type(self).__name__} expects one quantized kernel for layer "
                f"'{layer.name}'. Received: {len(quantize_weights)} tensors"
            )
        setattr(layer, self._kernel_attr, quantize_weights[0])

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return []

    def get_config(self):
        return {
            "kernel_quantizer": self.kernel_quantizer,
            "warm_start": self.warm_start,
            "threshold_factor": self.threshold_factor,
        }


_CONFIG_DOC = """QuantizeConfig training the kernel of a ``tf_keras.layers.{layer}``
    as an STTN (or TWN) ternary kernel.

    With ``kernel_quantizer="sttn"`` the layer's ``{attr}`` is the latent
    kernel ``W1`` (it needs the :class:`LatentClip` constraint, which
    :func:`annotate` adds) and the wrapper gets a second latent kernel
    ``W2``. The quantized kernel, one scale per output channel{axes_note}, is
    what the layer computes with during training and evaluation. Biases,
    activations and outputs stay float (see :class:`TernaryOutputConfig`).

    Args:
        kernel_quantizer: ``"sttn"`` (default) or ``"twn"`` (the baseline:
            one latent kernel, ``Delta = threshold_factor * mean|W|``).
        warm_start: STTN only: start ``W1, W2`` at the TWN warm start of the
            current kernel (default); else clamp ``W1`` and draw ``W2``
            uniformly in ``[-1, 1]``.
        threshold_factor: The TWN factor (0.7).

    Example:

    >>> config = {name}(kernel_quantizer="twn")
    >>> config.get_config()["kernel_quantizer"]
    'twn'
    """


@_register
class SttnConv2DConfig(_TernaryKernelConfig):
    __doc__ = _CONFIG_DOC.format(
        layer="Conv2D", attr="kernel", axes_note="", name="SttnConv2DConfig"
    )
    _layer_class_name = "Conv2D"


@_register
class SttnDenseConfig(_TernaryKernelConfig):
    __doc__ = _CONFIG_DOC.format(
        layer="Dense", attr="kernel", axes_note="", name="SttnDenseConfig"
    )
    _layer_class_name = "Dense"


@_register
class SttnDepthwiseConv2DConfig(_TernaryKernelConfig):
    __doc__ = _CONFIG_DOC.format(
        layer="DepthwiseConv2D",
        attr="depthwise_kernel",
        axes_note=" (``in_channels * depth_multiplier`` of them, each over "
        "its ``kh * kw`` window)",
        name="SttnDepthwiseConv2DConfig",
    )
    _layer_class_name = "DepthwiseConv2D"
    _kernel_attr = "depthwise_kernel"
    _constraint_attr = "depthwise_constraint"

    def _reduce_axes(self, kernel):
        return (0, 1)


@_register
class TernaryOutputConfig(_ConfigEquality, _qk.QuantizeConfig):
    """QuantizeConfig making a layer's output ternary (STTN activations).

    Put it on the layer that feeds STTN layers, typically the
    BatchNormalization before them: its output becomes
    ``+1 if x > threshold, -1 if x < -threshold, else 0`` with the gradient
    passed where ``|x| < clip_value``. :func:`to_keras3` turns it into
    ``input_quantizer="ternary"`` on the consuming ternary layers, so every
    consumer must be an STTN-quantized layer (directly, or through
    ``Flatten``, ``Reshape`` or ``MaxPooling2D``, which commute with the
    ternary activation).

    Args:
        threshold: Half-width of the zero band (0.5, as STTN).
        clip_value: Gradient window (1.0).

    Example:

    >>> TernaryOutputConfig().get_config()
    {'threshold': 0.5, 'clip_value': 1.0}
    """

    def __init__(self, threshold: float = 0.5, clip_value: float = 1.0):
        _check_positive("TernaryOutputConfig", "threshold", threshold)
        _check_positive("TernaryOutputConfig", "clip_value", clip_value)
        self.threshold = float(threshold)
        self.clip_value = float(clip_value)

    def get_weights_and_quantizers(self, layer):
        return []

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        pass

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return [TernaryActivationQuantizer(self.threshold, self.clip_value)]

    def get_config(self):
        return {"threshold": self.threshold, "clip_value": self.clip_value}


_CONFIGS = (SttnConv2DConfig, SttnDenseConfig, SttnDepthwiseConv2DConfig)
_KERNEL_CONFIG_FOR = {c._layer_class_name: c for c in _CONFIGS}


# ---------------------------------------------------------------------------
# Scheme, scope, annotate, apply
# ---------------------------------------------------------------------------


class _NoLayoutTransform(_qk.QuantizeLayoutTransform):
    def apply(self, model, layer_quantize_map):
        return model, layer_quantize_map


class _NoDefaultRegistry(_qk.QuantizeRegistry):
    """Quantizes nothing on its own: only layers annotated with a config."""

    def supports(self, layer):
        return False

    def get_quantize_config(self, layer):
        return None


class SttnQuantizeScheme(_qk.QuantizeScheme):
    """A TF-MOT scheme that quantizes only what is annotated.

    TF-MOT's default 8-bit scheme also folds Conv+BatchNorm patterns, adds
    8-bit quantizers to the inputs of annotated layers and to the outputs of
    the layers feeding them; none of that belongs in an STTN model, so
    :func:`quantize_apply` uses this scheme (no layout transform, no default
    configs).

    Example:

    >>> scheme = SttnQuantizeScheme()
    >>> scheme.get_quantize_registry().supports(None)
    False
    """

    def get_layout_transformer(self):
        return _NoLayoutTransform()

    def get_quantize_registry(self):
        return _NoDefaultRegistry()


_CUSTOM_OBJECTS = {
    cls.__name__: cls
    for cls in (
        LatentClip,
        SttnKernelQuantizer,
        TwnKernelQuantizer,
        TernaryActivationQuantizer,
        *_CONFIGS,
        TernaryOutputConfig,
    )
}


def quantize_scope(*args: dict) -> Any:
    """TF-MOT's ``quantize_scope`` with the sttn classes added.

    Use it to load a saved quantized ``tf_keras`` model or to clone one.

    Args:
        *args: Further ``{name: class}`` dicts, as for TF-MOT's scope.

    Returns:
        A context manager.

    Example:

    >>> with quantize_scope():
    ...     pass
    """
    return _qk.quantize_scope(*args, dict(_CUSTOM_OBJECTS))


def _with_latent_clip(layer, attr):
    current = getattr(layer, attr)
    if isinstance(current, LatentClip):
        return
    setattr(layer, attr, LatentClip(inner=current))


def annotate(
    layer: Any, config: Any = None, *, kernel_quantizer: str = "sttn", **kwargs
) -> Any:
    """Annotates a ``tf_keras`` layer for STTN training.

    ``Conv2D``, ``Dense`` and ``DepthwiseConv2D`` get the matching STTN
    config (``kernel_quantizer="twn"`` for the baseline) and the
    :class:`LatentClip` constraint on their kernel; any other layer gets
    :class:`TernaryOutputConfig` (ternary outputs) unless ``config`` says
    otherwise. Then call :func:`quantize_apply` on the model.

    Args:
        layer: A ``tf_keras`` layer (built or not).
        config: A QuantizeConfig, or ``None`` to choose as above.
        kernel_quantizer: ``"sttn"`` or ``"twn"`` when ``config`` is ``None``.
        **kwargs: Further arguments of the chosen config class.

    Returns:
        The ``QuantizeAnnotate`` wrapper of TF-MOT.

    Raises:
        ValueError: If ``layer`` is not a ``tf_keras`` layer, or
            ``config`` is not a QuantizeConfig.

    Example:

    >>> import tf_keras
    >>> type(annotate(tf_keras.layers.Conv2D(4, 3))).__name__
    'QuantizeAnnotate'
    """
    if not isinstance(layer, tf_keras.layers.Layer):
        raise ValueError(
            "Received an invalid value for `layer`, expected a tf_keras layer "
            "(Keras 3 models need no adapter: use sttn_keras.layers). "
            f"Received: layer={layer!r} of type {type(layer).__name__}"
        )
    kernel_config = _KERNEL_CONFIG_FOR.get(type(layer).__name__)
    if config is None:
        if kernel_config is not None and type(layer) is kernel_config._layer_class():
            config = kernel_config(kernel_quantizer=kernel_quantizer, **kwargs)
        else:
            config = TernaryOutputConfig(**kwargs)
    if not isinstance(config, _qk.QuantizeConfig):
        raise ValueError(
            "Received an invalid value for `config`, expected a "
            "tfmot.quantization.keras.QuantizeConfig or None. "
            f"Received: config={config!r}"
        )
    if isinstance(config, _TernaryKernelConfig) and config.kernel_quantizer == "sttn":
        if type(layer) is not config._layer_class():
            config._check_layer(layer)  # raises, naming the layer and type
        # A config attribute: quantize_apply rebuilds the layer from its
        # config, so the clamp reaches the new kernel variable.
        _with_latent_clip(layer, config._constraint_attr)
    return _qk.quantize_annotate_layer(layer, config)


def quantize_apply(model: Any, **kwargs) -> Any:
    """TF-MOT's ``quantize_apply`` with :class:`SttnQuantizeScheme`, in scope.

    Args:
        model: A ``tf_keras`` Sequential or Functional model with layers
            annotated by :func:`annotate` (or ``quantize_annotate_layer``
            with the sttn configs).
        **kwargs: Passed to ``tfmot.quantization.keras.quantize_apply``
            (``quantized_layer_name_prefix``, or another ``scheme``).

    Returns:
        The trainable quantized ``tf_keras`` model.

    Example (W2 of the conv is a new, quantizer-owned variable):

    >>> import tf_keras
    >>> model = tf_keras.Sequential([
    ...     tf_keras.Input((8, 8, 1)),
    ...     annotate(tf_keras.layers.Conv2D(4, 3)),
    ...     tf_keras.layers.Flatten(),
    ...     tf_keras.layers.Dense(2)])
    >>> qat = quantize_apply(model)
    >>> qat.count_params() - model.count_params()
    37
    """
    kwargs.setdefault("scheme", SttnQuantizeScheme())
    with quantize_scope():
        return _qk.quantize_apply(model, **kwargs)
