"""Ternary layers: Keras layers with ternary kernels and ternary inputs.

Each layer subclasses its Keras counterpart and keeps its full signature,
adding only ``kernel_quantizer=`` (default ``"sttn"``) and
``input_quantizer=`` (default ``"ternary"``; ``None`` quantizes weights
only).

Speed: during training these layers run Keras's float convolution on
{-1, 0, +1} values; they are **not** faster than the float layers. The speed
comes at inference, from the bit-packed kernels of ``sttn_keras.export``.

How they extend Keras: each layer overrides only the points where its
Keras layer reads the kernel or the input, and Keras's own ``call`` does the
rest (bias, activation, masking, dtype policy and autocasting):

* ``kernel`` is a read-only property, as it is in Keras when LoRA is on: the
  kernel the layer computes with, ``kernel_quantizer(*latent_kernels)``, a
  tensor. The trainable variables are ``latent_kernels``.
* ``TernaryConv2D.convolution_op`` (Keras's hook for a conv with a
  transformed kernel) quantizes the input. ``Dense`` and ``DepthwiseConv2D``
  have no input hook in Keras 3.15, so their ``call`` quantizes the input and
  hands over to Keras's ``call``, with Keras's signature.

Weights:

* ``kernel_quantizer="sttn"``: two latent kernels, W1 (saved as ``kernel``)
  and W2 (``kernel_2``), both drawn from the layer's kernel initializer and
  clamped to ``[-1, 1]`` after each update (composed with any user
  constraint). Two independent draws matter: if ``W1 == W2`` the two kernels
  get identical gradients and no zero ever appears.
* ``kernel_quantizer="twn"``: one latent kernel with a hard threshold.
* ``kernel_quantizer=None``: a float kernel (only the input is quantized).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from . import quantizers as quantizers_lib
from ._registry import register_serializable
from .quantizers import QuantizerLike

__all__ = [
    "TernaryConv2D",
    "TernaryDense",
    "TernaryDepthwiseConv2D",
    "TernaryLayerMixin",
]


@register_serializable
class _ClipConstraint(keras.constraints.Constraint):
    """Clamps a latent kernel to ``[min_value, max_value]`` then applies
    ``inner`` (a user constraint) if given."""

    def __init__(self, min_value=-1.0, max_value=1.0, inner=None):
        self.min_value = float(min_value)
        self.max_value = float(max_value)
        self.inner = keras.constraints.get(inner)

    def __call__(self, w):
        w = ops.clip(w, self.min_value, self.max_value)
        if self.inner is not None:
            w = self.inner(w)
        return w

    def get_config(self):
        return {
            "min_value": self.min_value,
            "max_value": self.max_value,
            "inner": keras.constraints.serialize(self.inner),
        }


def _independent_initializer(initializer):
    """A copy of ``initializer`` that draws different values.

    Keras initializers fix their seed at construction, so calling the same
    instance twice gives the same tensor; STTN needs W1 and W2 drawn
    independently. An integer seed ``s`` becomes ``s + 1`` (reproducible);
    no seed draws a fresh default one (reproducible under
    ``keras.utils.set_random_seed``). Initializers without a seed (constants)
    are returned as they are.
    """
    config = initializer.get_config()
    if "seed" not in config:
        return initializer
    seed = config["seed"]
    config["seed"] = seed + 1 if isinstance(seed, int) else None
    return type(initializer).from_config(config)


class TernaryLayerMixin:
    """Shared machinery of the ternary layers.

    Subclasses name the Keras layer's kernel arguments in
    ``_initializer_attr``, ``_regularizer_attr`` and ``_constraint_attr``.

    Example:

    >>> isinstance(TernaryDense(4), TernaryLayerMixin)
    True
    """

    _initializer_attr = "kernel_initializer"
    _regularizer_attr = "kernel_regularizer"
    _constraint_attr = "kernel_constraint"

    def _init_quantizers(self, kernel_quantizer, input_quantizer):
        self.kernel_quantizer = quantizers_lib.get(
            kernel_quantizer, kind="kernel", argument="kernel_quantizer"
        )
        self.input_quantizer = quantizers_lib.get(
            input_quantizer, kind="input", argument="input_quantizer"
        )
        if self.kernel_quantizer is None and self.input_quantizer is None:
            raise ValueError(
                f"Layer '{self.name}' quantizes nothing: `kernel_quantizer` "
                "and `input_quantizer` are both None; use the Keras layer "
                "instead. Received: kernel_quantizer=None, input_quantizer=None"
            )

    def build(self, input_shape):
        super().build(input_shape)
        self._build_latent_kernels()

    # -- kernels ---------------------------------------------------------------

    # Why the `kernel` property is the hook (Keras 3.15):
    # * Keras's Dense.call, BaseConv.call and DepthwiseConv2D.call all compute
    #   with `self.kernel`; Dense and DepthwiseConv2D have no other hook, and
    #   BaseConv.convolution_op receives what `self.kernel` returns. With this
    #   property Keras's own `call` adds the bias and the activation and
    #   applies masking and the dtype policy, as for its own layers.
    # * Keras does the same with LoRA: `kernel` is then computed from the
    #   stored variable and is no longer the variable.
    # * Saving does not read it: `save_own_variables` below writes the latent
    #   variables (Keras's own versions would save `self.kernel`).
    # * `quantize()` and `enable_lora()`, the Keras features that change what
    #   Keras's `kernel` property returns, are refused below, so that property
    #   (read through `super()`) is always the stored first latent kernel.
    @property
    def kernel(self):
        """The kernel the layer computes with, a tensor (not a variable).

        ``kernel_quantizer(*latent_kernels)``: ternary values times one scale
        per output channel; the latent kernel itself (copied) when
        ``kernel_quantizer`` is None. The trainable variables are
        :attr:`latent_kernels`.

        Example:

        >>> layer = TernaryDense(2, kernel_quantizer="twn")
        >>> layer.build((None, 3))
        >>> trits, scale = layer.get_ternary_kernel()
        >>> bool(keras.ops.all(layer.kernel == trits * scale))
        True
        """
        return self.quantized_kernel()

    def _first_latent_kernel(self):
        # Keras's own `kernel` property: its stored kernel variable.
        return super().kernel

    @property
    def latent_kernels(self):
        """The latent float kernels, in the quantizer's argument order.

        These are the trainable variables: W1 and W2 for ``"sttn"``, one
        kernel for ``"twn"`` or a float kernel.

        Example:

        >>> layer = TernaryDense(2, name="fc")
        >>> layer.build((None, 3))
        >>> [k.path for k in layer.latent_kernels]
        ['fc/kernel', 'fc/kernel_2']
        """
        first = self._first_latent_kernel()
        if getattr(self, "kernel_2", None) is not None:
            return [first, self.kernel_2]
        return [first]

    def _build_latent_kernels(self):
        """Adds the second latent kernel and the latent clamp after the Keras
        layer's own ``build`` created the first one."""
        first = self._first_latent_kernel()
        q = self.kernel_quantizer
        user_constraint = getattr(self, self._constraint_attr)
        self.kernel_2 = None
        if q is None:
            return
        constraint = user_constraint
        if q.latent_range is not None:
            constraint = _ClipConstraint(*q.latent_range, inner=user_constraint)
            first.constraint = constraint
            # Start inside the clamp range, as training would leave it.
            first.assign(ops.clip(first, *q.latent_range))
        if q.num_latent_kernels == 2:
            self.kernel_2 = self.add_weight(
                name="kernel_2",
                shape=first.shape,
                initializer=_independent_initializer(
                    getattr(self, self._initializer_attr)
                ),
                regularizer=getattr(self, self._regularizer_attr),
                constraint=constraint,
                dtype=first.dtype,
            )
            if q.latent_range is not None:
                self.kernel_2.assign(ops.clip(self.kernel_2, *q.latent_range))

    def _reduce_axes(self):
        """Axes of the kernel holding one output channel's weights."""
        ndim = len(self._first_latent_kernel().shape)
        return tuple(range(ndim - 1))

    def quantized_kernel(self) -> Any:
        """The kernel the layer computes with (float values, ternary times a
        per-output-channel scale when a kernel quantizer is set); the value of
        :attr:`kernel`.

        Example:

        >>> layer = TernaryConv2D(4, 3)
        >>> layer.build((None, 5, 5, 2))
        >>> tuple(layer.quantized_kernel().shape)
        (3, 3, 2, 4)
        """
        # Tensors, not variables: tf.custom_gradient must not see variables.
        kernels = [ops.copy(k) for k in self.latent_kernels]
        if self.kernel_quantizer is None:
            return kernels[0]
        return self.kernel_quantizer(*kernels, reduce_axes=self._reduce_axes())

    def quantize_input(self, inputs: Any) -> Any:
        """Applies the input quantizer (identity if ``None``).

        Example:

        >>> layer = TernaryDense(2)
        >>> x = keras.ops.array([[0.9, 0.2, -0.7]])
        >>> keras.ops.convert_to_numpy(layer.quantize_input(x)).tolist()
        [[1.0, 0.0, -1.0]]
        """
        if self.input_quantizer is None:
            return inputs
        return self.input_quantizer(inputs)

    def get_ternary_kernel(self) -> tuple[np.ndarray, np.ndarray]:
        """Returns the deployable ternary kernel of this layer.

        Returns:
            ``(trits, scale)``: ``trits`` is an int8 numpy array in
            {-1, 0, +1} with the kernel's shape; ``scale`` is a float32 numpy
            array with one value per output channel (shape ``(filters,)``,
            ``(units,)`` or ``(in_channels * depth_multiplier,)``). The layer
            computes exactly what its Keras counterpart computes with kernel
            ``trits * scale`` on the quantized input.

        Raises:
            ValueError: If the layer is not built or has no kernel quantizer.

        Example:

        >>> layer = TernaryDense(3)
        >>> _ = layer(keras.ops.ones((1, 4)))
        >>> trits, scale = layer.get_ternary_kernel()
        >>> trits.shape, scale.shape
        ((4, 3), (3,))
        """
        if not self.built:
            raise ValueError(
                f"Layer '{self.name}' is not built yet: call it on an input "
                "before `get_ternary_kernel()`."
            )
        if self.kernel_quantizer is None:
            raise ValueError(
                f"Layer '{self.name}' has a float kernel "
                "(kernel_quantizer=None), so it has no ternary kernel."
            )
        trits, scale = self.kernel_quantizer.to_trits(
            *self.latent_kernels, reduce_axes=self._reduce_axes()
        )
        trits = ops.convert_to_numpy(trits).astype("int8")
        scale = ops.convert_to_numpy(scale).astype("float32")
        return trits, self._per_channel(scale)

    def _per_channel(self, scale):
        return scale.reshape(-1)

    # -- serialisation --------------------------------------------------------

    def _variables_in_order(self):
        variables = [self._first_latent_kernel()]
        if self.use_bias:
            variables.append(self.bias)
        if getattr(self, "kernel_2", None) is not None:
            variables.append(self.kernel_2)
        return variables

    def save_own_variables(self, store):
        if not self.built:
            return
        for i, variable in enumerate(self._variables_in_order()):
            store[str(i)] = variable

    def load_own_variables(self, store):
        if not self.built:
            return
        variables = self._variables_in_order()
        if len(store.keys()) != len(variables):
            raise ValueError(
                f"Layer '{self.name}' expected {len(variables)} variables "
                f"({[v.name for v in variables]}) but the saved weights hold "
                f"{len(store.keys())}. Was the model saved with another "
                "kernel_quantizer or use_bias?"
            )
        for i, variable in enumerate(variables):
            variable.assign(store[str(i)])

    def get_config(self):
        return {
            **super().get_config(),
            "kernel_quantizer": quantizers_lib.serialize(self.kernel_quantizer),
            "input_quantizer": quantizers_lib.serialize(self.input_quantizer),
        }

    # -- unsupported Keras features -------------------------------------------

    def enable_lora(self, *args, **kwargs) -> None:
        raise ValueError(
            f"LoRA is not supported on ternary layer '{self.name}': its "
            "kernel is quantized from latent weights."
        )

    def quantize(self, mode=None, *args, **kwargs):
        raise ValueError(
            f"Layer '{self.name}' is already ternary; Keras's "
            f"`quantize(mode={mode!r})` does not apply. Use "
            "`get_ternary_kernel()` or `sttn_keras.export`."
        )


