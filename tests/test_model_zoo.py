"""The models people bring: SeparableConv2D, nested models, ConvNeXt's layers.

Small models built for each feature go through ``ternarize`` -> a training
step -> ``to_tflite`` -> our ``Interpreter``, and the ``.tflite`` must agree
with Keras: argmax on every image, logits to 1e-5 of their range (the
models are shallow, so the BN-fold rounding that can flip a trit in deep
networks, see tests/test_applications.py, is far away; measured errors are
~1e-7 of the range). The float layers are exported as float32 so that the
comparison is that tight.

Cost: 80 s measured on the shared 2-core machine under load (three TFLite
conversions; the separable model 43 s of it).
"""

import logging

import keras
import numpy as np
import pytest

import sttn_keras as sttn
from sttn_keras import layers as sl
from sttn_keras.export import flatten, op_support

BN = keras.layers.BatchNormalization


def _separable_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", name="stem")(inputs)
    x = BN(name="stem_bn")(x)
    x = keras.layers.SeparableConv2D(16, 3, padding="same", name="sep1")(x)
    x = BN(name="sep1_bn")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.SeparableConv2D(
        16, 3, strides=2, padding="same", depth_multiplier=2, name="sep2"
    )(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(5, name="head")(x)
    return keras.Model(inputs, outputs)


def _nested_model():
    """A Sequential stem and a Functional backbone inside a classifier."""
    keras.utils.set_random_seed(1)
    stem = keras.Sequential(
        [
            keras.Input((12, 12, 3)),
            keras.layers.Conv2D(8, 3, padding="same", name="stem_conv"),
            BN(name="stem_bn"),
            keras.layers.SeparableConv2D(8, 3, padding="same", name="stem_sep"),
        ],
        name="stem",
    )
    b_in = keras.Input((12, 12, 8))
    y = keras.layers.Conv2D(16, 3, strides=2, padding="same", name="bb_conv")(b_in)
    y = BN(name="bb_bn")(y)
    y = keras.layers.ReLU(name="bb_relu")(y)
    y = keras.layers.DepthwiseConv2D(3, padding="same", name="bb_dw")(y)
    backbone = keras.Model(b_in, y, name="backbone")
    inputs = keras.Input((12, 12, 3))
    x = backbone(stem(inputs))
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(5, name="head")(x)
    return keras.Model(inputs, outputs, name="classifier")


def _convnext_like():
    """ConvNeXt's layer kinds: a Sequential stem (4x4/4 conv + LayerNorm),
    7x7 depthwise convs, LayerNorm, Dense on 4-D tensors with gelu, residual
    adds."""
    keras.utils.set_random_seed(2)
    stem = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(16, 4, strides=4, name="stem_conv"),
            keras.layers.LayerNormalization(epsilon=1e-6, name="stem_ln"),
        ],
        name="convnext_stem",
    )
    inputs = keras.Input((16, 16, 3))
    x = stem(inputs)
    for i in range(2):
        r = x
        x = keras.layers.DepthwiseConv2D(7, padding="same", name=f"b{i}_dw")(x)
        x = keras.layers.LayerNormalization(epsilon=1e-6, name=f"b{i}_ln")(x)
        x = keras.layers.Dense(32, activation="gelu", name=f"b{i}_pw1")(x)
        x = keras.layers.Dense(16, name=f"b{i}_pw2")(x)
        x = keras.layers.Add(name=f"b{i}_add")([r, x])
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.LayerNormalization(epsilon=1e-6, name="head_ln")(x)
    outputs = keras.layers.Dense(5, name="head")(x)
    return keras.Model(inputs, outputs, name="convnext_like")


def _x(shape, n=64, seed=0):
    return np.random.default_rng(seed).normal(size=(n, *shape)).astype("float32")


