"""TensorFlow definitions of the sttn custom ops (docs/op-format.md).

Each op is a ``tf.function(experimental_implements=...)`` tagged
``tfl_fusable_op``: the stock TFLite converter replaces every call with one
CUSTOM op whose custom code is the op name and whose custom options are the
other attributes as a FlexBuffer map. The function bodies are TensorFlow
reference implementations of the same math, so an export graph runs in
TensorFlow (for fold checks) before it is converted.

Attributes are fixed per function, so there is one function per op and
attribute combination, cached.
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from . import packing
from .op_format import (
    BASE3,
    CONV2D,
    CONV2D_FLOAT_IN,
    DEPTHWISE_CONV2D,
    DEPTHWISE_CONV2D_FLOAT_IN,
    FULLY_CONNECTED,
    FULLY_CONNECTED_FLOAT_IN,
    OP_FORMAT_VERSION,
    TERNARIZE,
    TRIT2,
)


def implements_spec(name, attrs):
    """The NameAttrList text that makes the converter emit a custom op."""
    parts = [f'name: "{name}"', 'attr { key: "tfl_fusable_op" value { b: true } }']
    for key in sorted(attrs):
        value = attrs[key]
        if isinstance(value, bool):
            text = f"b: {str(value).lower()}"
        elif isinstance(value, int):
            text = f"i: {value}"
        elif isinstance(value, float):
            text = f"f: {value!r}"
        elif isinstance(value, str):
            text = f's: "{value}"'
        else:
            raise TypeError(
                f"Op attribute {key}={value!r} must be int, float, bool or str."
            )
        parts.append(f'attr {{ key: "{key}" value {{ {text} }} }}')
    return " ".join(parts)


# -- packing in TensorFlow ---------------------------------------------------


def _pack(trits, channels):
    """int32 trits [..., C] -> int32 words [..., 2 * ceil(C / 32)]."""
    blocks = (channels + 31) // 32
    pad = blocks * 32 - channels
    lead = tf.shape(trits)[:-1]
    t = tf.pad(
        trits, tf.concat([tf.zeros([tf.rank(trits) - 1, 2], tf.int32), [[0, pad]]], 0)
    )
    t = tf.reshape(t, tf.concat([lead, [blocks, 32]], 0))
    bits = tf.constant([1 << i for i in range(32)], tf.int64)
    mask = tf.reduce_sum(tf.cast(tf.not_equal(t, 0), tf.int64) * bits, -1)
    sign = tf.reduce_sum(tf.cast(tf.less(t, 0), tf.int64) * bits, -1)
    words = tf.stack([mask, sign], -1)
    words = tf.bitcast(tf.cast(words, tf.uint32), tf.int32)
    return tf.reshape(words, tf.concat([lead, [2 * blocks]], 0))


def _unpack(words, channels):
    """int32 words [..., 2B] -> float32 trits [..., C]."""
    lead = tf.shape(words)[:-1]
    w = tf.reshape(words, tf.concat([lead, [-1, 2]], 0))
    shifts = tf.range(32, dtype=tf.int32)
    mask = tf.bitwise.bitwise_and(tf.bitwise.right_shift(w[..., 0:1], shifts), 1)
    sign = tf.bitwise.bitwise_and(tf.bitwise.right_shift(w[..., 1:2], shifts), 1)
    trits = tf.cast(mask * (1 - 2 * sign), tf.float32)
    trits = tf.reshape(trits, tf.concat([lead, [-1]], 0))
    return trits[..., :channels]


@functools.cache
def _weight_decode_table(encoding):
    """float32 [256, trits per byte]: the trits each byte value encodes
    (base3: digits 0, 1, 2 -> 0, +1, -1; trit2: 2-bit codes 1 -> +1,
    3 -> -1, else 0; least significant digit first)."""
    byte = np.arange(256)
    if encoding == BASE3:
        digits = np.stack([byte // 3**i % 3 for i in range(5)], 1)
        trits = np.select([digits == 1, digits == 2], [1.0, -1.0], 0.0)
        return trits.astype(np.float32)
    codes = np.stack([(byte >> s) & 3 for s in (0, 2, 4, 6)], 1)
    return np.select([codes == 1, codes == 3], [1.0, -1.0], 0.0).astype(np.float32)


def _unpack_weights(packed, n, encoding=TRIT2):
    """uint8 file-packed weights (``"trit2"`` or ``"base3"``) -> float32 trits [n].

    One table lookup per byte: a handful of graph ops per sttn op, which
    keeps tracing (and so conversion) of models with many ops fast."""
    table = tf.constant(_weight_decode_table(encoding))
    return tf.reshape(tf.gather(table, tf.cast(packed, tf.int32)), [-1])[:n]


def _weight_attrs(encoding):
    packing.check_encoding(encoding)
    return {"weight_encoding": encoding}


def _epilogue(acc, scale, bias, activation):
    y = acc * scale + bias
    return tf.nn.relu(y) if activation == "RELU" else y


def _ternarize_packed(x, thresholds, channels):
    """SttnTernarize's math: float [..., C] -> packed int32."""
    lo, hi, sgn = thresholds[0], thresholds[1], thresholds[2]
    t = tf.cast(x > hi, tf.int32) - tf.cast(x < lo, tf.int32)
    t = t * tf.cast(sgn, tf.int32)
    return _pack(t, channels)


