"""Reference models, each in float, TWN and STTN variants.

Every builder takes ``kernel_quantizer`` and ``input_quantizer`` and returns
the same architecture layer for layer:

| variant | ``kernel_quantizer`` | ``input_quantizer`` | quantized layers are |
|---------|----------------------|---------------------|----------------------|
| float   | ``None``             | ``None``            | plain Keras layers   |
| TWN     | ``"twn"``            | ``"ternary"``       | sttn ternary layers  |
| STTN    | ``"sttn"``           | ``"ternary"``       | sttn ternary layers  |

(``kernel_quantizer=None, input_quantizer="ternary"`` gives ternary
activations with float kernels, and ``kernel_quantizer="sttn",
input_quantizer=None`` ternary weights with float activations.)

As in the STTN reference implementation, the first convolution and the last
dense layer always stay float, and every quantized layer follows a
BatchNormalization: the ternary activation lives inside the ternary layer
(its ``input_quantizer``), so "BN -> ternary activation -> ternary conv" is a
``BatchNormalization`` followed by a ``TernaryConv2D``. The BatchNormalization
learns the activation's effective thresholds.

The unit all builders share is::

    BN -> quantized conv/dense -> BN -> [add shortcut] -> PReLU (per channel)

The PReLU is the network's nonlinearity in every variant, so the float model
is an ordinary nonlinear network and the three variants differ only in what
the quantized layers compute. Quantized layers have no bias (a
BatchNormalization follows each one).

References:
    W. Xu et al., "Soft Threshold Ternary Networks", IJCAI 2020,
    https://arxiv.org/abs/2204.01234 (ResNet-18 and AlexNet on ImageNet).
    K. He et al., "Deep Residual Learning for Image Recognition", CVPR 2016
    (ResNet-20 for CIFAR-10, shortcut option A).
"""

from __future__ import annotations

import keras
from keras import layers as kl
from keras import ops

from . import layers as sttn_layers
from ._registry import register_serializable

# A quantizer argument: a registered name, an instance, or None (float).
Quantizer = str | keras.Quantizer | None

__all__ = ["ChannelZeroPad", "alexnet", "resnet18", "resnet20", "small_cnn"]


@register_serializable
class ChannelZeroPad(kl.Layer):
    """Appends zero channels so that the input has ``channels`` channels.

    The parameter-free shortcut of the STTN reference ResNet (and of ResNet
    option A): after a 2x2 max-pool halves the spatial size, the channel count
    is doubled by concatenating zeros.

    Args:
        channels: Positive integer, the number of output channels (at least
            the number of input channels).

    Input shape:
        ``(batch, ..., c)`` with ``c <= channels``.

    Output shape:
        ``(batch, ..., channels)``.

    Example:

    >>> import keras
    >>> tuple(ChannelZeroPad(8)(keras.ops.ones((2, 4, 4, 3))).shape)
    (2, 4, 4, 8)
    """

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(channels, int) or isinstance(channels, bool) or channels < 1:
            raise ValueError(
                "Received an invalid value for `channels`, expected a positive "
                f"integer. Received: channels={channels!r}"
            )
        self.channels = channels

    def build(self, input_shape):
        if input_shape[-1] is not None and input_shape[-1] > self.channels:
            raise ValueError(
                f"Layer '{self.name}' cannot pad {input_shape[-1]} channels to "
                f"fewer channels. Received: channels={self.channels}, "
                f"input_shape={input_shape}"
            )

    def call(self, inputs):
        extra = self.channels - inputs.shape[-1]
        if extra == 0:
            return inputs
        pad = [[0, 0]] * (len(inputs.shape) - 1) + [[0, extra]]
        return ops.pad(inputs, pad)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.channels)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