def _train_one_step(model, x):
    model.compile(
        keras.optimizers.Adam(1e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
    model.fit(x, np.arange(len(x)) % 5, epochs=1, batch_size=32, verbose=0)
    moved = sum(
        not np.array_equal(b, keras.ops.convert_to_numpy(w))
        for b, w in zip(before, model.trainable_weights)
    )
    assert moved == len(before), (moved, len(before))


def _check_parity(model, x):
    data = sttn.export.to_tflite(model, float_layers="float32")
    hist = sttn.export.op_histogram(data)
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    got = sttn.export.Interpreter(data).predict(x)
    scale = float(np.abs(expected).max())
    assert float(np.std(expected, axis=0).max()) > 1e-3 * scale  # inputs differ
    np.testing.assert_array_equal(got.argmax(-1), expected.argmax(-1))
    assert float(np.abs(got - expected).max()) <= 1e-5 * scale
    return hist


def _ternary(model):
    return [
        ly
        for ly in flatten.flatten_nested(model).layers
        if isinstance(ly, sl.TernaryLayerMixin)
    ]


# --- SeparableConv2D --------------------------------------------------------


def test_separable_becomes_a_ternary_depthwise_pointwise_pair():
    model = _separable_model()
    student = sttn.ternarize(model, verbose=0)
    names = {ly.name: type(ly).__name__ for ly in student.layers}
    assert names["sep1_depthwise"] == "TernaryDepthwiseConv2D"
    assert names["sep1"] == "TernaryConv2D" and names["sep2"] == "TernaryConv2D"
    dw, pw = student.get_layer("sep2_depthwise"), student.get_layer("sep2")
    assert dw.depth_multiplier == 2 and not dw.use_bias and tuple(dw.strides) == (2, 2)
    assert tuple(pw.kernel_size) == (1, 1) and pw.use_bias
    # Warm start: each half's latent kernels are those of the float kernels.
    float_sep = model.get_layer("sep2")
    for half, kernel in (
        (dw, float_sep.depthwise_kernel),
        (pw, float_sep.pointwise_kernel),
    ):
        expected = sttn.float_to_sttn.warm_start_latent_kernels(
            keras.ops.convert_to_numpy(kernel),
            half.kernel_quantizer,
            half._reduce_axes(),
        )
        for latent, want in zip(half.latent_kernels, expected):
            np.testing.assert_allclose(
                keras.ops.convert_to_numpy(latent), want, rtol=1e-6
            )
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(pw.bias), keras.ops.convert_to_numpy(float_sep.bias)
    )


def test_separable_trains_and_exports_with_a_packed_chain():
    x = _x((12, 12, 3))
    student = sttn.ternarize(_separable_model(), verbose=0)
    _train_one_step(student, x)
    sttn.training.recalibrate_batchnorm(student, x, verbose=0)
    hist = _check_parity(student, x)
    assert hist["SttnDepthwiseConv2D"] == 2 and hist["SttnConv2D"] == 2, hist
    # One SttnTernarize per chain start: sep1's depthwise ternarizes the
    # stem's output; every later ternary layer reads packed trits (depthwise
    # -> pointwise inside each pair, sep1 -> BN -> ReLU -> sep2).
    assert hist["SttnTernarize"] == 1, hist
    assert not any(op in hist for op in ("DEPTHWISE_CONV_2D",)), hist


# --- nested models ------------------------------------------------------------


def test_nested_models_are_ternarized_inside_and_exported_flat():
    model = _nested_model()
    student = sttn.ternarize(model, verbose=0)
    # The structure is kept: the stem and backbone are still models.
    assert [type(ly).__name__ for ly in student.layers[1:3]] == [
        "Sequential",
        "Functional",
    ]
    stem = student.get_layer("stem")
    assert [type(ly).__name__ for ly in stem.layers] == [
        "Conv2D",  # the first conv/dense layer of the whole model stays float
        "BatchNormalization",
        "TernaryDepthwiseConv2D",
        "TernaryConv2D",
    ]
    backbone = student.get_layer("backbone")
    assert isinstance(backbone.get_layer("bb_conv"), sl.TernaryConv2D)
    assert isinstance(backbone.get_layer("bb_dw"), sl.TernaryDepthwiseConv2D)
    assert type(student.get_layer("head")) is keras.layers.Dense
    # Warm start reaches the nested layers.
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(stem.get_layer("stem_conv").kernel),
        keras.ops.convert_to_numpy(
            model.get_layer("stem").get_layer("stem_conv").kernel
        ),
    )
    x = _x((12, 12, 3))
    report = sttn.training.recalibrate_batchnorm(student, x, verbose=0)
    assert [c.layer for c in report] == ["stem_bn", "bb_bn"]
    flat = flatten.flatten_nested(student)
    assert not flatten.has_nested_model(flat)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(flat(x)),
        keras.ops.convert_to_numpy(student(x)),
        atol=1e-6,
    )
    hist = _check_parity(student, x)
    assert hist["SttnConv2D"] == 2 and hist["SttnDepthwiseConv2D"] == 2, hist
    s = sttn.summary(student, print_fn=None)
    assert s.float_layers.ternary_layers == len(_ternary(student)) == 4