# The conv geometry options (docs/op-format.md), shared by conv2d and
# depthwise conv2d.
GEOMETRY_OPTIONS = ("kernel_h", "kernel_w", "stride_h", "stride_w", "padding")
# Every version-1 option of the layer ops, in the documented order.
_OPTION_ORDER = (
    "in_channels",
    "out_channels",
    "depth_multiplier",
    *GEOMETRY_OPTIONS,
    "activation",
)


def _options(arguments):
    """The version-1 options among an op function's arguments (its
    ``locals()``), in the documented order."""
    return {k: arguments[k] for k in _OPTION_ORDER if k in arguments}


def _attrs(version_1_attrs, packed_output, weight_encoding=TRIT2):
    """Version 1 unless the op uses a version-2 feature (a packed output, or
    weights in an encoding other than trit2), so files without one still
    load in runtimes that know only version 1."""
    attrs = dict(version_1_attrs, version=1)
    if packed_output:
        attrs.update(version=OP_FORMAT_VERSION, output="PACKED")
    if weight_encoding != TRIT2:
        attrs.update(version=OP_FORMAT_VERSION, **_weight_attrs(weight_encoding))
    return attrs


# -- the ops -------------------------------------------------------------------


@functools.cache
def ternarize_fn(channels):
    """``SttnTernarize``: float [..., C] + thresholds [3, C] -> packed int32."""
    attrs = {"version": 1, "channels": channels}

    @tf.function(
        experimental_implements=implements_spec(TERNARIZE, attrs), autograph=False
    )
    def sttn_ternarize(x, thresholds):
        return _ternarize_packed(x, thresholds, channels)

    return sttn_ternarize


@functools.cache
def conv2d_fn(
    float_input,
    in_channels,
    out_channels,
    kernel_h,
    kernel_w,
    stride_h,
    stride_w,
    padding,
    activation,
    packed_output=False,
    weight_encoding=TRIT2,
):
    """``SttnConv2D`` / ``SttnConv2DFloatIn`` (with ``packed_output``: a 5th
    input of output thresholds and a packed int32 output)."""
    name = CONV2D_FLOAT_IN if float_input else CONV2D
    attrs = _attrs(_options(locals()), packed_output, weight_encoding)
    n = out_channels * kernel_h * kernel_w * in_channels

    def body(x, weights, scale, bias):
        kernel = tf.reshape(
            _unpack_weights(weights, n, weight_encoding),
            [out_channels, kernel_h, kernel_w, in_channels],
        )
        kernel = tf.transpose(kernel, [1, 2, 3, 0])
        xf = x if float_input else _unpack(x, in_channels)
        acc = tf.nn.conv2d(xf, kernel, [1, stride_h, stride_w, 1], padding)
        return _epilogue(acc, scale, bias, activation)

    return _op(name, attrs, body, packed_output, out_channels)


def _op(name, attrs, body, packed_output, out_channels):
    spec = implements_spec(name, attrs)
    if packed_output:

        @tf.function(experimental_implements=spec, autograph=False)
        def sttn_op_packed(x, weights, scale, bias, output_thresholds):
            return _ternarize_packed(
                body(x, weights, scale, bias), output_thresholds, out_channels
            )

        return sttn_op_packed

    @tf.function(experimental_implements=spec, autograph=False)
    def sttn_op(x, weights, scale, bias):
        return body(x, weights, scale, bias)

    return sttn_op


@functools.cache
def fully_connected_fn(
    float_input,
    in_channels,
    out_channels,
    activation,
    packed_output=False,
    weight_encoding=TRIT2,
):
    """``SttnFullyConnected`` / ``SttnFullyConnectedFloatIn``."""
    name = FULLY_CONNECTED_FLOAT_IN if float_input else FULLY_CONNECTED
    attrs = _attrs(_options(locals()), packed_output, weight_encoding)
    n = out_channels * in_channels

    def sttn_fully_connected(x, weights, scale, bias):
        kernel = tf.transpose(
            tf.reshape(
                _unpack_weights(weights, n, weight_encoding),
                [out_channels, in_channels],
            )
        )
        xf = x if float_input else _unpack(x, in_channels)
        lead = tf.shape(xf)[:-1]
        acc = tf.matmul(tf.reshape(xf, [-1, in_channels]), kernel)
        acc = tf.reshape(acc, tf.concat([lead, [out_channels]], 0))
        return _epilogue(acc, scale, bias, activation)

    return _op(name, attrs, sttn_fully_connected, packed_output, out_channels)


@functools.cache
def depthwise_conv2d_fn(
    float_input,
    in_channels,
    depth_multiplier,
    kernel_h,
    kernel_w,
    stride_h,
    stride_w,
    padding,
    activation,
    packed_output=False,
    weight_encoding=TRIT2,
):
    """``SttnDepthwiseConv2D`` / ``SttnDepthwiseConv2DFloatIn``."""
    name = DEPTHWISE_CONV2D_FLOAT_IN if float_input else DEPTHWISE_CONV2D
    out_channels = in_channels * depth_multiplier
    attrs = _attrs(_options(locals()), packed_output, weight_encoding)
    n = kernel_h * kernel_w * out_channels

    def sttn_depthwise_conv2d(x, weights, scale, bias):
        kernel = tf.reshape(
            _unpack_weights(weights, n, weight_encoding),
            [kernel_h, kernel_w, in_channels, depth_multiplier],
        )
        xf = x if float_input else _unpack(x, in_channels)
        acc = tf.nn.depthwise_conv2d(xf, kernel, [1, stride_h, stride_w, 1], padding)
        return _epilogue(acc, scale, bias, activation)

    return _op(name, attrs, sttn_depthwise_conv2d, packed_output, out_channels)