def _check_shape(input_shape, rank=3):
    ok = (
        isinstance(input_shape, (tuple, list))
        and len(input_shape) == rank
        and all(isinstance(d, int) and d > 0 for d in input_shape)
    )
    if not ok:
        raise ValueError(
            "Received an invalid value for `input_shape`, expected a tuple of "
            f"{rank} positive integers (height, width, channels). "
            f"Received: input_shape={input_shape!r}"
        )
    return tuple(input_shape)


def _check_int(name, value, minimum):
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(
            f"Received an invalid value for `{name}`, expected an integer "
            f">= {minimum}. Received: {name}={value!r}"
        )


def _check_classes(num_classes):
    _check_int("num_classes", num_classes, 2)


def _is_float(kernel_quantizer, input_quantizer):
    return kernel_quantizer is None and input_quantizer is None


def _conv(x, filters, kernel_size, strides, name, kq, iq, padding="same"):
    """A quantized conv (plain Keras conv in the float variant), no bias."""
    if _is_float(kq, iq):
        layer = kl.Conv2D(
            filters, kernel_size, strides, padding=padding, use_bias=False, name=name
        )
    else:
        layer = sttn_layers.TernaryConv2D(
            filters,
            kernel_size,
            strides,
            padding=padding,
            use_bias=False,
            kernel_quantizer=kq,
            input_quantizer=iq,
            name=name,
        )
    return layer(x)


def _dense(x, units, name, kq, iq):
    if _is_float(kq, iq):
        layer = kl.Dense(units, use_bias=False, name=name)
    else:
        layer = sttn_layers.TernaryDense(
            units, use_bias=False, kernel_quantizer=kq, input_quantizer=iq, name=name
        )
    return layer(x)


def _bn(x, name):
    # Keras's default momentum 0.99 is tuned for long ImageNet runs; 0.9 lets
    # the moving statistics follow the fast-changing ternary networks (as
    # PyTorch's default, which the reference implementation uses).
    return kl.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)(x)


def _prelu(x, name):
    return kl.PReLU(
        alpha_initializer=keras.initializers.Constant(0.25),
        shared_axes=[1, 2] if len(x.shape) == 4 else None,
        name=name,
    )(x)


def _residual_unit(x, filters, strides, name, kq, iq):
    """BN -> quantized 3x3 conv -> BN -> add shortcut -> PReLU."""
    shortcut = x
    if strides != 1:
        shortcut = kl.MaxPooling2D(2, strides, padding="same", name=name + "_pool")(
            shortcut
        )
    if shortcut.shape[-1] != filters:
        shortcut = ChannelZeroPad(filters, name=name + "_zeropad")(shortcut)
    y = _bn(x, name + "_bn_in")
    y = _conv(y, filters, 3, strides, name + "_conv", kq, iq)
    y = _bn(y, name + "_bn_out")
    y = kl.Add(name=name + "_add")([y, shortcut])
    return _prelu(y, name + "_prelu")


def _basic_block(x, filters, strides, name, kq, iq):
    """The reference basic block: two residual units, each with a shortcut."""
    x = _residual_unit(x, filters, strides, name + "_unit1", kq, iq)
    return _residual_unit(x, filters, 1, name + "_unit2", kq, iq)


def _model_name(base, kq, iq):
    if _is_float(kq, iq):
        return base + "_float"
    kname = kq if isinstance(kq, str) or kq is None else type(kq).__name__.lower()
    return f"{base}_{kname or 'floatkernel'}" + ("" if iq is not None else "_w")


