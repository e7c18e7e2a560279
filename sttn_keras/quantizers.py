"""Ternary quantizers with custom (surrogate) gradients.

Each quantizer is a pure function with a custom gradient plus a small
serialisable class that states its precision. String aliases resolve through
:func:`get`:

| alias       | class                    | what it quantizes                     |
|-------------|--------------------------|---------------------------------------|
| ``"sttn"``    | :class:`SoftThresholdTernary` | a kernel, from two latent kernels |
| ``"twn"``     | :class:`HardThresholdTernary` | a kernel, from one latent kernel  |
| ``"ternary"`` | :class:`TernaryActivation`    | activations (layer inputs)        |

All math is written in ``keras.ops`` and the gradients go through
``keras.ops.custom_gradient``, so the quantizers run on the TensorFlow and
JAX backends and under ``tf.distribute`` strategies.

Binarisation convention: ``sign`` here maps 0 to +1 (``w >= 0 -> +1``), so
``(sign(W1) + sign(W2)) / 2`` is always a trit in {-1, 0, +1}.

References:
    W. Xu et al., "Soft Threshold Ternary Networks", IJCAI 2020,
    https://arxiv.org/abs/2204.01234.
    F. Li, B. Zhang, B. Liu, "Ternary Weight Networks", 2016,
    https://arxiv.org/abs/1605.04711.
"""

from __future__ import annotations

import abc
import warnings
from typing import Any

import keras
from keras import ops

from ._registry import register_serializable

# Axes of a kernel that hold one output channel (None: all but the last).
Axes = tuple[int, ...] | None

__all__ = [
    "Quantizer",
    "KernelQuantizer",
    "SoftThresholdTernary",
    "HardThresholdTernary",
    "TernaryActivation",
    "soft_threshold_ternary",
    "hard_threshold_ternary",
    "ternary_activation",
    "get",
    "serialize",
    "deserialize",
]


def _binary_sign(w):
    """sign with sign(0) = +1, in the dtype of ``w``."""
    one = ops.ones_like(w)
    return ops.where(ops.greater_equal(w, 0), one, -one)


def _unpack_upstream(args, upstream):
    # keras.ops.custom_gradient passes the upstream gradient positionally on
    # TensorFlow and as `upstream=` on JAX.
    if upstream is None:
        (upstream,) = args
    return upstream


def _normalize_axes(ndim, reduce_axes):
    if reduce_axes is None:
        return tuple(range(ndim - 1))
    return tuple(a % ndim for a in reduce_axes)


# ---------------------------------------------------------------------------
# Pure functions
# ---------------------------------------------------------------------------


def ternary_activation(x: Any, threshold: float = 0.5, clip_value: float = 1.0) -> Any:
    """Ternary activation with a straight-through gradient.

    Forward: ``y = +1 if x > threshold, -1 if x < -threshold, else 0``.

    Backward: ``dL/dx = dL/dy * 1{|x| < clip_value}`` (the straight-through
    estimator clipped at ``clip_value``).

    Args:
        x: Input tensor.
        threshold: Positive float, the half-width of the zero band.
        clip_value: Positive float; the gradient passes where
            ``|x| < clip_value``.

    Returns:
        A tensor of the dtype of ``x`` holding -1, 0 or +1.

    Example:

    >>> from keras import ops
    >>> ops.convert_to_numpy(ternary_activation(ops.array([-0.7, 0.2, 0.5, 0.9])))
    array([-1.,  0.,  0.,  1.], dtype=float32)
    """

    @ops.custom_gradient
    def _ternary(x):
        one = ops.ones_like(x)
        zero = ops.zeros_like(x)
        y = ops.where(
            ops.greater(x, threshold),
            one,
            ops.where(ops.less(x, -threshold), -one, zero),
        )

        def grad(*args, upstream=None):
            upstream = _unpack_upstream(args, upstream)
            mask = ops.cast(ops.less(ops.abs(x), clip_value), upstream.dtype)
            return upstream * mask

        return y, grad

    return _ternary(x)


