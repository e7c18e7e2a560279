"""sttn_keras.summary: numbers per layer and totals."""

import keras
import pytest

import sttn_keras as sttn
from sttn_keras import layers as sl


def _model():
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(32, 3, padding="same", name="conv0"),
            keras.layers.BatchNormalization(name="bn0"),
            sl.TernaryConv2D(64, 3, padding="same", name="tconv"),
            keras.layers.BatchNormalization(name="bn1"),
            keras.layers.MaxPooling2D(name="pool"),
            sl.TernaryDepthwiseConv2D(
                3, padding="same", input_quantizer=None, name="tdw"
            ),
            keras.layers.Flatten(name="flat"),
            sl.TernaryDense(10, name="tdense"),
        ]
    )


def test_rows_and_totals():
    printed = []
    s = sttn.summary(_model(), print_fn=printed.append)
    rows = {r.name: r for r in s.layers}
    conv = rows["tconv"]
    assert conv.precision == "ternary"
    assert conv.params == 3 * 3 * 32 * 64 + 64  # one ternary kernel + bias
    assert conv.ternary_params == 3 * 3 * 32 * 64
    assert conv.ternary_macs == 28 * 28 * 3 * 3 * 32 * 64
    assert conv.float32_bytes == 4 * conv.params
    # Default export: base3 trits, 5 per byte; trit2: 4 per byte.
    assert conv.deployed_bytes == -(-(3 * 3 * 32 * 64) // 5) + 4 * (64 + 64)
    assert conv.deployed_bytes_by_choice[("float32", "trit2")] == (
        (3 * 3 * 32 * 64) // 4 + 4 * (64 + 64)
    )
    dw = rows["tdw"]
    assert dw.precision == "ternary-weights"
    assert dw.ternary_weight_macs == 14 * 14 * 9 * 64 and dw.ternary_macs == 0
    assert (
        rows["conv0"].float_macs == 28 * 28 * 9 * 32
        and rows["conv0"].precision == "float"
    )
    assert rows["tdense"].ternary_macs == 14 * 14 * 64 * 10
    assert rows["pool"].precision == "-" and rows["pool"].params == 0
    assert s.total("params") == sum(r.params for r in s.layers)
    assert s.compression_ratio == pytest.approx(s.float32_bytes / s.deployed_bytes)
    assert 10 < s.compression_ratio < 20  # 20x: the bound at 1.6 bits per weight
    trit2 = s.float32_bytes / s.deployed_bytes_for("float32", "trit2")
    assert 10 < trit2 < 16 and trit2 < s.compression_ratio  # 16x: the bound at 2 bits
    text = printed[0]
    assert "tconv" in text and "Compression:" in text and "Total" in text


def test_float_model_has_ratio_one():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    s = sttn.summary(model, print_fn=None)
    assert s.compression_ratio == 1.0 and s.ternary_mac_fraction == 0.0


def test_bad_arguments():
    with pytest.raises(ValueError, match="Received: model="):
        sttn.summary(42)
    with pytest.raises(ValueError, match="not built"):
        sttn.summary(keras.Sequential([keras.layers.Dense(2)]))