def test_convnext_layers_become_sttn_ops_or_builtins():
    student = sttn.ternarize(_convnext_like(), verbose=0)
    x = _x((16, 16, 3))
    hist = _check_parity(student, x)
    # 7x7 depthwise -> SttnDepthwiseConv2D; Dense on 4-D tensors (a 1x1
    # conv) -> SttnFullyConnected; gelu -> the GELU builtin after the op;
    # LayerNormalization -> builtin MEAN / SQUARED_DIFFERENCE / RSQRT / MUL.
    assert hist["SttnDepthwiseConv2D"] == 2, hist
    assert hist["SttnFullyConnected"] == 4, hist
    assert hist["GELU"] == 2 and hist["RSQRT"] >= 3, hist
    assert not [op for op in hist if op.startswith("Flex")], hist


# --- the report of float layers -------------------------------------------------


def test_float_layers_are_reported_once_with_reasons(caplog, capsys):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3, name="first")(inputs)
    x = keras.layers.Conv2D(8, 3, dilation_rate=2, name="dilated")(x)
    x = keras.layers.Conv2D(8, 1, name="mid")(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(3, name="last")(x)
    model = keras.Model(inputs, outputs)
    with caplog.at_level("INFO", logger="sttn_keras.float_to_sttn"):
        student = sttn.ternarize(model, verbose=1)
    printed = capsys.readouterr().out
    records = [r for r in caplog.records if r.name == "sttn_keras.float_to_sttn"]
    assert len(records) == 1 and records[0].levelno == logging.WARNING
    for text in (printed, records[0].getMessage()):
        assert "1 of 4 conv/dense layers ternary; 3 float" in text
        assert "first conv/dense layer (keep_first=True)" in text
        assert "dilation_rate=(2, 2)" in text
        assert "last conv/dense layer (keep_last=True)" in text
    table = sttn.summary(student, print_fn=None).as_table()
    assert "1 of 4 conv/dense layers ternary; 3 float" in table
    report = sttn.summary(student, print_fn=None).float_layers
    assert [f.name for f in report.layers] == ["first", "dilated", "last"]
    assert report.total_macs == sum(
        sttn.summary(student, print_fn=None).total(f)
        for f in ("ternary_macs", "float_macs")
    )
    assert "dilation_rate=(2, 2)" in report.layers[1].reason
    # Only keep_first / keep_last: logged as info, not a warning.
    caplog.clear()
    plain = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(4),
            keras.layers.Dense(4),
            keras.layers.Dense(2),
        ]
    )
    with caplog.at_level("INFO", logger="sttn_keras.float_to_sttn"):
        sttn.ternarize(plain, verbose=0)
    assert [r.levelno for r in caplog.records] == [logging.INFO]
    assert capsys.readouterr().out == ""


def test_op_support_is_a_leaf():
    # The op contract's "what can be expressed" imports nothing of the
    # project (convert and folding both import it: no import loop).
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(op_support))
    imported = [
        n.module if isinstance(n, ast.ImportFrom) else a.name
        for n in ast.walk(tree)
        if isinstance(n, (ast.Import, ast.ImportFrom))
        for a in getattr(n, "names", [])
    ]
    assert all(m in ("__future__", "keras") for m in imported), imported


@pytest.mark.parametrize("verbose", ["sometimes", 2])
def test_bad_verbose_is_refused(verbose):
    with pytest.raises(ValueError, match="Received: verbose="):
        sttn.ternarize(_separable_model(), verbose=verbose)


# --- progress ---------------------------------------------------------------


def test_progress_bars_only_when_asked_or_on_a_terminal(capsys):
    model = sttn.ternarize(_separable_model(), verbose=0)
    x = _x((12, 12, 3), n=8)
    sttn.training.recalibrate_batchnorm(model, x, verbose="auto")  # not a tty
    sttn.ternarize(_separable_model(), verbose="auto")
    assert capsys.readouterr().out == ""
    sttn.training.recalibrate_batchnorm(model, x, verbose=1)
    out = capsys.readouterr().out
    # One step per operation run (nested models included): 10 here.
    assert "10/10" in out and "layer" in out, out
    with pytest.raises(ValueError, match="Received: verbose='yes'"):
        sttn.training.recalibrate_batchnorm(model, x, verbose="yes")