def soft_threshold_ternary(w1: Any, w2: Any, reduce_axes: Axes = None) -> Any:
    """STTN kernel: the sum of two scaled binary kernels.

    Forward, per output channel (the reduction runs over ``reduce_axes``, the
    ``n`` weights that feed one output channel)::

        alpha = (||W1||_1 + ||W2||_1) / (2 n)
        y     = alpha * (sign(W1) + sign(W2))        # in alpha * {-2, 0, +2}

    Backward: the rule of the authors' reference implementation. With ``g``
    the gradient reaching the summed kernel (each binary kernel receives the
    same ``g``, since ``y`` is their sum)::

        dL/dW_k = g + sign(W_k) * mean_n(sign(W_k) * g),   k = 1, 2

    This is the straight-through estimator for ``sign`` (identity; the latent
    kernels are clamped to [-1, 1], so the usual ``1{|w| <= 1}`` window is
    always open) plus the derivative through ``alpha``, with the common factor
    ``alpha`` dropped (Adam, the reference optimizer, is invariant to it).

    Args:
        w1: First latent kernel.
        w2: Second latent kernel, same shape as ``w1``.
        reduce_axes: Axes summed to form one output channel's ``n`` weights.
            Defaults to all axes but the last.

    Returns:
        The quantized kernel, shape of ``w1``.

    Example:

    >>> from keras import ops
    >>> w1 = ops.array([[0.5], [-0.5]]); w2 = ops.array([[0.5], [0.5]])
    >>> ops.convert_to_numpy(soft_threshold_ternary(w1, w2))
    array([[1.],
           [0.]], dtype=float32)
    """
    axes = _normalize_axes(len(w1.shape), reduce_axes)

    @ops.custom_gradient
    def _sttn(w1, w2):
        s1 = _binary_sign(w1)
        s2 = _binary_sign(w2)
        alpha = 0.5 * (
            ops.mean(ops.abs(w1), axis=axes, keepdims=True)
            + ops.mean(ops.abs(w2), axis=axes, keepdims=True)
        )
        y = alpha * (s1 + s2)

        def grad(*args, upstream=None):
            g = _unpack_upstream(args, upstream)
            g1 = g + s1 * ops.mean(s1 * g, axis=axes, keepdims=True)
            g2 = g + s2 * ops.mean(s2 * g, axis=axes, keepdims=True)
            return g1, g2

        return y, grad

    return _sttn(w1, w2)


def _twn_threshold_and_scale(w, axes, threshold_factor):
    abs_w = ops.abs(w)
    delta = threshold_factor * ops.mean(abs_w, axis=axes, keepdims=True)
    above = ops.cast(ops.greater(abs_w, delta), w.dtype)
    count = ops.sum(above, axis=axes, keepdims=True)
    alpha = ops.sum(abs_w * above, axis=axes, keepdims=True) / ops.maximum(count, 1.0)
    return delta, above, alpha


def hard_threshold_ternary(
    w: Any, reduce_axes: Axes = None, threshold_factor: float = 0.7
) -> Any:
    """TWN kernel: a hard threshold ``Delta`` on ``|W|``.

    Forward, per output channel (reduction over ``reduce_axes``)::

        Delta = threshold_factor * mean|W|
        alpha = mean(|W| where |W| > Delta)
        y     = alpha * sign(W) * 1{|W| > Delta}

    Backward: straight-through, ``dL/dW = dL/dy``.

    Args:
        w: Latent kernel.
        reduce_axes: Axes forming one output channel. Defaults to all axes but
            the last.
        threshold_factor: The TWN factor (0.7 in the paper).

    Returns:
        The quantized kernel, shape of ``w``.

    Example:

    >>> from keras import ops
    >>> ops.convert_to_numpy(hard_threshold_ternary(ops.array([[1.0], [0.1]])))
    array([[1.],
           [0.]], dtype=float32)
    """
    axes = _normalize_axes(len(w.shape), reduce_axes)

    @ops.custom_gradient
    def _twn(w):
        _, above, alpha = _twn_threshold_and_scale(w, axes, threshold_factor)
        y = alpha * _binary_sign(w) * above

        def grad(*args, upstream=None):
            return _unpack_upstream(args, upstream)

        return y, grad

    return _twn(w)


# ---------------------------------------------------------------------------
# Serialisable classes
# ---------------------------------------------------------------------------


def _check_positive(owner, name, value):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise ValueError(
            f"Received an invalid value for `{name}` of {owner}, expected a "
            f"positive number. Received: {name}={value!r}"
        )


class Quantizer(abc.ABC):
    """Base class of the sttn quantizers.

    Attributes:
        precision: Bits needed per quantized value when deployed (2 for a
            trit stored as two bits).

    Example:

    >>> q = get("ternary")
    >>> isinstance(q, Quantizer), q.precision, q == TernaryActivation()
    (True, 2, True)
    """

    precision = 2

    @abc.abstractmethod
    def __call__(self, *args, **kwargs):
        """Quantizes its input(s)."""

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(self.get_config().items()))))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


# What a ``kernel_quantizer=`` / ``input_quantizer=`` argument accepts: a
# registered name ("sttn", "twn", "ternary"), a serialized config, an
# instance, or None (no quantization).
QuantizerLike = str | dict | Quantizer | None


