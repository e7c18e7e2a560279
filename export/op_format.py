"""The custom-op contract (docs/op-format.md) in one place: op names, format
versions, weight encodings and the export choices that change the file.

Shared by the exporter, the file inspector, the runtime and the model
summary; imports nothing. The native library keeps its own copies of the op
names and versions (``export/tflite/sttn_ops.{h,cc}``); the tests tie them to
this module (``tests/test_op_contract.py``).

Example:

>>> op_name_for("conv2d", float_input=False)
'SttnConv2D'
>>> OLDEST_OP_FORMAT_VERSION <= OP_FORMAT_VERSION
True
"""

# The newest op format version the exporter writes and the kernels read, and
# the oldest the kernels still accept (export/tflite/sttn_ops.h holds the same
# two numbers as kOpFormatVersion / kOldestOpFormatVersion). Version-1 files
# (no `output`, no `weight_encoding` option) run unchanged. The exporter
# writes version 1 for an op that uses no version-2 feature.
OP_FORMAT_VERSION = 2
OLDEST_OP_FORMAT_VERSION = 1

# Weight encodings (option `weight_encoding`, op format version >= 2).
# "trit2": 2 bits per trit, 4 per byte (the only encoding of version 1).
# "base3": 5 trits per byte as base-3 digits, 1.6 bits per trit.
TRIT2 = "trit2"
BASE3 = "base3"
WEIGHT_ENCODINGS = (TRIT2, BASE3)
# base3 is the default: 20% smaller ternary weights than trit2 and a faster
# decode at load time (benchmarks/results/size.md).
DEFAULT_WEIGHT_ENCODING = BASE3

TERNARIZE = "SttnTernarize"
CONV2D = "SttnConv2D"
CONV2D_FLOAT_IN = "SttnConv2DFloatIn"
FULLY_CONNECTED = "SttnFullyConnected"
FULLY_CONNECTED_FLOAT_IN = "SttnFullyConnectedFloatIn"
DEPTHWISE_CONV2D = "SttnDepthwiseConv2D"
DEPTHWISE_CONV2D_FLOAT_IN = "SttnDepthwiseConv2DFloatIn"

ALL_OPS = (
    TERNARIZE,
    CONV2D,
    CONV2D_FLOAT_IN,
    FULLY_CONNECTED,
    FULLY_CONNECTED_FLOAT_IN,
    DEPTHWISE_CONV2D,
    DEPTHWISE_CONV2D_FLOAT_IN,
)

# The flatbuffer file identifier of a .tflite model (bytes 4..8).
TFLITE_FILE_IDENTIFIER = b"TFL3"

# How the layers that stay float (stem conv, classifier, ...) are stored.
# "float32": as trained. "int8_weights" (default): the float conv/dense
# layers whose output reaches no ternary activation get int8 weights with
# per-channel scales, float32 activations (TFLite's hybrid kernels): files
# 1.05-2.9x smaller, no slower, argmax agreement with Keras >= 99.6% on
# Fashion-MNIST and the CIFAR-10 copy. Full-integer "int8" is not offered.
# See docs/op-format.md ("Float layers") for the measurements.
FLOAT_LAYERS = ("float32", "int8_weights")
DEFAULT_FLOAT_LAYERS = "int8_weights"
# Weight tensors smaller than this stay float32 (as in the TFLite
# converter's dynamic-range quantization: the saving is not worth the
# rounding).
INT8_MIN_ELEMENTS = 1024

# Folded layer kind and input precision -> op name.
OP_FOR_LAYER = {
    ("conv2d", False): CONV2D,
    ("conv2d", True): CONV2D_FLOAT_IN,
    ("fully_connected", False): FULLY_CONNECTED,
    ("fully_connected", True): FULLY_CONNECTED_FLOAT_IN,
    ("depthwise_conv2d", False): DEPTHWISE_CONV2D,
    ("depthwise_conv2d", True): DEPTHWISE_CONV2D_FLOAT_IN,
}


def op_name_for(kind: str, float_input: bool) -> str:
    """The custom op that runs a folded layer.

    Args:
        kind: ``"conv2d"``, ``"fully_connected"`` or ``"depthwise_conv2d"``.
        float_input: whether the layer reads float (not ternary) inputs.

    Returns:
        The op's custom name.

    Raises:
        ValueError: ``kind`` is not a folded layer kind.

    Example:

    >>> op_name_for("depthwise_conv2d", float_input=True)
    'SttnDepthwiseConv2DFloatIn'
    """
    try:
        return OP_FOR_LAYER[(kind, bool(float_input))]
    except KeyError:
        kinds = sorted({k for k, _ in OP_FOR_LAYER})
        raise ValueError(
            f"Received an invalid layer kind {kind!r}; expected one of {kinds}."
        ) from None
