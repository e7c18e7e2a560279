"""Tests for sttn_keras.models: layouts, parameter counts, variants."""

import keras
import numpy as np
import pytest

import sttn_keras as sttn
from sttn_keras import models

FLOAT = dict(kernel_quantizer=None, input_quantizer=None)


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _layers_of(model, cls):
    return [layer for layer in model.layers if type(layer) is cls]


def _unit(cin, cout, k=3):
    """Trainable parameters of BN(cin) -> conv kxk cin->cout -> BN(cout) -> PReLU."""
    return 2 * cin + k * k * cin * cout + 2 * cout + cout


# --- exact float parameter counts, derived by hand --------------------------


def test_resnet18_float_parameter_count():
    model = models.resnet18(**FLOAT)
    stem = 7 * 7 * 3 * 64 + 2 * 64 + 64
    stages = 0
    cin = 64
    for cout in (64, 128, 256, 512):
        for _ in range(4):  # 2 blocks x 2 units
            stages += _unit(cin, cout)
            cin = cout
    head = 512 * 1000 + 1000
    assert _trainable(model) == stem + stages + head == 11_526_376
    # Known float count: torchvision's ResNet-18 has 11,689,512 parameters.
    # The reference layout has no 1x1 downsampling convs (-172,032 weights)
    # and a BN + PReLU around every conv: within 1.5%.
    assert abs(_trainable(model) - 11_689_512) / 11_689_512 < 0.015
    assert model.output_shape == (None, 1000)


def test_resnet20_float_parameter_count():
    model = models.resnet20(**FLOAT)
    stem = 3 * 3 * 3 * 16 + 2 * 16 + 16
    stages, cin = 0, 16
    for cout in (16, 32, 64):
        for _ in range(6):  # 3 blocks x 2 units
            stages += _unit(cin, cout)
            cin = cout
    head = 64 * 10 + 10
    assert _trainable(model) == stem + stages + head == 271_658
    # He et al. report 0.27M parameters for ResNet-20.
    assert abs(_trainable(model) - 270_000) / 270_000 < 0.01
    convs = _layers_of(model, keras.layers.Conv2D)
    dense = _layers_of(model, keras.layers.Dense)
    assert len(convs) + len(dense) == 20  # 20 weight layers


def test_alexnet_float_parameter_count():
    model = models.alexnet(**FLOAT)
    conv1 = 11 * 11 * 3 * 64 + 2 * 64 + 64
    convs = _unit(64, 192, 5) + _unit(192, 384) + _unit(384, 256) + _unit(256, 256)
    fc = _unit(9216, 4096, 1) + _unit(4096, 4096, 1)
    head = 4096 * 1000 + 1000
    assert _trainable(model) == conv1 + convs + fc + head == 61_147_944
    # torchvision's AlexNet: 61,100,840 parameters.
    assert abs(_trainable(model) - 61_100_840) / 61_100_840 < 0.001
    assert model.get_layer("flatten").output.shape[1] == 6 * 6 * 256


def test_small_cnn_float_parameter_count():
    model = models.small_cnn(**FLOAT)
    conv1 = 3 * 3 * 1 * 32 + 2 * 32 + 32
    expected = (
        conv1
        + _unit(32, 64)
        + _unit(64, 128)
        + _unit(3 * 3 * 128, 256, 1)
        + 256 * 10
        + 10
    )
    assert _trainable(model) == expected == 393_866
    assert model.get_layer("flatten").output.shape[1] == 3 * 3 * 128


# --- variants: same layout, quantized layers swapped ------------------------


def _parent_name(model, name):
    """The layer feeding layer `name`, read from the functional config."""
    entry = next(c for c in model.get_config()["layers"] if c["name"] == name)
    (node,) = entry["inbound_nodes"]
    return node["args"][0]["config"]["keras_history"][0]


@pytest.mark.parametrize(
    "builder, kwargs, n_ternary",
    [
        (models.small_cnn, {}, 3),
        (models.resnet20, {}, 18),
        (models.resnet18, {"input_shape": (64, 64, 3)}, 16),
        (models.alexnet, {"input_shape": (64, 64, 3), "num_classes": 7}, 6),
    ],
)
def test_variants_are_comparable_layer_for_layer(builder, kwargs, n_ternary):
    built = {
        name: builder(**kwargs, kernel_quantizer=kq, input_quantizer=iq)
        for name, (kq, iq) in {
            "float": (None, None),
            "twn": ("twn", "ternary"),
            "sttn": ("sttn", "ternary"),
        }.items()
    }
    names = {k: [layer.name for layer in m.layers] for k, m in built.items()}
    assert names["float"] == names["twn"] == names["sttn"]
    shapes = {
        k: [tuple(layer.output.shape) for layer in m.layers] for k, m in built.items()
    }
    assert shapes["float"] == shapes["twn"] == shapes["sttn"]

    # The float variant is plain Keras: no sttn layer in it.
    assert not any(
        isinstance(layer, sttn.layers.TernaryLayerMixin)
        for layer in built["float"].layers
    )
    for name in ("twn", "sttn"):
        model = built[name]
        ternary = [
            layer
            for layer in model.layers
            if isinstance(layer, sttn.layers.TernaryLayerMixin)
        ]
        assert len(ternary) == n_ternary
        for layer in ternary:
            assert layer.input_quantizer is not None
            assert layer.kernel_quantizer == sttn.quantizers.get(name)
            # Every ternary layer follows a BatchNormalization.
            inbound = model.get_layer(_parent_name(model, layer.name))
            assert isinstance(inbound, keras.layers.BatchNormalization), layer.name
        # First conv and last dense stay float Keras layers.
        first_conv = next(
            layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)
        )
        assert type(first_conv) is keras.layers.Conv2D
        assert type(model.layers[-1]) is keras.layers.Dense

    # STTN keeps two latent kernels per ternary layer, TWN one: the
    # difference in trainable parameters is exactly one kernel per layer.
    extra = sum(
        int(np.prod(layer.kernel.shape))
        for layer in built["sttn"].layers
        if isinstance(layer, sttn.layers.TernaryLayerMixin)
    )
    assert _trainable(built["twn"]) == _trainable(built["float"])
    assert _trainable(built["sttn"]) == _trainable(built["float"]) + extra


