"""Small helpers shared by the tests (inputs and affines that keep float32 exact)."""

import numpy as np


def random_input(model, batch=4, seed=0):
    """A float32 normal batch shaped like ``model``'s input (fold checks)."""
    shape = [batch if d is None else int(d) for d in model.inputs[0].shape]
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def dyadic_affine(rng, n):
    """A per-channel (scale, bias) of signed powers of two and eighths, so
    that scale * acc + bias is exact in float32 (bit-exact comparisons)."""
    scale = (rng.choice([-1.0, 1.0], n) * 2.0 ** rng.integers(-3, 3, n)).astype(
        np.float32
    )
    bias = (rng.integers(-16, 16, n) / 8.0).astype(np.float32)
    return scale, bias


def exact_floats(rng, shape):
    """Quarters in [-2, 2]: their products with trits sum exactly in float32."""
    return (rng.integers(-8, 9, shape) / 4.0).astype(np.float32)


def threshold_margins(model, x, batch_size=500):
    """Per row of ``x``: the smallest distance of any ternary activation's
    input to its threshold, ``min | |v| - threshold |`` over every ternary
    layer of ``model`` (a Keras 3 model of sttn layers) whose
    ``input_quantizer`` has a ``threshold``. A row whose margin exceeds the
    float rounding of two implementations gets the same trits in both, so
    everything downstream agrees to rounding; a smaller margin may flip a
    trit (the output then moves by a weight, not by rounding)."""
    import keras

    layers = [
        ly
        for ly in model.layers
        if getattr(getattr(ly, "input_quantizer", None), "threshold", None) is not None
    ]
    if not layers:
        return np.full(len(x), np.inf)
    probe = keras.Model(model.inputs, [ly.input for ly in layers])
    values = probe.predict(x, batch_size=batch_size, verbose=0)
    if len(layers) == 1:
        values = [values]
    margin = np.full(len(x), np.inf)
    for ly, v in zip(layers, values):
        v = keras.ops.convert_to_numpy(v).reshape(len(x), -1)
        d = np.abs(np.abs(v) - ly.input_quantizer.threshold).min(axis=1)
        margin = np.minimum(margin, d)
    return margin


# Keras against an exported model, both float32: the ternary inputs differ
# by the rounding of the BN affine (Keras: m * x + b against 0.5) and of its
# folding into thresholds (export: x against (0.5 - b) / m): a few ulps of
# |v| < 16, under 1e-5. Rows with every margin above it get the same trits.
KERAS_VS_EXPORT_BAND = 1e-5


def assert_close_except_near_threshold(
    got,
    expected,
    margins,
    *,
    band=KERAS_VS_EXPORT_BAND,
    max_fraction=None,
    min_checked=0.5,
    rtol=1e-4,
    atol=1e-4,
):
    """Rows of ``got`` and ``expected`` agree to (rtol, atol), except rows
    whose ternary inputs come within ``band`` of a threshold
    (:func:`threshold_margins`), where float rounding may flip a trit. At
    least ``min_checked`` of the rows must be outside the band (else the
    check proves little), and with ``max_fraction`` at most that share of
    the rows may differ at all. Returns the number of differing rows."""
    got = np.asarray(got).reshape(len(got), -1)
    expected = np.asarray(expected).reshape(len(expected), -1)
    close = np.all(np.abs(got - expected) <= atol + rtol * np.abs(expected), axis=1)
    differing = np.flatnonzero(~close)
    far = differing[margins[differing] >= band]
    assert far.size == 0, (
        f"rows {far[:10].tolist()} differ although every ternary input is at "
        f"least {band} from its threshold (margins {margins[far[:10]].tolist()}, "
        f"max |difference| {np.abs(got[far] - expected[far]).max()})"
    )
    checked = float(np.mean(margins >= band))
    assert checked >= min_checked, (
        f"only {checked:.2%} of the rows keep every ternary input {band} from "
        "its threshold: the comparison checks too little"
    )
    if max_fraction is not None:
        assert differing.size <= max_fraction * len(got), (
            f"{differing.size} of {len(got)} rows differ (rows "
            f"{differing[:10].tolist()}, margins {margins[differing[:10]].tolist()})"
        )
    return int(differing.size)


def small_conv_tflite() -> bytes:
    """A one-op ``.tflite``: an 8x8x40 -> 6 ternary 3x3 conv with ReLU
    (random trits, unit scale), for runtime and CLI tests."""
    from tests import ternary_reference as ref
    from tests import tflite_builder as tb

    wt = np.random.default_rng(0).integers(-1, 2, (6, 3, 3, 40)).astype(np.int8)
    return tb.conv_model(
        "conv2d",
        in_channels=40,
        out_channels=6,
        kernel=(3, 3),
        strides=(1, 1),
        padding="SAME",
        activation="RELU",
        weights_packed=ref.pack_trits_file(wt),
        scale=np.ones(6, np.float32),
        bias=np.zeros(6, np.float32),
        input_hw=(8, 8),
    )
