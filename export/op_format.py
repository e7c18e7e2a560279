"""Constants of the custom-op format (docs/op-format.md), shared by the
exporter, the file inspector and the runtime. No dependencies."""

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

# Folded layer kind and input precision -> op name.
OP_FOR_LAYER = {
    ("conv2d", False): CONV2D,
    ("conv2d", True): CONV2D_FLOAT_IN,
    ("fully_connected", False): FULLY_CONNECTED,
    ("fully_connected", True): FULLY_CONNECTED_FLOAT_IN,
    ("depthwise_conv2d", False): DEPTHWISE_CONV2D,
    ("depthwise_conv2d", True): DEPTHWISE_CONV2D_FLOAT_IN,
}
