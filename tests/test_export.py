"""Export: folding checks, op histogram, packed size, refused layers, CLI.

Most of these tests check the export graph in TensorFlow and the file's
structure; the packed-output chains also run the exported files on every
kernel path. Running exported files at large is covered by
test_fmnist_e2e.py (trained models) and test_kernels.py (every op and path).
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import sttn_keras as sttn
from sttn_keras import layers as sl
from sttn_keras.export import (
    baselines,
    folding,
    inspect_tflite,
    keras_to_tflite,
    op_format,
    packing,
)
from tests.helpers import (
    assert_close_except_near_threshold,
    random_input,
    threshold_margins,
)


def _random_bn_statistics(model, rng):
    """Positive gammas, moving means around 0.3: thresholds inside the range."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights(
                [
                    rng.uniform(0.5, 2, c),
                    rng.normal(0.3, 0.5, c),
                    rng.normal(0, 0.5, c),
                    rng.uniform(0.5, 2, c),
                ]
            )


def _randomize_batchnorms(model, seed=0):
    """Give every BN non-trivial statistics, some negative and zero gammas."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            gamma = rng.uniform(0.5, 2.0, c) * rng.choice([-1, 1], c)
            gamma[0] = 0.0
            layer.set_weights(
                [
                    gamma,
                    rng.normal(0, 0.5, c),
                    rng.normal(0, 0.5, c),
                    rng.uniform(0.5, 2, c),
                ]
            )


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(16, 3, padding="same", name="stem")(inputs)
    x = keras.layers.BatchNormalization(name="bn0")(x)
    y = sl.TernaryConv2D(16, 3, padding="same", name="t_conv")(x)
    y = keras.layers.BatchNormalization(name="bn1")(y)
    x = keras.layers.Add()([x, y])
    x = keras.layers.BatchNormalization(name="bn2")(x)
    x = sl.TernaryConv2D(
        33, 3, strides=2, padding="valid", activation="relu", name="t_conv_s2"
    )(x)
    x = keras.layers.BatchNormalization(name="bn3")(x)
    x = sl.TernaryDepthwiseConv2D(3, padding="same", depth_multiplier=2, name="t_dw")(x)
    x = sl.TernaryConv2D(
        8, 1, input_quantizer=None, kernel_quantizer="twn", name="t_conv_w"
    )(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.BatchNormalization(name="bn4")(x)
    x = sl.TernaryDense(20, name="t_fc")(x)
    x = keras.layers.BatchNormalization(name="bn5")(x)
    outputs = keras.layers.Dense(5, name="head")(x)
    model = keras.Model(inputs, outputs)
    _randomize_batchnorms(model, seed)
    return model


@pytest.fixture(scope="module")
def model():
    return _model()


@pytest.fixture(scope="module")
def exported(model):
    return sttn.export.to_tflite(model)


def test_folds_match_the_keras_graph(model):
    plan = folding.fold_model(model)
    assert plan.layers["t_fc"].pre_bn == "bn4" and plan.layers["t_fc"].post_bn == "bn5"
    assert plan.layers["t_conv"].post_bn == "bn1"
    # bn0 feeds the stem branch of the Add too: it must not be folded.
    assert plan.layers["t_conv"].pre_bn is None and "bn0" not in plan.folded_bns
    assert plan.layers["t_conv_s2"].pre_bn == "bn2"
    # A ReLU sits between t_conv_s2 and bn3: no post fold, bn3 is t_dw's pre.
    assert (
        plan.layers["t_conv_s2"].post_bn is None and plan.layers["t_dw"].pre_bn == "bn3"
    )
    assert plan.layers["t_conv_w"].thresholds is None
    assert plan.layers["t_conv_s2"].output_thresholds is not None
    assert plan.layers["t_dw"].input_packed
    assert plan.layers["t_conv"].output_thresholds is None  # feeds an Add
    export_model = keras_to_tflite.build_export_model(model, plan)
    x = random_input(model, batch=6, seed=1) * 2
    expected = keras.ops.convert_to_numpy(model(x))
    got = keras.ops.convert_to_numpy(export_model(x))
    assert np.abs(expected).max() > 0.1, "the check must see non-trivial outputs"
    assert_close_except_near_threshold(got, expected, threshold_margins(model, x))


@pytest.mark.parametrize(
    "m,a", [(2.0, 0.3), (-1.5, 0.2), (0.0, 0.7), (0.0, -0.9), (0.0, 0.1), (1e-3, -0.2)]
)
def test_thresholds_reproduce_bn_then_ternary(m, a):
    x = np.linspace(-5, 5, 2001).astype("float64")
    lo, hi, sgn = folding.thresholds_from_affine(np.array([m]), np.array([a]), 0.5)[
        :, 0
    ]
    got = sgn * ((x > hi).astype(int) - (x < lo).astype(int))
    y = m * x + a
    expected = np.where(y > 0.5, 1, np.where(y < -0.5, -1, 0))
    # Equal except within float rounding of the boundary itself.
    near = np.minimum(np.abs(np.abs(y) - 0.5), 1.0) < 1e-6
    np.testing.assert_array_equal(got[~near], expected[~near])


def test_every_ternary_layer_becomes_its_custom_op(exported):
    hist = sttn.export.op_histogram(exported)
    assert hist["SttnConv2D"] == 2
    assert hist["SttnDepthwiseConv2D"] == 1
    assert hist["SttnConv2DFloatIn"] == 1
    assert hist["SttnFullyConnected"] == 1
    # t_conv_s2 -> ReLU -> bn3 -> t_dw is chained bit-packed: t_conv_s2 writes
    # its output ternarized, so t_dw needs no SttnTernarize of its own.
    assert hist["SttnTernarize"] == 3
    # Only the float stem conv and the float head remain as builtins.
    assert hist.get("CONV_2D", 0) == 1
    assert hist.get("FULLY_CONNECTED", 0) == 1
    assert hist.get("DEPTHWISE_CONV_2D", 0) == 0
    assert not any(name.startswith("Flex") for name in hist)


def test_options_are_versioned_flexbuffer_maps(exported):
    ops = inspect_tflite.custom_ops(exported)
    # Version 2 only where its feature (a packed output) is used, so files
    # without one load in version-1 runtimes too.
    for op in ops:
        packed = op["options"].get("output") == "PACKED"
        base3 = op["options"].get("weight_encoding") == "base3"
        assert op["options"]["version"] == (2 if packed or base3 else 1)
        # base3 (the default encoding) on every op with weights.
        assert base3 == (op["name"] != "SttnTernarize")
    conv = next(
        op
        for op in ops
        if op["name"] == "SttnConv2D" and op["options"]["out_channels"] == 33
    )
    assert conv["options"] == {
        "version": 2,
        "weight_encoding": "base3",
        "in_channels": 16,
        "out_channels": 33,
        "kernel_h": 3,
        "kernel_w": 3,
        "stride_h": 2,
        "stride_w": 2,
        "padding": "VALID",
        "activation": "RELU",
        "output": "PACKED",
    }
    # x, weights, scale, bias and the output thresholds [3, 33] (constant).
    assert len(conv["input_bytes"]) == 5 and conv["input_bytes"][4] == 3 * 33 * 4


def test_weights_are_packed_at_most_one_fifteenth_of_float32(model, exported):
    ops = inspect_tflite.custom_ops(exported)
    plan = folding.fold_model(model)
    for op in ops:
        if op["name"] == "SttnTernarize":
            continue
        n_out = op["options"]["out_channels"]
        folded = next(
            f
            for f in plan.layers.values()
            if f.scale.shape[0] == n_out
            and op_format.op_name_for(f.kind, f.thresholds is None) == op["name"]
        )
        n = folded.trits.size
        assert op["input_bytes"][1] == (n + 4) // 5  # base3, the default encoding
        assert op["input_bytes"][1] <= 4 * n / 15 + 1
    # And the packed bytes decode back to the folded trits.
    t = plan.layers["t_conv"].trits
    np.testing.assert_array_equal(
        packing.unpack_weights(packing.pack_weights(t), t.size), t.ravel()
    )
    np.testing.assert_array_equal(
        packing.unpack_weights_base3(packing.pack_weights_base3(t), t.size), t.ravel()
    )


def test_file_is_much_smaller_than_float(model, exported):
    assert len(baselines.float_tflite(model)) > 3 * len(exported)


def _one_layer(layer):
    return keras.Sequential(
        [keras.Input((8, 8, 4)), layer, keras.layers.Flatten(), keras.layers.Dense(2)]
    )


@pytest.mark.parametrize(
    "layer,match",
    [
        (
            sl.TernaryConv2D(4, 3, dilation_rate=2, name="dilated"),
            "dilated.*dilation_rate",
        ),
        (sl.TernaryConv2D(4, 3, groups=2, name="grouped"), "grouped.*groups=2"),
        (
            sl.TernaryConv2D(4, 3, data_format="channels_first", name="nchw"),
            "nchw.*channels_first",
        ),
        (
            sl.TernaryConv2D(4, 3, kernel_quantizer=None, name="floatk"),
            "floatk.*float kernel",
        ),
    ],
)
def test_unsupported_layers_are_refused_by_name(layer, match):
    with pytest.raises(folding.ExportError, match=match):
        sttn.export.to_tflite(_one_layer(layer))


def test_model_without_ternary_layers_is_refused():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(folding.ExportError, match="no sttn ternary layer"):
        sttn.export.to_tflite(model)


def test_cli(tmp_path, model):
    path = tmp_path / "m.keras"
    model.save(path)
    out = tmp_path / "m.tflite"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sttn_keras.export.cli",
            f"--model={path}",
            f"--output={out}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert out.exists() and out.stat().st_size > 0
    assert "SttnConv2D" in result.stdout and "smaller" in result.stdout
    # The converter's logs ("Reading SavedModel from ...") stay out of the
    # user's terminal unless --verbose (TF's log level left at its default).
    loud_env = {k: v for k, v in env.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    runs = {
        flag: subprocess.run(
            [
                sys.executable,
                "-m",
                "sttn_keras.export.cli",
                f"--model={path}",
                f"--output={out}",
                "--no-compare_float",
                *flag,
            ],
            capture_output=True,
            text=True,
            env=loud_env,
            timeout=300,
        )
        for flag in ((), ("--verbose",))
    }
    for run in runs.values():
        assert run.returncode == 0, run.stderr[-3000:]
        assert "SttnConv2D" in run.stdout
    assert "Reading SavedModel" not in runs[()].stdout + runs[()].stderr
    assert (
        "Reading SavedModel"
        in runs[("--verbose",)].stdout + runs[("--verbose",)].stderr
    )
    helped = subprocess.run(
        [sys.executable, "-m", "sttn_keras.export.cli", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert helped.returncode == 0
    for flag in (
        "--model",
        "--output",
        "--float_layers",
        "--weight_encoding",
        "--recalibrate_with",
        "--verbose",
    ):
        assert flag in helped.stdout
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "sttn_keras.export.cli",
            f"--model={tmp_path / 'missing.keras'}",
            f"--output={out}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert bad.returncode != 0 and "no such file" in bad.stderr


@pytest.mark.parametrize("cap", [np.inf, 6.0, 1.0])
def test_thresholds_through_clamp(cap):
    rng = np.random.default_rng(3)
    th = np.stack(
        [rng.normal(0.5, 3, 64), rng.normal(2, 3, 64), rng.choice([-1.0, 1.0], 64)]
    )
    th[1] = np.maximum(th[0], th[1])
    th[0, :3] = [0.0, -np.inf, np.inf]
    th = th.astype(np.float32)
    y = np.concatenate(
        [np.linspace(-8, 8, 4001), [0.0, cap if np.isfinite(cap) else 7.0]]
    )
    y = y.astype(np.float32)[:, None]
    z = np.clip(y, 0, cap)
    expected = th[2] * ((z > th[1]).astype(int) - (z < th[0]).astype(int))
    th2 = folding.thresholds_through_clamp(th, cap)
    got = th2[2] * ((y > th2[1]).astype(int) - (y < th2[0]).astype(int))
    np.testing.assert_array_equal(got, expected)


def test_inverted_residual_chain_is_packed_end_to_end():
    """MobileNetV2's pattern (1x1 expand -> BN -> ReLU6 -> depthwise -> BN ->
    ReLU6 -> 1x1 project -> BN -> Add) exports with the expand and depthwise
    ops writing packed outputs, and the .tflite matches Keras."""
    keras.utils.set_random_seed(4)
    inputs = keras.Input((10, 10, 24))
    x = keras.layers.BatchNormalization(name="bn_in")(inputs)
    y = sl.TernaryConv2D(72, 1, use_bias=False, name="expand")(x)
    y = keras.layers.BatchNormalization(name="expand_bn")(y)
    y = keras.layers.ReLU(6.0, name="expand_relu")(y)
    y = sl.TernaryDepthwiseConv2D(3, padding="same", use_bias=False, name="dw")(y)
    y = keras.layers.BatchNormalization(name="dw_bn")(y)
    y = keras.layers.ReLU(6.0, name="dw_relu")(y)
    y = sl.TernaryConv2D(24, 1, use_bias=False, name="project")(y)
    y = keras.layers.BatchNormalization(name="project_bn")(y)
    x = keras.layers.Add()([x, y])
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(4)(x)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(0)
    _random_bn_statistics(model, rng)
    plan = folding.fold_model(model)
    assert plan.layers["expand"].output_thresholds is not None
    assert (
        plan.layers["dw"].output_thresholds is not None
        and plan.layers["dw"].input_packed
    )
    assert plan.layers["project"].input_packed
    assert plan.fused_activations == {"expand_relu", "dw_relu"}
    data = sttn.export.to_tflite(model)
    hist = sttn.export.op_histogram(data)
    assert hist["SttnTernarize"] == 1 and "RELU6" not in hist, hist
    x = rng.normal(0, 1.5, (16, 10, 10, 24)).astype("float32")
    expected = keras.ops.convert_to_numpy(model(x))
    for kernel in ("reference", "optimized"):
        got = sttn.export.Interpreter(data, kernel=kernel).predict(x)
        assert_close_except_near_threshold(got, expected, threshold_margins(model, x))


def test_stride_2_block_with_zero_padding_is_packed_end_to_end():
    """MobileNetV2's stride-2 blocks pad before the depthwise conv
    (expand -> BN -> ReLU6 -> ZeroPadding2D -> depthwise(valid, stride 2)):
    the PAD runs on the packed tensor (zero words are zero trits, and the
    depthwise maps 0 to 0), and the .tflite matches Keras."""
    keras.utils.set_random_seed(5)
    inputs = keras.Input((12, 12, 16))
    x = keras.layers.BatchNormalization(name="bn_in")(inputs)
    y = sl.TernaryConv2D(48, 1, use_bias=False, name="expand")(x)
    y = keras.layers.BatchNormalization(name="expand_bn")(y)
    y = keras.layers.ReLU(6.0, name="expand_relu")(y)
    y = keras.layers.ZeroPadding2D(((0, 1), (0, 1)), name="pad")(y)
    y = sl.TernaryDepthwiseConv2D(
        3, strides=2, padding="valid", use_bias=False, name="dw"
    )(y)
    y = keras.layers.BatchNormalization(name="dw_bn")(y)
    y = keras.layers.ReLU(6.0, name="dw_relu")(y)
    y = sl.TernaryConv2D(24, 1, use_bias=False, name="project")(y)
    y = keras.layers.BatchNormalization(name="project_bn")(y)
    y = keras.layers.GlobalAveragePooling2D()(y)
    outputs = keras.layers.Dense(3)(y)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(1)
    _random_bn_statistics(model, rng)
    plan = folding.fold_model(model)
    assert plan.layers["expand"].output_thresholds is not None
    assert plan.layers["dw"].input_packed
    data = sttn.export.to_tflite(model)
    hist = sttn.export.op_histogram(data)
    assert hist["SttnTernarize"] == 1 and hist["PAD"] == 1 and "RELU6" not in hist, hist
    x = rng.normal(0, 1.5, (8, 12, 12, 16)).astype("float32")
    expected = keras.ops.convert_to_numpy(model(x))
    for kernel in ("reference", "optimized"):
        got = sttn.export.Interpreter(data, kernel=kernel).predict(x)
        assert_close_except_near_threshold(got, expected, threshold_margins(model, x))


def test_activations_the_ops_do_not_fuse_run_as_builtins_after_them():
    """A ternary layer's own activation other than linear/relu (EfficientNet's
    SE convs have silu and sigmoid) is applied after the sttn op as builtin
    ops; a BN after such a layer is not folded through the activation, and no
    packed chain crosses it. The .tflite matches Keras."""
    keras.utils.set_random_seed(6)
    inputs = keras.Input((8, 8, 12))
    x = keras.layers.BatchNormalization(name="bn_in")(inputs)
    x = sl.TernaryConv2D(16, 3, padding="same", activation="silu", name="c_silu")(x)
    x = keras.layers.BatchNormalization(name="bn_silu")(x)
    x = sl.TernaryConv2D(16, 1, activation="relu6", name="c_relu6")(x)
    x = sl.TernaryDepthwiseConv2D(
        3, padding="same", activation="hard_silu", name="dw_hswish"
    )(x)
    x = sl.TernaryConv2D(16, 1, activation="gelu", name="c_gelu")(x)
    x = sl.TernaryConv2D(16, 1, activation="relu", name="c_relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = sl.TernaryDense(12, activation="sigmoid", name="fc_sigmoid")(x)
    x = sl.TernaryDense(12, activation="tanh", name="fc_tanh")(x)
    outputs = keras.layers.Dense(3, name="head")(x)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(6)
    _random_bn_statistics(model, rng)
    plan = folding.fold_model(model)
    # bn_silu folds into c_relu6's input thresholds, not through the silu.
    assert plan.layers["c_silu"].post_bn is None
    assert plan.layers["c_relu6"].pre_bn == "bn_silu"
    assert plan.layers["c_relu"].activation == "RELU"
    assert plan.layers["c_relu"].post_activation is None
    for name in ("c_silu", "c_relu6", "dw_hswish", "c_gelu", "fc_sigmoid", "fc_tanh"):
        assert plan.layers[name].activation == "NONE", name
        assert plan.layers[name].post_activation is not None, name
        assert plan.layers[name].output_thresholds is None, name
        assert not plan.layers[name].input_packed, name
    data = sttn.export.to_tflite(model, float_layers="float32")
    hist = sttn.export.op_histogram(data)
    assert hist["SttnConv2D"] == 4 and hist["SttnDepthwiseConv2D"] == 1, hist
    assert hist["SttnFullyConnected"] == 2 and "CONV_2D" not in hist, hist
    assert hist["FULLY_CONNECTED"] == 1, hist  # the float head only
    for op in ("LOGISTIC", "RELU6", "HARD_SWISH", "GELU", "TANH"):
        assert op in hist, (op, hist)
    x = rng.normal(0, 1.5, (16, 8, 8, 12)).astype("float32")
    expected = keras.ops.convert_to_numpy(model(x))
    got = sttn.export.Interpreter(data).predict(x)
    # Not the margin check of the other Keras/export comparisons: here
    # fc_sigmoid's input is all zeros (GAP of c_relu's zeros), so fc_tanh's
    # ternary input is sigmoid(0) = 0.5 exactly, on its threshold in every
    # row, in Keras and in TFLite alike (exact in both, never a rounding
    # difference); every other ternary input keeps >= 3.6e-4 from its
    # threshold (measured).
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_operations_on_keras_tensors_export():
    """MobileNetV3's squeeze-excite gate is ``ReLU(6)(x + 3.0) * (1 / 6)``:
    operations on Keras tensors, which are graph nodes but not layers of the
    model. The graph walk of the export sees through them."""
    keras.utils.set_random_seed(7)
    inputs = keras.Input((6, 6, 8))
    x = keras.layers.BatchNormalization(name="bn_in")(inputs)
    x = sl.TernaryConv2D(16, 1, use_bias=False, name="expand")(x)
    x = keras.layers.BatchNormalization(name="expand_bn")(x)
    x = keras.layers.ReLU(name="expand_relu")(x)
    gate = keras.layers.GlobalAveragePooling2D(keepdims=True)(x)
    gate = sl.TernaryConv2D(4, 1, activation="relu", name="se_reduce")(gate)
    gate = sl.TernaryConv2D(16, 1, name="se_expand")(gate)
    gate = keras.layers.ReLU(6.0)(gate + 3.0) * (1.0 / 6.0)
    x = keras.layers.Multiply()([x, gate])
    x = sl.TernaryConv2D(8, 1, use_bias=False, name="project")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, name="head")(x)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(7)
    _random_bn_statistics(model, rng)
    plan = folding.fold_model(model)
    assert set(plan.layers) == {"expand", "se_reduce", "se_expand", "project"}
    data = sttn.export.to_tflite(model, float_layers="float32")
    hist = sttn.export.op_histogram(data)
    assert hist["SttnConv2D"] == 4, hist
    x = rng.normal(0, 1.5, (16, 6, 6, 8)).astype("float32")
    expected = keras.ops.convert_to_numpy(model(x))
    got = sttn.export.Interpreter(data).predict(x)
    assert_close_except_near_threshold(got, expected, threshold_margins(model, x))


def test_ternarize_keeps_float_what_the_export_cannot_express(caplog):
    """ternarize() never produces a layer the export refuses: dilated and
    grouped convs and a Dense on a rank-3 tensor stay float, each with a
    logged reason; the student then exports."""
    keras.utils.set_random_seed(8)
    inputs = keras.Input((10, 10, 4))
    x = keras.layers.Conv2D(8, 3, padding="same", name="stem")(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", dilation_rate=2, name="dilated")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", groups=2, name="grouped")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="swish", name="plain")(x)
    x = keras.layers.Reshape((100, 8))(x)
    x = keras.layers.Dense(8, name="dense_rank3")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(16, activation="relu6", name="dense_rank2")(x)
    outputs = keras.layers.Dense(3, name="head")(x)
    model = keras.Model(inputs, outputs)
    with caplog.at_level("WARNING", logger="sttn_keras.float_to_sttn"):
        student = sttn.ternarize(model)
    kinds = {layer.name: type(layer).__name__ for layer in student.layers}
    assert kinds["dilated"] == kinds["grouped"] == "Conv2D"
    assert kinds["dense_rank3"] == "Dense"
    assert kinds["plain"] == "TernaryConv2D" and kinds["dense_rank2"] == "TernaryDense"
    messages = "\n".join(r.getMessage() for r in caplog.records)
    assert "Layer 'dilated'" in messages and "dilation_rate=(2, 2)" in messages
    assert "Layer 'grouped'" in messages and "groups=2" in messages
    assert "Layer 'dense_rank3'" in messages and "rank-3" in messages
    # Weights only (float input): a Dense on a rank-3 tensor is fine.
    weights_only = sttn.ternarize(model, input_quantizer=None)
    assert type(weights_only.get_layer("dense_rank3")).__name__ == "TernaryDense"
    data = sttn.export.to_tflite(student, float_layers="float32")
    hist = sttn.export.op_histogram(data)
    assert hist["SttnConv2D"] == 1 and hist["SttnFullyConnected"] == 1, hist
    x = np.random.default_rng(8).normal(0, 1, (8, 10, 10, 4)).astype("float32")
    assert_close_except_near_threshold(
        sttn.export.Interpreter(data).predict(x),
        keras.ops.convert_to_numpy(student(x)),
        threshold_margins(student, x),
    )


@pytest.mark.parametrize("encoding", ["trit2", "base3"])
def test_reference_ops_decode_weights_as_packed(encoding):
    """The TensorFlow reference bodies of the sttn ops decode the file's
    weights (one table lookup per byte) back to the packed trits."""
    from sttn_keras.export import tf_ops

    t = np.random.default_rng(9).integers(-1, 2, 1003).astype(np.int8)
    for n in (1, 4, 5, 1003):
        packed = packing.encode_weights(t[:n], encoding)
        got = tf_ops._unpack_weights(packed, n, encoding).numpy()
        np.testing.assert_array_equal(got, t[:n].astype(np.float32))