@register_serializable
class TernaryConv2D(TernaryLayerMixin, keras.layers.Conv2D):
    """2D convolution with a ternary kernel and ternary inputs.

    Takes every argument of ``keras.layers.Conv2D`` plus the two below.
    Forward: ``Conv2D(input_quantizer(x), kernel_quantizer(latent kernels))``.

    Args:
        kernel_quantizer: ``"sttn"`` (default), ``"twn"``, a
            :class:`~sttn_keras.quantizers.KernelQuantizer` or ``None``.
        input_quantizer: ``"ternary"`` (default), a quantizer or ``None``
            (weights-only ternarization).

    Input shape / output shape: as ``keras.layers.Conv2D``.

    Example:

    >>> layer = TernaryConv2D(8, 3, padding="same")
    >>> tuple(layer(keras.ops.ones((2, 5, 5, 4))).shape)
    (2, 5, 5, 8)
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        data_format=None,
        dilation_rate=(1, 1),
        groups=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        kernel_quantizer: QuantizerLike = "sttn",
        input_quantizer: QuantizerLike = "ternary",
        **kwargs,
    ):
        super().__init__(
            filters=filters,
            kernel_size=kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            groups=groups,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            **kwargs,
        )
        self._init_quantizers(kernel_quantizer, input_quantizer)

    def convolution_op(self, inputs, kernel):
        # Keras's Conv2D.call passes `self.kernel`, already quantized, then
        # adds the bias and the activation itself.
        return super().convolution_op(self.quantize_input(inputs), kernel)


@register_serializable
class TernaryDense(TernaryLayerMixin, keras.layers.Dense):
    """Densely-connected layer with a ternary kernel and ternary inputs.

    Takes every argument of ``keras.layers.Dense`` plus the two below.
    Forward: ``input_quantizer(x) @ kernel_quantizer(latent kernels) + bias``.
    LoRA (``lora_rank``) and Keras quantization (``quantization_config``)
    are not supported and raise.

    Args:
        kernel_quantizer: ``"sttn"`` (default), ``"twn"``, a kernel quantizer
            or ``None``.
        input_quantizer: ``"ternary"`` (default), a quantizer or ``None``.

    Example:

    >>> layer = TernaryDense(10)
    >>> tuple(layer(keras.ops.ones((2, 16))).shape)
    (2, 10)
    """

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        lora_rank=None,
        lora_alpha=None,
        quantization_config=None,
        kernel_quantizer: QuantizerLike = "sttn",
        input_quantizer: QuantizerLike = "ternary",
        **kwargs,
    ):
        if lora_rank is not None:
            raise ValueError(
                "LoRA is not supported on TernaryDense. "
                f"Received: lora_rank={lora_rank!r}"
            )
        if quantization_config is not None:
            raise ValueError(
                "TernaryDense is already quantized; `quantization_config` must "
                f"be None. Received: quantization_config={quantization_config!r}"
            )
        super().__init__(
            units=units,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            lora_alpha=lora_alpha,
            **kwargs,
        )
        self._init_quantizers(kernel_quantizer, input_quantizer)

    def call(self, inputs, training=None):
        # Keras's Dense has no input hook: quantize here, then Keras's call
        # multiplies by `self.kernel` (quantized) and adds bias and activation.
        return super().call(self.quantize_input(inputs), training=training)

    def get_config(self):
        config = super().get_config()
        for key in ("lora_rank", "lora_alpha", "quantization_config"):
            config.pop(key, None)
        return config


@register_serializable
class TernaryDepthwiseConv2D(TernaryLayerMixin, keras.layers.DepthwiseConv2D):
    """Depthwise 2D convolution with a ternary kernel and ternary inputs.

    Takes every argument of ``keras.layers.DepthwiseConv2D`` plus the two
    below. The scale is per output channel (``in_channels *
    depth_multiplier`` of them), each over its ``kernel_h * kernel_w``
    weights.

    Args:
        kernel_quantizer: ``"sttn"`` (default), ``"twn"``, a kernel quantizer
            or ``None``.
        input_quantizer: ``"ternary"`` (default), a quantizer or ``None``.

    Example:

    >>> layer = TernaryDepthwiseConv2D(3, padding="same")
    >>> tuple(layer(keras.ops.ones((1, 6, 6, 4))).shape)
    (1, 6, 6, 4)
    """

    _initializer_attr = "depthwise_initializer"
    _regularizer_attr = "depthwise_regularizer"
    _constraint_attr = "depthwise_constraint"

    def __init__(
        self,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        depth_multiplier=1,
        data_format=None,
        dilation_rate=(1, 1),
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        depthwise_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        depthwise_constraint=None,
        bias_constraint=None,
        kernel_quantizer: QuantizerLike = "sttn",
        input_quantizer: QuantizerLike = "ternary",
        **kwargs,
    ):
        super().__init__(
            kernel_size=kernel_size,
            strides=strides,
            padding=padding,
            depth_multiplier=depth_multiplier,
            data_format=data_format,
            dilation_rate=dilation_rate,
            activation=activation,
            use_bias=use_bias,
            depthwise_initializer=depthwise_initializer,
            bias_initializer=bias_initializer,
            depthwise_regularizer=depthwise_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            depthwise_constraint=depthwise_constraint,
            bias_constraint=bias_constraint,
            **kwargs,
        )
        self._init_quantizers(kernel_quantizer, input_quantizer)

    # Keras's DepthwiseConv2D keeps its kernel variable in a plain attribute:
    # its build runs `self.kernel = self.add_weight(...)`. Here `kernel` is
    # the quantized kernel (TernaryLayerMixin.kernel), so the variable that
    # build hands over is kept as the first latent kernel.
    @TernaryLayerMixin.kernel.setter
    def kernel(self, variable):
        self._latent_kernel = variable

    def _first_latent_kernel(self):
        return self._latent_kernel

    def _reduce_axes(self):
        # Kernel (kh, kw, in_channels, depth_multiplier): one output channel
        # per (in_channel, multiplier) pair, over the kh * kw window.
        return (0, 1)

    def call(self, inputs):
        # Keras's DepthwiseConv2D has no input hook: quantize here, then
        # Keras's call convolves with `self.kernel` (quantized) and adds bias
        # and activation.
        return super().call(self.quantize_input(inputs))