class KernelQuantizer(Quantizer):
    """A quantizer of kernels.

    Attributes:
        num_latent_kernels: How many latent float kernels the layer keeps.
        latent_range: ``(lo, hi)`` to which the latent kernels are clamped
            after each update, or ``None``.

    Example:

    >>> q = get("sttn")
    >>> isinstance(q, KernelQuantizer), q.num_latent_kernels, q.latent_range
    (True, 2, (-1.0, 1.0))
    """

    num_latent_kernels = 1
    latent_range = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A subclass written for the old name of ``to_trits`` (``ternarize``
        # in 0.1) keeps working for one release, with a warning.
        if "ternarize" in vars(cls) and "to_trits" not in vars(cls):
            warnings.warn(
                f"{cls.__name__} defines ternarize(), which is deprecated and "
                "will be removed in the next release; define to_trits() "
                "(same arguments and result) instead.",
                DeprecationWarning,
                stacklevel=3,
            )
            cls.to_trits = vars(cls)["ternarize"]

    @abc.abstractmethod
    def to_trits(self, *kernels: Any, reduce_axes: Axes = None) -> tuple[Any, Any]:
        """Returns ``(trits, scale)`` with ``trits * scale == self(*kernels)``.

        ``trits`` is int8 in {-1, 0, +1} with the kernel's shape; ``scale``
        has the kernel's shape with ``reduce_axes`` kept as size 1. (Named
        ``ternarize`` before; that name is the model conversion,
        :func:`sttn_keras.ternarize`.)
        """

    def ternarize(self, *kernels: Any, reduce_axes: Axes = None) -> tuple[Any, Any]:
        """Deprecated alias of :meth:`to_trits`, kept for one release."""
        warnings.warn(
            f"{type(self).__name__}.ternarize() is deprecated and will be "
            "removed in the next release; use to_trits() (sttn_keras.ternarize "
            "is the model conversion).",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.to_trits(*kernels, reduce_axes=reduce_axes)


@register_serializable
class TernaryActivation(Quantizer):
    """Ternary activation quantizer (alias ``"ternary"``).

    ``y = +1 if x > threshold, -1 if x < -threshold, else 0``; the gradient
    passes unchanged where ``|x| < clip_value`` (straight-through estimator).
    See :func:`ternary_activation`.

    Args:
        threshold: Half-width of the zero band (default 0.5, as in STTN).
        clip_value: Gradient window (default 1.0).

    Example:

    >>> q = TernaryActivation()
    >>> keras.ops.convert_to_numpy(q(keras.ops.array([0.6, -0.2, -0.9]))).tolist()
    [1.0, 0.0, -1.0]
    """

    def __init__(self, threshold: float = 0.5, clip_value: float = 1.0):
        _check_positive("TernaryActivation", "threshold", threshold)
        _check_positive("TernaryActivation", "clip_value", clip_value)
        self.threshold = float(threshold)
        self.clip_value = float(clip_value)

    def __call__(self, x):
        return ternary_activation(x, self.threshold, self.clip_value)

    def get_config(self):
        return {"threshold": self.threshold, "clip_value": self.clip_value}


@register_serializable
class SoftThresholdTernary(KernelQuantizer):
    """The STTN weight quantizer (alias ``"sttn"``).

    A layer using it keeps two latent kernels ``W1``, ``W2``, clamped to
    ``[-1, 1]``, and computes with ``alpha * (sign W1 + sign W2)``, alpha per
    output channel. See :func:`soft_threshold_ternary` for the forward and
    backward formulas. For inference the two merge into one ternary kernel
    ``t = (sign W1 + sign W2) / 2`` with scale ``2 * alpha``.

    Example:

    >>> q = SoftThresholdTernary()
    >>> w1 = keras.ops.ones((3, 2)); w2 = -keras.ops.ones((3, 2))
    >>> trits, scale = q.to_trits(w1, w2)
    >>> int(keras.ops.sum(keras.ops.abs(trits)))
    0
    """

    num_latent_kernels = 2
    latent_range = (-1.0, 1.0)

    def __call__(self, w1, w2, reduce_axes=None):
        return soft_threshold_ternary(w1, w2, reduce_axes)

    def to_trits(self, w1, w2, reduce_axes=None):
        axes = _normalize_axes(len(w1.shape), reduce_axes)
        w1 = ops.convert_to_tensor(w1)
        w2 = ops.convert_to_tensor(w2)
        trits = (_binary_sign(w1) + _binary_sign(w2)) / 2
        alpha = 0.5 * (
            ops.mean(ops.abs(w1), axis=axes, keepdims=True)
            + ops.mean(ops.abs(w2), axis=axes, keepdims=True)
        )
        return ops.cast(trits, "int8"), 2.0 * alpha


@register_serializable
class HardThresholdTernary(KernelQuantizer):
    """The TWN weight quantizer (alias ``"twn"``), the paper's baseline.

    ``Delta = threshold_factor * mean|W|`` and ``alpha = mean(|W| > Delta)``
    per output channel; forward ``alpha * sign(W) * 1{|W| > Delta}``,
    straight-through backward. See :func:`hard_threshold_ternary`.

    Args:
        threshold_factor: The TWN factor (default 0.7).

    Example:

    >>> q = HardThresholdTernary()
    >>> trits, scale = q.to_trits(keras.ops.array([[1.0], [-0.1]]))
    >>> keras.ops.convert_to_numpy(trits).ravel().tolist()
    [1, 0]
    """

    def __init__(self, threshold_factor: float = 0.7):
        _check_positive("HardThresholdTernary", "threshold_factor", threshold_factor)
        self.threshold_factor = float(threshold_factor)

    def __call__(self, w, reduce_axes=None):
        return hard_threshold_ternary(w, reduce_axes, self.threshold_factor)

    def to_trits(self, w, reduce_axes=None):
        axes = _normalize_axes(len(w.shape), reduce_axes)
        w = ops.convert_to_tensor(w)
        _, above, alpha = _twn_threshold_and_scale(w, axes, self.threshold_factor)
        trits = _binary_sign(w) * above
        return ops.cast(trits, "int8"), alpha

    def get_config(self):
        return {"threshold_factor": self.threshold_factor}


_ALIASES = {
    "sttn": SoftThresholdTernary,
    "soft_threshold_ternary": SoftThresholdTernary,
    "twn": HardThresholdTernary,
    "hard_threshold_ternary": HardThresholdTernary,
    "ternary": TernaryActivation,
    "ternary_activation": TernaryActivation,
}


def serialize(quantizer: Quantizer | None) -> dict[str, Any] | None:
    """Serialises a quantizer (or ``None``) to a Keras config dict.

    Example:

    >>> serialize(get("sttn"))["class_name"]
    'SoftThresholdTernary'
    """
    if quantizer is None:
        return None
    return keras.saving.serialize_keras_object(quantizer)


def deserialize(config: dict[str, Any] | None) -> Quantizer | None:
    """Inverse of :func:`serialize`.

    Example:

    >>> deserialize(serialize(get("twn")))
    HardThresholdTernary(threshold_factor=0.7)
    """
    if config is None:
        return None
    return keras.saving.deserialize_keras_object(config)


def get(
    identifier: QuantizerLike, *, kind: str | None = None, argument: str = "quantizer"
) -> Quantizer | None:
    """Resolves a quantizer from an alias, a config, an instance or ``None``.

    Args:
        identifier: ``None``, a string alias (``"sttn"``, ``"twn"``,
            ``"ternary"``), a serialised config dict or a quantizer instance.
        kind: If given, ``"kernel"`` or ``"input"``: the identifier must be a
            quantizer of that kind.
        argument: Name of the argument being resolved, for error messages.

    Returns:
        A :class:`Quantizer` instance or ``None``.

    Raises:
        ValueError: If the identifier is unknown or of the wrong kind.

    Example:

    >>> get("sttn")
    SoftThresholdTernary()
    """
    if identifier is None:
        return None
    if isinstance(identifier, str):
        cls = _ALIASES.get(identifier.lower())
        if cls is None:
            raise ValueError(
                f"Received an invalid value for `{argument}`, expected one of "
                f"{sorted(set(_ALIASES))}, a quantizer instance or None. "
                f"Received: {argument}={identifier!r}"
            )
        quantizer = cls()
    elif isinstance(identifier, dict):
        quantizer = deserialize(identifier)
    elif isinstance(identifier, Quantizer):
        quantizer = identifier
    else:
        raise ValueError(
            f"Received an invalid value for `{argument}`, expected a string "
            f"alias, a config dict, a quantizer instance or None. "
            f"Received: {argument}={identifier!r}"
        )
    if kind == "kernel" and not isinstance(quantizer, KernelQuantizer):
        raise ValueError(
            f"Received an invalid value for `{argument}`, expected a kernel "
            f"quantizer such as 'sttn' or 'twn'. Received: {argument}={identifier!r}"
        )
    if kind == "input" and isinstance(quantizer, KernelQuantizer):
        raise ValueError(
            f"Received an invalid value for `{argument}`, expected an "
            f"activation quantizer such as 'ternary'. "
            f"Received: {argument}={identifier!r}"
        )
    return quantizer
