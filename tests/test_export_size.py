"""Export size choices (issue 9): ``float_layers`` and ``weight_encoding``.

* ``weight_encoding="base3"`` writes op format version 2 with 5 trits per
  byte; the file runs in our kernels and gives exactly the trit2 results
  (trit2 ops are written as version 1 unless they use another version-2
  feature).
* ``float_layers="int8_weights"`` stores the weights of the float
  conv/dense builtins that feed no ternary activation (the head) as int8,
  keeps the stem (which does) float32, and leaves the sttn ops' uint8
  weights and float32 scale/bias/thresholds alone.

The slow tests train small_cnn on real data (Fashion-MNIST, the CIFAR-10
JPEG copy) and compare the smallest export with Keras on the test sets.
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import sttn_keras as sttn
from sttn_keras.export import (
    folding,
    inspect_tflite,
    keras_to_tflite,
    op_format,
    packing,
)
from tests import trained_models
from tests.helpers import (
    assert_close_except_near_threshold,
    random_input,
    threshold_margins,
)

runtime = pytest.importorskip("sttn_keras.export.runtime")


def _model(seed=0):
    """Ternary layers of every kind plus float layers big enough (>= 1024
    weights) for dynamic-range quantization to take them."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((10, 10, 3))
    x = keras.layers.Conv2D(48, 3, padding="same", name="stem")(inputs)  # 1296 weights
    x = keras.layers.BatchNormalization(name="bn0")(x)
    x = sttn.layers.TernaryConv2D(37, 3, padding="same", name="t_conv")(x)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = sttn.layers.TernaryDepthwiseConv2D(
        3, strides=2, depth_multiplier=2, name="t_dw"
    )(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.BatchNormalization(name="bn2")(x)
    x = sttn.layers.TernaryDense(41, name="t_fc")(x)
    x = keras.layers.BatchNormalization(name="bn3")(x)
    outputs = keras.layers.Dense(30, name="head")(x)  # 1230 weights
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights(
                [
                    rng.uniform(0.5, 2, c),
                    rng.normal(0, 0.3, c),
                    rng.normal(0, 0.3, c),
                    rng.uniform(0.5, 2, c),
                ]
            )
    return model


@pytest.fixture(scope="module")
def model():
    return _model()


@pytest.fixture(scope="module")
def exports(model):
    return {
        (fl, enc): sttn.export.to_tflite(model, float_layers=fl, weight_encoding=enc)
        for fl in ("float32", "int8_weights")
        for enc in ("trit2", "base3")
    }


@pytest.fixture(scope="module")
def x(model):
    return random_input(model, batch=16, seed=2)


def _tensor_types(data, op_names):
    """Type names of the constant weight tensors of builtins ``op_names``."""
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    builtin = {
        v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")
    }
    m = inspect_tflite.read_model(data)
    out = []
    for sg in m.subgraphs:
        for op in sg.operators:
            code = m.operatorCodes[op.opcodeIndex]
            if (
                builtin.get(max(code.builtinCode, code.deprecatedBuiltinCode))
                in op_names
            ):
                out.append(names[sg.tensors[op.inputs[1]].type])
    return out


def test_base3_weights_take_one_fifth_byte_per_trit_and_decode(model, exports):
    plan = folding.fold_model(model)
    by_name = {}
    for f in plan.layers.values():
        by_name[
            (op_format.op_name_for(f.kind, f.thresholds is None), f.scale.shape[0])
        ] = f
    ops = [
        op
        for op in inspect_tflite.custom_ops(exports[("float32", "base3")])
        if op["name"] != "SttnTernarize"
    ]
    assert len(ops) == 3
    for op in ops:
        assert (
            op["options"]["version"] == 2
            and op["options"]["weight_encoding"] == "base3"
        )
        folded = by_name[(op["name"], op["options"]["out_channels"])]
        assert op["input_bytes"][1] == (folded.trits.size + 4) // 5
    t = plan.layers["t_conv"].trits
    packed = packing.encode_weights(t, "base3")
    assert packed.max() <= 242
    np.testing.assert_array_equal(
        packing.decode_weights(packed, t.size, "base3"), t.ravel()
    )
    # trit2 needs no version-2 option: those ops stay readable by version-1
    # kernels unless they use another version-2 feature (a packed output).
    for op in inspect_tflite.custom_ops(exports[("float32", "trit2")]):
        assert "weight_encoding" not in op["options"]
        assert op["options"]["version"] == (
            2 if op["options"].get("output") == "PACKED" else 1
        )


def test_op_histogram_is_the_same_for_every_choice(exports):
    hists = {k: sttn.export.op_histogram(v) for k, v in exports.items()}
    first = hists[("float32", "trit2")]
    assert first["SttnConv2D"] == 1 and first["SttnDepthwiseConv2D"] == 1
    # Ternary inputs of t_conv and t_fc; t_conv writes t_dw's packed input.
    assert first["SttnFullyConnected"] == 1 and first["SttnTernarize"] == 2
    assert first["CONV_2D"] == 1 and first["FULLY_CONNECTED"] == 1
    for hist in hists.values():
        assert hist == first
        assert not any(
            name.startswith("Flex") or name in ("QUANTIZE", "DEQUANTIZE")
            for name in hist
        )


def test_int8_weights_quantizes_only_the_float_builtins(exports):
    for enc in ("trit2", "base3"):
        assert _tensor_types(
            exports[("float32", enc)], ("CONV_2D", "FULLY_CONNECTED")
        ) == ["FLOAT32", "FLOAT32"]
        # The stem feeds t_conv's ternary activation: it stays float32.
        assert _tensor_types(
            exports[("int8_weights", enc)], ("CONV_2D", "FULLY_CONNECTED")
        ) == ["FLOAT32", "INT8"]
        # The sttn ops' constants are byte-for-byte those of the float32 export.
        a = inspect_tflite.custom_ops(exports[("float32", enc)])
        b = inspect_tflite.custom_ops(exports[("int8_weights", enc)])
        assert [op["input_bytes"] for op in a] == [op["input_bytes"] for op in b]
        assert [op["options"] for op in a] == [op["options"] for op in b]
    sizes = {k: len(v) for k, v in exports.items()}
    # 1230 head weights at 1 byte instead of 4 (3690 bytes), less 30 scales
    # and zero points (360) and the 64-byte alignment of the rewritten file.
    assert sizes[("float32", "trit2")] - sizes[("int8_weights", "trit2")] > 2000
    assert sizes[("float32", "trit2")] > sizes[("float32", "base3")]


def test_every_choice_runs_in_our_kernels(model, exports, x):
    expected = keras.ops.convert_to_numpy(model(x))
    outs = {k: runtime.Interpreter(v).predict(x) for k, v in exports.items()}
    np.testing.assert_array_equal(
        outs[("float32", "base3")], outs[("float32", "trit2")]
    )
    np.testing.assert_array_equal(
        outs[("int8_weights", "base3")], outs[("int8_weights", "trit2")]
    )
    assert_close_except_near_threshold(
        outs[("float32", "trit2")], expected, threshold_margins(model, x)
    )
    # int8 head weights: measured on 256 inputs, mean |error| 0.6% of mean
    # |logit|, argmax unchanged. (With the stem quantized too, as the
    # converter's dynamic-range pass does, it was 16% and 78.5%.)
    y8 = outs[("int8_weights", "trit2")]
    rel = np.abs(y8 - expected).mean() / np.abs(expected).mean()
    assert 0 < rel < 0.03, rel
    assert (y8.argmax(1) == expected.argmax(1)).mean() >= 0.9
    ref = runtime.Interpreter(
        exports[("int8_weights", "base3")], kernel="reference"
    ).predict(x)
    np.testing.assert_allclose(
        ref, outs[("int8_weights", "base3")], rtol=1e-5, atol=1e-5
    )


def test_quantized_sttn_constant_is_refused(exports):
    """The check that guards the sttn constants fails when one is touched."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    m = inspect_tflite.read_model(exports[("float32", "trit2")])
    sg = m.subgraphs[0]
    op = next(
        o
        for o in sg.operators
        if m.operatorCodes[o.opcodeIndex].customCode == b"SttnConv2D"
    )
    scale = sg.tensors[op.inputs[2]]
    scale.type = schema.TensorType.INT8
    builder = flatbuffers.Builder(1024)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    with pytest.raises(
        folding.ExportError,
        match=r"input 2 of a 'SttnConv2D' op must be a "
        r"constant FLOAT32.*received type INT8",
    ):
        keras_to_tflite._check_sttn_constants(bytes(builder.Output()), "m")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(float_layers="int8"), r"`float_layers`.*Received: float_layers='int8'"),
        (
            dict(weight_encoding="base4"),
            r"`weight_encoding`.*Received: weight_encoding='base4'",
        ),
    ],
)
def test_invalid_choices_are_refused(model, kwargs, match):
    with pytest.raises(ValueError, match=match):
        sttn.export.to_tflite(model, **kwargs)


def test_summary_matches_the_export_choices(model, exports):
    s = sttn.summary(model, print_fn=None)
    assert "Deployed by export choice" in s.as_table()
    for (fl, enc), data in exports.items():
        deployed = s.deployed_bytes_for(fl, enc)
        # The summary counts weights (BN statistics included, folded away in
        # the file); the file adds graph metadata. Same order, same ranking.
        assert 0.5 * len(data) < deployed < 1.5 * len(data), (
            fl,
            enc,
            deployed,
            len(data),
        )
    assert (
        s.deployed_bytes_for("int8_weights", "base3")
        < s.deployed_bytes_for("float32", "base3")
        < s.deployed_bytes_for("float32", "trit2")
    )
    assert sttn.summary(
        model, print_fn=None, float_layers="int8_weights", weight_encoding="base3"
    ).deployed_bytes == s.deployed_bytes_for("int8_weights", "base3")
    with pytest.raises(ValueError, match="`weight_encoding`"):
        sttn.summary(model, print_fn=None, weight_encoding="base5")


def test_cli_flags(tmp_path, model, exports):
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
            "--float_layers=int8_weights",
            "--weight_encoding=base3",
            "--nocompare_float",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (
        "weight encoding base3" in result.stdout
        and "float layers int8_weights" in result.stdout
    )
    # Same sttn ops and constants as the in-process export (the file differs
    # by a few bytes of names after the .keras round trip).
    cli_ops = inspect_tflite.custom_ops(out.read_bytes())
    ops = inspect_tflite.custom_ops(exports[("int8_weights", "base3")])
    assert [(o["name"], o["options"], o["input_bytes"]) for o in cli_ops] == [
        (o["name"], o["options"], o["input_bytes"]) for o in ops
    ]
    assert abs(out.stat().st_size - len(exports[("int8_weights", "base3")])) < 256
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "sttn_keras.export.cli",
            f"--model={path}",
            f"--output={out}",
            "--weight_encoding=base4",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert bad.returncode != 0 and "weight_encoding" in bad.stderr


# ---------------------------------------------------------------------------
# Real data: the smallest export against Keras on the test sets.


def _train(x, y, input_shape, epochs, filters=(32, 64, 128)):
    keras.utils.set_random_seed(0)
    model = sttn.models.small_cnn(input_shape=input_shape, filters=filters)
    steps = epochs * int(np.ceil(len(x) / 128))
    model.compile(
        keras.optimizers.Adam(sttn.training.cosine_schedule(2e-3, steps)),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x, y, batch_size=128, epochs=epochs, verbose=0)
    return model


def _agreement(model, xt, yt, float_layers, weight_encoding, keras_logits=None):
    data = sttn.export.to_tflite(
        model, float_layers=float_layers, weight_encoding=weight_encoding
    )
    tfl = (
        sttn.export.Interpreter(data, num_threads=2)
        .predict(xt, batch_size=500)
        .argmax(1)
    )
    if keras_logits is None:
        keras_logits = model.predict(xt, batch_size=500, verbose=0)
    ker = keras.ops.convert_to_numpy(keras_logits).argmax(1)
    return (tfl == ker).mean(), (tfl == yt).mean(), (ker == yt).mean(), len(data)


@pytest.mark.slow
def test_fashion_mnist_smallest_export_agrees_with_keras(tmp_path_factory):
    """small_cnn, 10,000 training images, 2 epochs; all 10,000 test images.
    int8_weights + base3: argmax agreement >= 99%, accuracy within 0.3
    points of Keras. The model is the one of tests/test_fmnist_e2e.py,
    trained once per run (tests/trained_models.py)."""
    trained = trained_models.fashion_mnist_small_cnn(tmp_path_factory)
    agree, acc_tfl, acc_ker, size = _agreement(
        trained.model,
        trained.x_test,
        trained.y_test,
        "int8_weights",
        "base3",
        keras_logits=trained.keras_logits,
    )
    print(
        f"fashion-mnist: agreement {agree:.4f}, tflite {acc_tfl:.4f}, keras {acc_ker:.4f}, "
        f"{size} bytes"
    )
    assert acc_ker >= 0.80, acc_ker
    assert agree >= 0.99, agree
    assert abs(acc_tfl - acc_ker) <= 0.003, (acc_tfl, acc_ker)


@pytest.mark.slow
def test_cifar10_copy_smallest_export_agrees_with_keras():
    """small_cnn on 32x32x3 with a 48-filter stem (3*3*3*48 = 1296 weights,
    so int8_weights quantizes the stem as well as the head), 5,000 training
    images of the CIFAR-10 JPEG q75 copy, 2 epochs; all 10,000 test images.
    Same thresholds as above. Measured on the 2-core AVX2 machine: seeds 0,
    1, 2 and seed 0 with oneDNN off all agree on 0.9965 of the images, Keras
    accuracy 0.473 ... 0.478, TFLite within 0.0004 of it. (With 10,000
    training images, as before: agreement 0.9968, accuracy 0.550, for twice
    the training time, 89 s against 44 s on one core.)"""
    try:
        (x, y), (xt, yt) = sttn.datasets.load_cifar10_jpeg()
    except Exception as e:  # no STTN_DATA_DIR
        pytest.skip(f"The CIFAR-10 JPEG copy is not available here: {e}")
    prep = lambda a: a.astype("float32") / 255.0  # noqa: E731
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(x))[:5000]
    model = _train(
        prep(x[idx]),
        np.asarray(y)[idx].astype("int32"),
        (32, 32, 3),
        2,
        filters=(48, 64, 128),
    )
    agree, acc_tfl, acc_ker, size = _agreement(
        model, prep(xt), np.asarray(yt), "int8_weights", "base3"
    )
    print(
        f"cifar10 copy: agreement {agree:.4f}, tflite {acc_tfl:.4f}, keras {acc_ker:.4f}, "
        f"{size} bytes"
    )
    assert acc_ker >= 0.35, acc_ker  # chance is 0.10: the model learned something
    assert agree >= 0.99, agree
    assert abs(acc_tfl - acc_ker) <= 0.003, (acc_tfl, acc_ker)