def resnet18(
    input_shape: tuple[int, int, int] = (224, 224, 3),
    num_classes: int = 1000,
    kernel_quantizer: Quantizer = "sttn",
    input_quantizer: Quantizer = "ternary",
) -> keras.Model:
    """ResNet-18 as in the STTN reference implementation (ImageNet).

    Stem (float): 7x7/2 conv with 64 filters, BN, PReLU, 3x3/2 max-pool.
    Four stages of 64, 128, 256, 512 channels, two basic blocks each; a basic
    block is twice ``BN -> ternary 3x3 conv -> BN -> add shortcut -> PReLU``
    (the ternary activation is inside the ternary conv). The first unit of
    stages 2-4 has stride 2 and its shortcut is a 2x2 max-pool followed by
    zero channels (no 1x1 conv). Head (float): global average pool, dense.

    Parameter count (float, 224x224x3, 1000 classes): 11,526,376 trainable
    (11,540,968 with the BN moving statistics) against torchvision's
    11,689,512 for its ResNet-18: no 1x1 downsampling convs (-172,032
    weights), and BN + PReLU around every conv instead of one BN after it.

    Args:
        input_shape: ``(height, width, channels)``.
        num_classes: Number of classes of the float dense head.
        kernel_quantizer: ``"sttn"``, ``"twn"``, a kernel quantizer instance,
            or ``None`` (float kernels).
        input_quantizer: ``"ternary"`` or ``None`` (float activations).
            With both quantizers ``None`` the model is plain Keras.

    Returns:
        A functional ``keras.Model`` producing logits.

    Example:

    >>> from sttn_keras import models
    >>> model = models.resnet18(input_shape=(64, 64, 3), num_classes=10)
    >>> model.output_shape
    (None, 10)
    """
    return _resnet(
        "resnet18",
        input_shape,
        num_classes,
        kernel_quantizer,
        input_quantizer,
        stem="imagenet",
        stages=((64, 2), (128, 2), (256, 2), (512, 2)),
    )


def resnet20(
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
    kernel_quantizer: Quantizer = "sttn",
    input_quantizer: Quantizer = "ternary",
) -> keras.Model:
    """CIFAR ResNet-20 in the block style of the STTN reference ResNet.

    Stem (float): 3x3 conv with 16 filters, BN, PReLU. Three stages of 16,
    32, 64 channels with three basic blocks each (each block two
    ``BN -> ternary 3x3 conv -> BN -> add -> PReLU`` units: 18 ternary convs,
    20 weight layers with the stem and head). Downsampling units have stride
    2 and a max-pool + zero-channel shortcut (He et al.'s option A).
    Head (float): global average pool, dense.

    Parameter count (float, 32x32x3, 10 classes): 271,658 trainable, against
    about 0.27M for He et al.'s ResNet-20.

    Args:
        input_shape: ``(height, width, channels)``.
        num_classes: Number of classes.
        kernel_quantizer: ``"sttn"``, ``"twn"``, a kernel quantizer instance,
            or ``None``.
        input_quantizer: ``"ternary"`` or ``None``.

    Returns:
        A functional ``keras.Model`` producing logits.

    Example:

    >>> from sttn_keras import models
    >>> models.resnet20(kernel_quantizer=None, input_quantizer=None).name
    'resnet20_float'
    """
    return _resnet(
        "resnet20",
        input_shape,
        num_classes,
        kernel_quantizer,
        input_quantizer,
        stem="cifar",
        stages=((16, 3), (32, 3), (64, 3)),
    )


def _resnet(base, input_shape, num_classes, kq, iq, stem, stages):
    input_shape = _check_shape(input_shape)
    _check_classes(num_classes)
    inputs = keras.Input(input_shape, name="image")
    if stem == "imagenet":
        x = kl.Conv2D(64, 7, 2, padding="same", use_bias=False, name="stem_conv")(
            inputs
        )
        x = _bn(x, "stem_bn")
        x = _prelu(x, "stem_prelu")
        x = kl.MaxPooling2D(3, 2, padding="same", name="stem_pool")(x)
    else:
        x = kl.Conv2D(
            stages[0][0], 3, padding="same", use_bias=False, name="stem_conv"
        )(inputs)
        x = _bn(x, "stem_bn")
        x = _prelu(x, "stem_prelu")
    for s, (filters, blocks) in enumerate(stages, start=1):
        for b in range(1, blocks + 1):
            strides = 2 if (s > 1 and b == 1) else 1
            x = _basic_block(x, filters, strides, f"stage{s}_block{b}", kq, iq)
    x = kl.GlobalAveragePooling2D(name="pool")(x)
    outputs = kl.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=_model_name(base, kq, iq))


