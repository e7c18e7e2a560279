"""Constants of the custom-op format (docs/op-format.md), shared by the
exporter, the file inspector and the runtime. No dependencies."""

OP_FORMAT_VERSION = 2
# The oldest version the kernels still load (version-1 files have no `output`
# option; they run unchanged).
OLDEST_OP_FORMAT_VERSION = 1

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
