"""The STTN math of :mod:`sttn_keras.quantizers` as TF-MOT quantizers.

:class:`LatentClip` clamps latent kernels; :class:`SttnKernelQuantizer`,
:class:`TwnKernelQuantizer` and :class:`TernaryActivationQuantizer` are the
``tfmot.quantization.keras.quantizers.Quantizer`` objects the configs of
:mod:`sttn_keras.tfmot.configs` attach to ``tf_keras`` layers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from ..float_to_sttn import warm_start_latent_kernels
from ..quantizers import SoftThresholdTernary, _check_positive
from ._tf_keras import _qk, _register, tf_keras

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