def alexnet(
    input_shape: tuple[int, int, int] = (224, 224, 3),
    num_classes: int = 1000,
    kernel_quantizer: Quantizer = "sttn",
    input_quantizer: Quantizer = "ternary",
    dropout: float = 0.5,
) -> keras.Model:
    """AlexNet (the torchvision layout) with ternary middle layers.

    Float: the first 11x11/4 conv (64 filters) and the last dense layer.
    Ternary: the 5x5 conv (192), the three 3x3 convs (384, 256, 256) and the
    two 4096-unit dense layers, each as ``BN -> ternary layer -> BN -> PReLU``;
    3x3/2 max-pools after conv1, conv2 and conv5, dropout before the two
    hidden dense layers. At 224x224 the feature map before the classifier is
    6x6x256, as in torchvision (whose adaptive pool is the identity there).

    Parameter count (float, 224x224x3, 1000 classes): 61,147,944 trainable,
    against torchvision's 61,100,840: all convs and the hidden dense layers
    lose their biases (-9,344) and BN and PReLU parameters are added.

    Args:
        input_shape: ``(height, width, channels)``; at least 63x63.
        num_classes: Number of classes.
        kernel_quantizer: ``"sttn"``, ``"twn"``, a kernel quantizer instance,
            or ``None``.
        input_quantizer: ``"ternary"`` or ``None``.
        dropout: Dropout rate before the hidden dense layers, in ``[0, 1)``.

    Returns:
        A functional ``keras.Model`` producing logits.

    Example:

    >>> from sttn_keras import models
    >>> models.alexnet(num_classes=10, kernel_quantizer="twn").output_shape
    (None, 10)
    """
    input_shape = _check_shape(input_shape)
    _check_classes(num_classes)
    if not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ValueError(
            "Received an invalid value for `dropout`, expected a float in "
            f"[0, 1). Received: dropout={dropout!r}"
        )
    if min(input_shape[:2]) < 63:
        raise ValueError(
            "Received an invalid value for `input_shape`, expected at least "
            f"63x63 pixels for AlexNet. Received: input_shape={input_shape}"
        )
    kq, iq = kernel_quantizer, input_quantizer
    inputs = keras.Input(input_shape, name="image")
    x = kl.ZeroPadding2D(2, name="conv1_pad")(inputs)
    x = kl.Conv2D(64, 11, 4, padding="valid", use_bias=False, name="conv1")(x)
    x = _bn(x, "conv1_bn")
    x = _prelu(x, "conv1_prelu")
    x = kl.MaxPooling2D(3, 2, name="pool1")(x)
    for i, (filters, size, pool) in enumerate(
        [(192, 5, True), (384, 3, False), (256, 3, False), (256, 3, True)], start=2
    ):
        x = _bn(x, f"conv{i}_bn_in")
        x = _conv(x, filters, size, 1, f"conv{i}", kq, iq)
        x = _bn(x, f"conv{i}_bn_out")
        x = _prelu(x, f"conv{i}_prelu")
        if pool:
            x = kl.MaxPooling2D(3, 2, name=f"pool{i}")(x)
    x = kl.Flatten(name="flatten")(x)
    for i in (6, 7):
        x = kl.Dropout(dropout, name=f"fc{i}_dropout")(x)
        x = _bn(x, f"fc{i}_bn_in")
        x = _dense(x, 4096, f"fc{i}", kq, iq)
        x = _bn(x, f"fc{i}_bn_out")
        x = _prelu(x, f"fc{i}_prelu")
    outputs = kl.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=_model_name("alexnet", kq, iq))


