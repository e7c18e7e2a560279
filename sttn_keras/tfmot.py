"""STTN for ``tf_keras`` (Keras 2) users, through TF Model Optimization.

Train Soft Threshold Ternary kernels in an existing ``tf_keras`` training
pipeline with ``tensorflow-model-optimization`` (TF-MOT) QuantizeConfigs, then
export the result to our ``.tflite`` with sttn custom ops::

    pip install 'sttn-keras[tfmot]'

What this module gives you:

* :class:`SttnConv2DConfig`, :class:`SttnDenseConfig`,
  :class:`SttnDepthwiseConv2DConfig`: QuantizeConfigs that train the layer's
  kernel as an STTN ternary kernel. The layer's own kernel is the first latent
  kernel ``W1``; a quantizer variable ``<kernel>_latent_2`` holds ``W2``. Both
  are clamped to ``[-1, 1]`` after each update (:class:`LatentClip`). With
  ``kernel_quantizer="twn"`` the same configs train the TWN baseline (one
  latent kernel, hard threshold).
* :class:`TernaryOutputConfig`: ternary activations. STTN ternarizes the
  *input* of a ternary layer (after a BatchNormalization); TF-MOT quantizes
  layer *outputs*, so put this config on the layer that feeds the ternary
  layers (typically that BatchNormalization).
* :func:`annotate`, :func:`quantize_apply`, :func:`quantize_scope`: TF-MOT's
  functions with our configs, scheme and custom objects filled in.
* :func:`to_keras3`: the equivalent Keras 3 model with our ``Ternary*``
  layers and the same weights, for :func:`sttn_keras.export.to_tflite`.

The math is that of :mod:`sttn_keras.quantizers`, written in TensorFlow ops
(``tf_keras`` runs only on TensorFlow): forward
``alpha * (sign W1 + sign W2)`` with ``alpha = (|W1|_1 + |W2|_1) / 2n`` per
output channel, backward ``dL/dW_k = g + sign(W_k) * mean_n(sign(W_k) g)``;
ternary activations ``+1 if x > 0.5, -1 if x < -0.5, else 0`` with the
gradient passed where ``|x| < 1``. ``W2`` starts at the TWN warm start of the
float kernel (:func:`sttn_keras.convert.warm_start_latent_kernels`):
``W1 = W/s + d``, ``W2 = W/s - d``, so a pretrained float layer starts as its
TWN ternarisation and learns away from it.

Keras 2 and Keras 3 in one process: importing ``tensorflow_model_optimization``
sets ``os.environ["TF_USE_LEGACY_KERAS"] = "1"`` for the whole process
(TF-MOT 0.8.1 uses ``tf_keras`` whatever the variable says). This module
imports TF-MOT with the variable restored afterwards and ``tf.keras`` resolved
before, so importing it changes neither the environment nor what ``tf.keras``
means; ``import keras`` stays Keras 3. ``import sttn_keras`` itself never
imports ``tf_keras`` or TF-MOT.

Example (a code block, not a doctest: it needs ``tf_keras`` and TF-MOT)::

    import tf_keras
    from sttn_keras import tfmot as sttn_tfmot
    from sttn_keras.export import to_tflite

    L = tf_keras.layers
    model = tf_keras.Sequential([
        L.InputLayer((28, 28, 1)),
        L.Conv2D(16, 3, strides=2, padding="same"),        # stays float
        sttn_tfmot.annotate(L.BatchNormalization()),       # ternary outputs
        sttn_tfmot.annotate(L.Conv2D(32, 3, padding="same")),   # STTN kernel
        L.BatchNormalization(),
        L.Flatten(),
        L.Dense(10),                                       # stays float
    ])
    qat = sttn_tfmot.quantize_apply(model)
    qat.compile("adam", "sparse_categorical_crossentropy")
    qat.fit(x, y)
    to_tflite(sttn_tfmot.to_keras3(qat), "model.tflite")
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import tensorflow as tf

from .convert import warm_start_latent_kernels
from .quantizers import SoftThresholdTernary, _check_positive


def _import_tfmot():
    """Imports TF-MOT and tf_keras without leaving TF_USE_LEGACY_KERAS set.

    TF-MOT's compat module sets the variable and then reads ``tf.keras``;
    resolving ``tf.keras`` first (with the user's setting) keeps it what it
    was, and the variable is put back as it was.
    """
    key = "TF_USE_LEGACY_KERAS"
    saved = os.environ.get(key)
    try:
        _ = tf.keras.__name__  # resolve the lazy tf.keras with the user's setting
    except (AttributeError, ImportError):  # no Keras at all: TF-MOT decides
        pass
    try:
        import tensorflow_model_optimization as tfmot_lib
        import tf_keras as tf_keras_lib
    except ImportError as e:
        raise ImportError(
            "sttn_keras.tfmot needs the `tensorflow-model-optimization` and "
            "`tf-keras` packages: pip install 'sttn-keras[tfmot]'. "
            f"Import failed with: {e}"
        ) from e
    finally:
        if saved is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = saved
    return tfmot_lib, tf_keras_lib


tfmot, tf_keras = _import_tfmot()
_qk = tfmot.quantization.keras

__all__ = [
    "LatentClip",
    "SttnKernelQuantizer",
    "TwnKernelQuantizer",
    "TernaryActivationQuantizer",
    "SttnConv2DConfig",
    "SttnDenseConfig",
    "SttnDepthwiseConv2DConfig",
    "TernaryOutputConfig",
    "SttnQuantizeScheme",
    "annotate",
    "quantize_apply",
    "quantize_scope",
    "to_keras3",
]

_PACKAGE = "sttn_tfmot"
_register = tf_keras.saving.register_keras_serializable(package=_PACKAGE)
_KERNEL_QUANTIZERS = ("sttn", "twn")
_LATENT_2 = "_latent_2"


# ---------------------------------------------------------------------------
# The math, in TensorFlow ops (mirrors sttn_keras.quantizers)
# ---------------------------------------------------------------------------


def _binary_sign(w):
    """sign with sign(0) = +1 (the convention of sttn_keras.quantizers)."""
    return tf.where(w >= 0, tf.ones_like(w), -tf.ones_like(w))


def _sttn_kernel(w1, w2, axes):
    @tf.custom_gradient
    def sttn(w1, w2):
        s1, s2 = _binary_sign(w1), _binary_sign(w2)
        alpha = 0.5 * (
            tf.reduce_mean(tf.abs(w1), axis=axes, keepdims=True)
            + tf.reduce_mean(tf.abs(w2), axis=axes, keepdims=True)
        )

        def grad(g):
            g1 = g + s1 * tf.reduce_mean(s1 * g, axis=axes, keepdims=True)
            g2 = g + s2 * tf.reduce_mean(s2 * g, axis=axes, keepdims=True)
            return g1, g2

        return alpha * (s1 + s2), grad

    return sttn(w1, w2)


def _twn_kernel(w, axes, threshold_factor):
    @tf.custom_gradient
    def twn(w):
        abs_w = tf.abs(w)
        delta = threshold_factor * tf.reduce_mean(abs_w, axis=axes, keepdims=True)
        above = tf.cast(abs_w > delta, w.dtype)
        count = tf.reduce_sum(above, axis=axes, keepdims=True)
        alpha = tf.reduce_sum(abs_w * above, axis=axes, keepdims=True) / tf.maximum(
            count, 1.0
        )

        def grad(g):
            return g

        return alpha * _binary_sign(w) * above, grad

    return twn(w)


def _ternary_activation(x, threshold, clip_value):
    @tf.custom_gradient
    def ternary(x):
        one = tf.ones_like(x)
        y = tf.where(x > threshold, one, tf.where(x < -threshold, -one, 0.0 * one))

        def grad(g):
            return g * tf.cast(tf.abs(x) < clip_value, g.dtype)

        return y, grad

    return ternary(x)


class _ConfigEquality:
    """``from_config`` and equality by config, for the classes below."""

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __ne__(self, other):
        return not self == other


# ---------------------------------------------------------------------------
# Constraint and quantizers
# ---------------------------------------------------------------------------


@_register
class LatentClip(tf_keras.constraints.Constraint):
    """Clamps a latent STTN kernel to ``[-1, 1]``, then applies ``inner``.

    The STTN configs need it on the layer's kernel (``W1``);
    :func:`annotate` adds it (composed with any constraint the layer has).

    Args:
        inner: A further ``tf_keras`` constraint applied after the clamp, or
            ``None``.

    Example:

    >>> import tensorflow as tf
    >>> LatentClip()(tf.constant([-3.0, 0.5, 2.0])).numpy().tolist()
    [-1.0, 0.5, 1.0]
    """

    def __init__(self, inner: Any = None):
        self.inner = tf_keras.constraints.get(inner)

    def __call__(self, w):
        w = tf.clip_by_value(w, -1.0, 1.0)
        return self.inner(w) if self.inner is not None else w

    def get_config(self):
        return {"inner": tf_keras.constraints.serialize(self.inner)}


def _kernel_of(wrapper, attr):
    """The wrapped layer's kernel variable (``wrapper`` is the QuantizeWrapper)."""
    layer = getattr(wrapper, "layer", wrapper)
    return getattr(layer, attr)


@_register
class SttnKernelQuantizer(_ConfigEquality, _qk.quantizers.Quantizer):
    """STTN kernel quantizer: the layer's kernel is ``W1``, it adds ``W2``.

    Forward ``alpha * (sign W1 + sign W2)``, ``alpha`` per output channel
    over ``reduce_axes``; backward the STTN rule of
    :func:`sttn_keras.quantizers.soft_threshold_ternary`. ``build`` adds the
    variable ``W2`` (clamped by :class:`LatentClip`) and, with ``warm_start``,
    sets ``W1, W2`` to the TWN warm start of the kernel's current value.

    Args:
        reduce_axes: The axes of one output channel's weights.
        kernel_attr: The wrapped layer's kernel attribute (``"kernel"``,
            ``"depthwise_kernel"``).
        warm_start: Start ``W1, W2`` at the TWN warm start of the kernel's
            value (default); else ``W1`` is clamped as it is and ``W2`` drawn
            uniformly in ``[-1, 1]``.

    Example:

    >>> q = SttnKernelQuantizer(reduce_axes=(0,))
    >>> q.get_config()["reduce_axes"]
    [0]
    """

    def __init__(
        self,
        reduce_axes: tuple = (0,),
        kernel_attr: str = "kernel",
        warm_start: bool = True,
    ):
        self.reduce_axes = [int(a) for a in reduce_axes]
        self.kernel_attr = str(kernel_attr)
        self.warm_start = bool(warm_start)

    def build(self, tensor_shape, name, layer):
        kernel = _kernel_of(layer, self.kernel_attr)
        if self.warm_start:
            w1, w2 = warm_start_latent_kernels(
                np.asarray(kernel.numpy()),
                SoftThresholdTernary(),
                tuple(self.reduce_axes),
            )
            kernel.assign(w1)
            initializer = tf_keras.initializers.Constant(w2)
        else:
            kernel.assign(tf.clip_by_value(kernel, -1.0, 1.0))
            initializer = tf_keras.initializers.RandomUniform(-1.0, 1.0)
        latent_2 = layer.add_weight(
            name + _LATENT_2,
            shape=tensor_shape,
            initializer=initializer,
            constraint=LatentClip(),
            trainable=True,
        )
        return {"latent_2": latent_2}

    def __call__(self, inputs, training, weights, **kwargs):
        w1 = tf.convert_to_tensor(inputs)
        w2 = tf.convert_to_tensor(weights["latent_2"])
        return _sttn_kernel(w1, w2, self.reduce_axes)

    def get_config(self):
        return {
            "reduce_axes": self.reduce_axes,
            "kernel_attr": self.kernel_attr,
            "warm_start": self.warm_start,
        }


@_register
class TwnKernelQuantizer(_ConfigEquality, _qk.quantizers.Quantizer):
    """TWN kernel quantizer (the baseline): a hard threshold on one kernel.

    ``Delta = threshold_factor * mean|W|``, ``alpha = mean(|W| > Delta)`` per
    output channel; forward ``alpha * sign(W) * 1{|W| > Delta}``,
    straight-through backward (:func:`sttn_keras.quantizers.hard_threshold_ternary`).

    Example:

    >>> import tensorflow as tf
    >>> q = TwnKernelQuantizer(reduce_axes=(0,))
    >>> y = q(tf.constant([[1.0], [-0.1]]), False, {}).numpy().ravel()
    >>> (y != 0).tolist(), float(y[0])
    ([True, False], 1.0)
    """

    def __init__(self, reduce_axes: tuple = (0,), threshold_factor: float = 0.7):
        _check_positive("TwnKernelQuantizer", "threshold_factor", threshold_factor)
        self.reduce_axes = [int(a) for a in reduce_axes]
        self.threshold_factor = float(threshold_factor)

    def build(self, tensor_shape, name, layer):
        return {}

    def __call__(self, inputs, training, weights, **kwargs):
        w = tf.convert_to_tensor(inputs)
        return _twn_kernel(w, self.reduce_axes, self.threshold_factor)

    def get_config(self):
        return {
            "reduce_axes": self.reduce_axes,
            "threshold_factor": self.threshold_factor,
        }


@_register
class TernaryActivationQuantizer(_ConfigEquality, _qk.quantizers.Quantizer):
    """Ternary activation: ``+1 if x > threshold, -1 if x < -threshold, else 0``.

    Backward: the gradient passes where ``|x| < clip_value``
    (:func:`sttn_keras.quantizers.ternary_activation`).

    Example:

    >>> import tensorflow as tf
    >>> q = TernaryActivationQuantizer()
    >>> q(tf.constant([-0.7, 0.2, 0.9]), False, {}).numpy().tolist()
    [-1.0, 0.0, 1.0]
    """

    def __init__(self, threshold: float = 0.5, clip_value: float = 1.0):
        _check_positive("TernaryActivationQuantizer", "threshold", threshold)
        _check_positive("TernaryActivationQuantizer", "clip_value", clip_value)
        self.threshold = float(threshold)
        self.clip_value = float(clip_value)

    def build(self, tensor_shape, name, layer):
        return {}

    def __call__(self, inputs, training, weights, **kwargs):
        return _ternary_activation(inputs, self.threshold, self.clip_value)

    def get_config(self):
        return {"threshold": self.threshold, "clip_value": self.clip_value}


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


# ---------------------------------------------------------------------------
# tf_keras (quantized) -> Keras 3 STTN model
# ---------------------------------------------------------------------------

# Layers copied as they are (same class name and config keys in Keras 3).
_PLAIN_LAYERS = (
    "InputLayer",
    "Conv2D",
    "Dense",
    "DepthwiseConv2D",
    "BatchNormalization",
    "ReLU",
    "Activation",
    "MaxPooling2D",
    "AveragePooling2D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling2D",
    "Flatten",
    "Reshape",
    "Dropout",
    "ZeroPadding2D",
    "Add",
    "Concatenate",
    "Softmax",
)
# Layers through which a ternary output may reach a ternary layer: they
# commute with the (monotone, elementwise) ternary activation.
_TRANSPARENT = ("Flatten", "Reshape", "MaxPooling2D")
_TERNARY_ARGS = {
    "Conv2D": (
        "filters",
        "kernel_size",
        "strides",
        "padding",
        "data_format",
        "dilation_rate",
        "groups",
        "activation",
        "use_bias",
    ),
    "Dense": ("units", "activation", "use_bias"),
    "DepthwiseConv2D": (
        "kernel_size",
        "strides",
        "padding",
        "depth_multiplier",
        "data_format",
        "dilation_rate",
        "activation",
        "use_bias",
    ),
}


def _is_wrapper(layer):
    return isinstance(layer, _qk.QuantizeWrapper)


def _sttn_config(layer):
    if not _is_wrapper(layer):
        return None
    config = layer.quantize_config
    if isinstance(config, (_TernaryKernelConfig, TernaryOutputConfig)):
        return config
    raise ValueError(
        f"Cannot convert layer '{layer.name}': it is quantized with "
        f"{type(config).__name__}, not with an sttn_keras.tfmot config; only "
        "STTN/TWN kernels and ternary outputs have an sttn equivalent."
    )


def _keras3_plain(layer):
    import keras

    class_name = type(layer).__name__
    if class_name not in _PLAIN_LAYERS or not hasattr(keras.layers, class_name):
        raise ValueError(
            f"Cannot convert layer '{layer.name}' of type {class_name} to "
            f"Keras 3: to_keras3 supports {sorted(_PLAIN_LAYERS)} and layers "
            "quantized with the sttn_keras.tfmot configs."
        )
    config = dict(layer.get_config())
    config.pop("batch_input_shape", None)
    if class_name == "BatchNormalization":
        axis = config["axis"]
        axis = list(axis) if not isinstance(axis, int) else [axis]
        if len(axis) != 1:
            raise ValueError(
                f"Cannot convert layer '{layer.name}': BatchNormalization over "
                f"several axes has no Keras 3 equivalent. Received: axis={axis}"
            )
        config["axis"] = int(axis[0])
    if class_name == "Activation" or "activation" in config:
        _check_activation(layer, config.get("activation"))
    return getattr(keras.layers, class_name).from_config(config)


def _check_activation(layer, activation):
    if activation is not None and not isinstance(activation, str):
        raise ValueError(
            f"Cannot convert layer '{layer.name}': its activation {activation!r} "
            "is not a built-in one named by a string."
        )


def _keras3_ternary(wrapper, ternary_input):
    from . import layers as sttn_layers

    inner = wrapper.layer
    config = wrapper.quantize_config
    class_name = config._layer_class_name
    inner_config = inner.get_config()
    args = {k: inner_config[k] for k in _TERNARY_ARGS[class_name]}
    _check_activation(inner, args.get("activation"))
    cls = {
        "Conv2D": sttn_layers.TernaryConv2D,
        "Dense": sttn_layers.TernaryDense,
        "DepthwiseConv2D": sttn_layers.TernaryDepthwiseConv2D,
    }[class_name]
    return cls(
        **args,
        name=inner.name,
        kernel_quantizer=config.kernel_quantizer,
        input_quantizer="ternary" if ternary_input else None,
    )


def _latent_weights(wrapper):
    """``[W1, (W2)]`` and the bias of an STTN/TWN wrapper, as numpy arrays."""
    inner = wrapper.layer
    config = wrapper.quantize_config

    def find(basename):
        # The wrapper tracks the variables; the wrapped layer's `kernel`
        # attribute holds the quantized tensor once the wrapper has run.
        found = [w for w in wrapper.weights if w.name.split("/")[-1] == basename]
        if len(found) != 1:
            raise ValueError(
                f"Cannot convert layer '{wrapper.name}': expected one variable "
                f"named '{basename}', found {[w.name for w in wrapper.weights]}."
            )
        return found[0].numpy()

    latents = [find(config._kernel_attr + ":0")]
    if config.kernel_quantizer == "sttn":
        latents.append(find(config._kernel_attr + _LATENT_2 + ":0"))
    bias = inner.bias.numpy() if inner.use_bias else None
    return latents, bias


def _graph(model):
    """``(layers in order, {name: [input names]}, input names, output names)``."""
    if isinstance(model, tf_keras.Sequential):
        layers = list(model.layers)
        inbound = {}
        previous = None
        for layer in layers:
            inbound[layer.name] = [previous] if previous is not None else []
            previous = layer.name
        return layers, inbound, None, [layers[-1].name]
    config = model.get_config()
    by_name = {layer.name: layer for layer in model.layers}
    layers, inbound = [], {}
    for layer_config in config["layers"]:
        name = layer_config["name"]
        nodes = layer_config.get("inbound_nodes", [])
        if len(nodes) > 1:
            raise ValueError(
                f"Cannot convert model '{model.name}': layer '{name}' is "
                f"called {len(nodes)} times (shared layer)."
            )
        sources = []
        for node in nodes:
            for inbound_tensor in node:
                if inbound_tensor[1] != 0 or inbound_tensor[2] != 0:
                    raise ValueError(
                        f"Cannot convert model '{model.name}': layer '{name}' "
                        "reads a shared layer's second call or output."
                    )
                sources.append(inbound_tensor[0])
        layers.append(by_name[name])
        inbound[name] = sources
    inputs = [entry[0] for entry in config["input_layers"]]
    outputs = [entry[0] for entry in config["output_layers"]]
    return layers, inbound, inputs, outputs


def _ternary_inputs(model, layers, inbound, outputs):
    """Names of ternary layers whose input comes from a ternary output."""
    consumers = {layer.name: [] for layer in layers}
    for name, sources in inbound.items():
        for source in sources:
            consumers[source].append(name)
    by_name = {layer.name: layer for layer in layers}

    def is_kernel_layer(name):
        return isinstance(_sttn_config(by_name[name]), _TernaryKernelConfig)

    ternary_input = set()
    for layer in layers:
        if not isinstance(_sttn_config(layer), TernaryOutputConfig):
            continue
        frontier = list(consumers[layer.name])
        if layer.name in outputs or not frontier:
            raise ValueError(
                f"Cannot convert layer '{layer.name}': its ternary output is a "
                "model output; a ternary output must feed STTN layers."
            )
        while frontier:
            name = frontier.pop()
            target = by_name[name]
            if is_kernel_layer(name):
                ternary_input.add(name)
            elif (
                not _is_wrapper(target)
                and type(target).__name__ in _TRANSPARENT
                and name not in outputs
                and consumers[name]
            ):
                frontier.extend(consumers[name])
            else:
                raise ValueError(
                    f"Cannot convert layer '{layer.name}': its ternary output "
                    f"reaches layer '{name}' ({type(target).__name__}), which "
                    "is not an STTN-quantized Conv2D, Dense or "
                    "DepthwiseConv2D. In Keras 3 the ternary activation is "
                    "the input quantizer of the ternary layers, so every "
                    f"consumer must be one (through {list(_TRANSPARENT)} at "
                    "most)."
                )
    # A ternary layer fed partly by float data would be ternarized wholly.
    for name in ternary_input:
        for source in inbound[name]:
            if not _reaches_through_transparent(source, by_name, inbound):
                raise ValueError(
                    f"Cannot convert layer '{name}': its input is not a ternary output."
                )
    return ternary_input


def _reaches_through_transparent(name, by_name, inbound):
    layer = by_name[name]
    if isinstance(_sttn_config(layer), TernaryOutputConfig):
        return True
    if not _is_wrapper(layer) and type(layer).__name__ in _TRANSPARENT:
        return all(
            _reaches_through_transparent(s, by_name, inbound) for s in inbound[name]
        )
    return False


def to_keras3(model: Any) -> Any:
    """Builds the Keras 3 STTN model equivalent to a quantized ``tf_keras`` one.

    Every layer quantized with an STTN/TWN config becomes the matching
    :mod:`sttn_keras.layers` layer (same name and arguments, latent kernels
    ``W1``, ``W2`` and bias copied); a layer with :class:`TernaryOutputConfig`
    becomes its plain Keras 3 counterpart and its consumers get
    ``input_quantizer="ternary"``; every other supported layer is copied
    with its weights (BatchNorm statistics included). The result computes
    what the ``tf_keras`` model computes in inference mode, and
    :func:`sttn_keras.export.to_tflite` exports it.

    Args:
        model: A ``tf_keras`` Sequential or Functional model returned by
            :func:`quantize_apply` (or TF-MOT's ``quantize_apply`` with the
            sttn configs), trained or not.

    Returns:
        An uncompiled ``keras.Model`` (Keras 3).

    Raises:
        ValueError: For a model that is not a ``tf_keras`` graph model, not
            quantized (or only annotated) with the sttn configs, or has a
            layer with no sttn / Keras 3 equivalent (named in the message).

    Example:

    >>> import numpy as np, tf_keras
    >>> qat = quantize_apply(tf_keras.Sequential(
    ...     [tf_keras.Input((6,)), annotate(tf_keras.layers.Dense(3))]))
    >>> k3 = to_keras3(qat)
    >>> [type(layer).__name__ for layer in k3.layers]
    ['TernaryDense']
    >>> x = np.random.default_rng(0).normal(size=(2, 6)).astype("float32")
    >>> bool(np.allclose(k3(x), qat(x), atol=1e-5))
    True
    """
    import keras

    if not isinstance(model, tf_keras.Model):
        raise ValueError(
            "Received an invalid value for `model`, expected a tf_keras model "
            "returned by sttn_keras.tfmot.quantize_apply. Received: "
            f"model={model!r} of type {type(model).__name__}"
        )
    if not isinstance(model, tf_keras.Sequential) and type(model).__name__ not in (
        "Functional",
        "Model",
    ):
        raise ValueError(
            f"Cannot convert model '{model.name}' of type {type(model).__name__}: "
            "only Sequential and Functional tf_keras models are supported."
        )
    # TF-MOT does not export its QuantizeAnnotate class: known by name.
    annotated = [
        ly.name for ly in model.layers if type(ly).__name__ == "QuantizeAnnotate"
    ]
    if annotated:
        raise ValueError(
            f"Model '{model.name}' is annotated but not quantized (layers "
            f"{annotated}): call sttn_keras.tfmot.quantize_apply(model) first."
        )
    if not any(
        isinstance(_sttn_config(ly), _TernaryKernelConfig) for ly in model.layers
    ):
        raise ValueError(
            f"Model '{model.name}' has no layer quantized with an STTN/TWN "
            "config of sttn_keras.tfmot (annotate Conv2D/Dense/DepthwiseConv2D "
            "layers and call sttn_keras.tfmot.quantize_apply)."
        )
    nested = [ly.name for ly in model.layers if isinstance(ly, tf_keras.Model)]
    if nested:
        raise ValueError(
            f"Cannot convert model '{model.name}': layers {nested} are nested "
            "models; flatten them into the outer model."
        )
    layers, inbound, input_names, output_names = _graph(model)
    ternary_input = _ternary_inputs(model, layers, inbound, output_names)

    converted = {}
    for layer in layers:
        config = _sttn_config(layer)
        if type(layer).__name__ == "InputLayer":
            continue  # becomes keras.Input below
        if isinstance(config, _TernaryKernelConfig):
            converted[layer.name] = _keras3_ternary(layer, layer.name in ternary_input)
        elif isinstance(config, TernaryOutputConfig):
            converted[layer.name] = _keras3_plain(layer.layer)
        elif _is_wrapper(layer):
            converted[layer.name] = _keras3_plain(layer.layer)
        else:
            converted[layer.name] = _keras3_plain(layer)

    if input_names is None:  # Sequential
        shape = tuple(model.input_shape[1:])
        body = [converted[ly.name] for ly in layers if ly.name in converted]
        new_model = keras.Sequential([keras.Input(shape), *body], name=model.name)
    else:
        tensors = {}
        for layer in layers:
            new = converted.get(layer.name)
            if new is None:
                tensors[layer.name] = keras.Input(
                    tuple(layer.get_config()["batch_input_shape"][1:]),
                    name=layer.name,
                )
                continue
            args = [tensors[s] for s in inbound[layer.name]]
            tensors[layer.name] = new(args if len(args) > 1 else args[0])
        outs = [tensors[n] for n in output_names]
        new_model = keras.Model(
            [tensors[n] for n in input_names],
            outs if len(outs) > 1 else outs[0],
            name=model.name,
        )

    for layer in layers:
        new = converted.get(layer.name)
        config = _sttn_config(layer)
        if new is None:
            continue
        if isinstance(config, _TernaryKernelConfig):
            latents, bias = _latent_weights(layer)
            for variable, value in zip(new.latent_kernels, latents):
                variable.assign(value)
            if bias is not None:
                new.bias.assign(bias)
        else:
            source = layer.layer if _is_wrapper(layer) else layer
            new.set_weights(source.get_weights())
    return new_model