def test_weights_only_and_activations_only_variants():
    w_only = models.small_cnn(kernel_quantizer="sttn", input_quantizer=None)
    a_only = models.small_cnn(kernel_quantizer=None, input_quantizer="ternary")
    conv2 = w_only.get_layer("conv2")
    assert conv2.input_quantizer is None and conv2.kernel_quantizer is not None
    conv2 = a_only.get_layer("conv2")
    assert conv2.kernel_quantizer is None and conv2.input_quantizer is not None
    assert w_only.name == "small_cnn_sttn_w"


def test_forward_and_ternary_kernels():
    model = models.small_cnn(kernel_quantizer="sttn")
    x = np.random.default_rng(0).normal(size=(4, 28, 28, 1)).astype("float32")
    y = keras.ops.convert_to_numpy(model(x, training=False))
    assert y.shape == (4, 10) and np.all(np.isfinite(y))
    trits, scale = model.get_layer("conv3").get_ternary_kernel()
    assert trits.shape == (3, 3, 64, 128) and scale.shape == (128,)
    assert set(np.unique(trits)) <= {-1, 0, 1}
    # Independent W1, W2: the STTN kernels start with zeros in them.
    assert 0.2 < np.mean(trits == 0) < 0.8


def test_resnet_downsampling_shortcut_is_pool_and_zero_channels():
    model = models.resnet20(**FLOAT)
    pad = model.get_layer("stage2_block1_unit1_zeropad")
    assert isinstance(pad, models.ChannelZeroPad) and pad.channels == 32
    assert isinstance(
        model.get_layer("stage2_block1_unit1_pool"), keras.layers.MaxPooling2D
    )
    # No 1x1 conv anywhere.
    assert all(
        layer.kernel_size == (3, 3)
        for layer in model.layers
        if isinstance(layer, keras.layers.Conv2D)
    )
    # The shortcut carries the pooled input in its first channels, zeros after.
    x = np.random.default_rng(1).normal(size=(2, 8, 8, 16)).astype("float32")
    pooled = keras.layers.MaxPooling2D(2, 2, padding="same")(x)
    y = keras.ops.convert_to_numpy(pad(pooled))
    np.testing.assert_array_equal(y[..., :16], keras.ops.convert_to_numpy(pooled))
    np.testing.assert_array_equal(y[..., 16:], 0)


def test_resnet18_output_sizes():
    model = models.resnet18(input_shape=(224, 224, 3), **FLOAT)
    assert model.get_layer("stem_pool").output.shape[1:] == (56, 56, 64)
    assert model.get_layer("stage4_block2_unit2_prelu").output.shape[1:] == (7, 7, 512)


def test_channel_zero_pad_serialises():
    layer = models.ChannelZeroPad(6, name="pad")
    clone = models.ChannelZeroPad.from_config(layer.get_config())
    assert clone.channels == 6
    with pytest.raises(ValueError, match="Received an invalid value for `channels`"):
        models.ChannelZeroPad(0)
    with pytest.raises(ValueError, match="cannot pad 8 channels"):
        models.ChannelZeroPad(4)(np.zeros((1, 2, 2, 8), "float32"))


def test_model_save_load_roundtrip(tmp_path):
    model = models.resnet20(input_shape=(16, 16, 3), kernel_quantizer="sttn")
    x = np.random.default_rng(2).normal(size=(2, 16, 16, 3)).astype("float32")
    before = keras.ops.convert_to_numpy(model(x, training=False))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    after = keras.ops.convert_to_numpy(loaded(x, training=False))
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"input_shape": (28, 28)}, "`input_shape`"),
        ({"input_shape": (4, 4, 1)}, "at least 8x8"),
        ({"num_classes": 1}, "`num_classes`"),
        ({"filters": (32, 64)}, "`filters`"),
        ({"dense_units": -1}, "`dense_units`"),
        ({"kernel_quantizer": "binary"}, "kernel_quantizer"),
    ],
)
def test_small_cnn_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        models.small_cnn(**kwargs)


def test_alexnet_rejects_small_inputs_and_bad_dropout():
    with pytest.raises(ValueError, match="at least 63x63"):
        models.alexnet(input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match="`dropout`"):
        models.alexnet(dropout=1.0)