def small_cnn(
    input_shape: tuple[int, int, int] = (28, 28, 1),
    num_classes: int = 10,
    kernel_quantizer: Quantizer = "sttn",
    input_quantizer: Quantizer = "ternary",
    filters: tuple[int, int, int] = (32, 64, 128),
    dense_units: int = 256,
) -> keras.Model:
    """A small CNN for 28x28 (or 32x32) images, cheap to train on a CPU.

    Layout with the defaults (28x28x1 input), about 7.8M multiply-adds per
    image, 93% of them in the two ternary convs::

        conv 3x3, 32 (float) -> BN -> PReLU -> maxpool 2       28 -> 14
        BN -> ternary conv 3x3, 64  -> BN -> PReLU -> maxpool  14 -> 7
        BN -> ternary conv 3x3, 128 -> BN -> PReLU -> maxpool   7 -> 3
        flatten (1152) -> BN -> ternary dense 256 -> BN -> PReLU
        dense num_classes (float)

    Why this design: the float first and last layers follow the paper
    (quantizing the few weights that touch raw pixels and logits costs
    accuracy and saves almost nothing). Each max-pool comes *after* the
    ternary conv's float output, where it keeps the strongest response; a
    pool of ternary values would lose more. Pooling to 3x3 before the dense
    layer (rather than a global pool) keeps spatial layout that Fashion-MNIST
    classes need, at 1152 inputs to the ternary dense. Doubling the channels
    at each stage gives the ternary layers width, which matters more for
    them than for float layers (each trit carries less information).

    Args:
        input_shape: ``(height, width, channels)``, at least 8x8.
        num_classes: Number of classes.
        kernel_quantizer: ``"sttn"``, ``"twn"``, a kernel quantizer instance,
            or ``None``.
        input_quantizer: ``"ternary"`` or ``None``.
        filters: Three positive integers: the float conv's filters and the
            two ternary convs' filters.
        dense_units: Units of the ternary hidden dense layer (0: none; the
            pooled features then go to the float head directly).

    Returns:
        A functional ``keras.Model`` producing logits.

    Example:

    >>> from sttn_keras import models
    >>> model = models.small_cnn(kernel_quantizer=None, input_quantizer=None)
    >>> model.count_params()
    397322
    """
    input_shape = _check_shape(input_shape)
    _check_classes(num_classes)
    if min(input_shape[:2]) < 8:
        raise ValueError(
            "Received an invalid value for `input_shape`, expected at least "
            f"8x8 pixels. Received: input_shape={input_shape}"
        )
    if (
        not isinstance(filters, (tuple, list))
        or len(filters) != 3
        or not all(isinstance(f, int) and f > 0 for f in filters)
    ):
        raise ValueError(
            "Received an invalid value for `filters`, expected three positive "
            f"integers. Received: filters={filters!r}"
        )
    _check_int("dense_units", dense_units, 0)
    kq, iq = kernel_quantizer, input_quantizer
    inputs = keras.Input(input_shape, name="image")
    x = kl.Conv2D(filters[0], 3, padding="same", use_bias=False, name="conv1")(inputs)
    x = _bn(x, "conv1_bn")
    x = _prelu(x, "conv1_prelu")
    x = kl.MaxPooling2D(2, name="pool1")(x)
    for i, f in enumerate(filters[1:], start=2):
        x = _bn(x, f"conv{i}_bn_in")
        x = _conv(x, f, 3, 1, f"conv{i}", kq, iq)
        x = _bn(x, f"conv{i}_bn_out")
        x = _prelu(x, f"conv{i}_prelu")
        x = kl.MaxPooling2D(2, name=f"pool{i}")(x)
    x = kl.Flatten(name="flatten")(x)
    if dense_units:
        x = _bn(x, "fc_bn_in")
        x = _dense(x, dense_units, "fc", kq, iq)
        x = _bn(x, "fc_bn_out")
        x = _prelu(x, "fc_prelu")
    outputs = kl.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=_model_name("small_cnn", kq, iq))
