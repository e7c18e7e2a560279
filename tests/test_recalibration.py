"""Tests for BatchNorm recalibration: sttn_keras.training.recalibrate_batchnorm,
the BatchNormRecalibration callback and the Distiller's default use of it.

The oracle is numpy: after recalibration, each BatchNorm's moving mean and
variance must equal the mean and the biased variance of that layer's input,
computed in inference mode over all the data (so with the upstream BNs'
recalibrated statistics), whatever the batch size or the data type.
"""

import os
import subprocess
import sys
import textwrap
import warnings

import keras
import numpy as np
import pytest

import sttn_keras as sttn
from sttn_keras import training

BN = keras.layers.BatchNormalization


def _model(seed=0, bn_axis=-1):
    """Two ternary convs and a branch: BNs in a chain and side by side."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv0")(inputs)
    x = BN(axis=bn_axis, name="bn0")(x)
    a = sttn.layers.TernaryConv2D(5, 3, padding="same", name="tconv_a")(x)
    a = BN(axis=bn_axis, name="bn_a")(a)
    b = sttn.layers.TernaryConv2D(
        5, 1, padding="same", kernel_quantizer="twn", name="tconv_b"
    )(x)
    b = BN(axis=bn_axis, name="bn_b")(b)
    x = keras.layers.Add()([a, b])
    x = keras.layers.Flatten()(x)
    x = sttn.layers.TernaryDense(7, name="tdense")(x)
    x = BN(name="bn_d")(x)
    outputs = keras.layers.Dense(3, name="head")(x)
    model = keras.Model(inputs, outputs)
    # Non-trivial starting point: random gamma/beta and moving statistics.
    rng = np.random.default_rng(seed + 1)
    for layer in model.layers:
        if isinstance(layer, BN):
            c = layer.moving_mean.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 1.5, c).astype("float32"))
            layer.beta.assign(rng.normal(0, 0.3, c).astype("float32"))
            layer.moving_mean.assign(rng.normal(0, 1, c).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.2, 3, c).astype("float32"))
    return model


def _x(n=100, seed=0):
    return (
        np.random.default_rng(seed)
        .normal(1.0, 2.0, size=(n, 6, 6, 2))
        .astype("float32")
    )


def _bns(model):
    return [layer for layer in model.layers if isinstance(layer, BN)]


def _stats(model):
    return {
        bn.name: (
            keras.ops.convert_to_numpy(bn.moving_mean),
            keras.ops.convert_to_numpy(bn.moving_variance),
        )
        for bn in _bns(model)
    }


def _assert_exact(model, x, rtol=1e-4, atol=1e-5):
    """Moving stats == numpy mean / biased var of each BN's inference input."""
    for bn in _bns(model):
        feed = keras.Model(model.inputs, bn.input)
        h = keras.ops.convert_to_numpy(feed.predict(x, batch_size=len(x), verbose=0))
        h = np.moveaxis(h.astype("float64"), bn.axis, -1).reshape(-1, h.shape[bn.axis])
        mean, var = _stats(model)[bn.name]
        np.testing.assert_allclose(
            mean, h.mean(0), rtol=rtol, atol=atol, err_msg=bn.name
        )
        np.testing.assert_allclose(var, h.var(0), rtol=rtol, atol=atol, err_msg=bn.name)


# --- exactness ------------------------------------------------------------


@pytest.mark.parametrize("bn_axis", [-1, 1])
def test_statistics_are_exact_in_topological_order(bn_axis):
    model, x = _model(bn_axis=bn_axis), _x()
    before = _stats(model)
    report = training.recalibrate_batchnorm(model, x, batch_size=32)
    _assert_exact(model, x)
    # One pass over the data, whatever the depth.
    assert report.passes == 1
    assert report.samples == 100 and report.batches == 4
    assert [c.layer for c in report] == ["bn0", "bn_a", "bn_b", "bn_d"]
    for change in report:
        old_mean = before[change.layer][0]
        new_mean = _stats(model)[change.layer][0]
        assert change.mean_max_abs_change == pytest.approx(
            np.max(np.abs(new_mean - old_mean)), rel=1e-5
        )
        assert change.variance_max_ratio >= 1.0
    text = str(report)
    assert "bn_a" in text and "4 layer(s)" in text and "100 samples" in text


def test_result_does_not_depend_on_the_batch_size():
    # A momentum average would depend on the number and order of batches;
    # the exact accumulation does not.
    x = _x(90)
    a, b = _model(), _model()
    training.recalibrate_batchnorm(a, x, batch_size=7)
    training.recalibrate_batchnorm(b, x, batch_size=90)
    # Tolerance: float rounding of the convs differs with the batch size; a
    # momentum average would differ by orders of magnitude more.
    for name, (mean, var) in _stats(a).items():
        np.testing.assert_allclose(mean, _stats(b)[name][0], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(var, _stats(b)[name][1], rtol=1e-4, atol=1e-5)


def test_large_offset_inputs_stay_exact():
    # E[x^2] - E[x]^2 in float32 would lose the variance of inputs with a
    # large mean; the (count, mean, M2) merge does not.
    inputs = keras.Input((3,))
    outputs = BN()(inputs)
    model = keras.Model(inputs, outputs)
    x = (1e4 + np.random.default_rng(0).normal(size=(1000, 3))).astype("float32")
    training.recalibrate_batchnorm(model, x, batch_size=64)
    var = keras.ops.convert_to_numpy(model.layers[1].moving_variance)
    np.testing.assert_allclose(var, x.astype("float64").var(0), rtol=1e-3)


def test_weights_other_than_the_moving_statistics_are_unchanged():
    model, x = _model(), _x()
    moving = {id(bn.moving_mean) for bn in _bns(model)} | {
        id(bn.moving_variance) for bn in _bns(model)
    }
    before = [(w, keras.ops.convert_to_numpy(w).copy()) for w in model.weights]
    training.recalibrate_batchnorm(model, x)
    changed = 0
    for w, value in before:
        now = keras.ops.convert_to_numpy(w)
        if id(w) in moving:
            changed += int(not np.array_equal(now, value))
        else:
            np.testing.assert_array_equal(now, value, err_msg=w.path)
    assert changed == 8  # every moving mean and variance moved


# --- data types -------------------------------------------------------------


def _reference_stats():
    model, x = _model(), _x()
    training.recalibrate_batchnorm(model, x)
    return _stats(model)


def _data_variants(x, y):
    import tensorflow as tf

    def gen_x():
        for i in range(0, len(x), 16):
            yield x[i : i + 16]

    def gen_xy():
        for i in range(0, len(x), 16):
            yield x[i : i + 16], y[i : i + 16]

    return {
        "array": x,
        "xy_arrays": (x, y),
        "dataset_xy": tf.data.Dataset.from_tensor_slices((x, y)).batch(24),
        "dataset_x": tf.data.Dataset.from_tensor_slices(x).batch(30),
        "generator_x": gen_x(),
        "generator_xy": gen_xy(),
        "list_of_batches": [x[:50], x[50:]],
    }


@pytest.mark.parametrize(
    "kind",
    [
        "array",
        "xy_arrays",
        "dataset_xy",
        "dataset_x",
        "generator_x",
        "generator_xy",
        "list_of_batches",
    ],
)
def test_every_data_type_gives_the_same_statistics(kind):
    x = _x()
    y = np.arange(len(x)) % 3
    data = _data_variants(x, y)[kind]
    model = _model()
    report = training.recalibrate_batchnorm(model, data)
    assert report.samples == len(x)
    for name, (mean, var) in _reference_stats().items():
        np.testing.assert_allclose(_stats(model)[name][0], mean, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(_stats(model)[name][1], var, rtol=1e-4, atol=1e-5)


def test_steps_limits_the_data():
    x = _x()
    model = _model()
    report = training.recalibrate_batchnorm(model, x, steps=2, batch_size=32)
    assert report.samples == 64
    _assert_exact(model, x[:64])

    def endless():
        while True:
            yield x[:10]

    report = training.recalibrate_batchnorm(_model(), endless(), steps=3)
    assert report.samples == 30


def test_sequential_model():
    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            keras.layers.Conv2D(4, 3),
            BN(),
            sttn.layers.TernaryConv2D(4, 3),
            BN(),
            keras.layers.Flatten(),
            keras.layers.Dense(2),
        ]
    )
    x = _x()
    report = training.recalibrate_batchnorm(model, x)
    assert report.passes == 1
    _assert_exact(model, x)


# --- errors ---------------------------------------------------------------


def test_model_without_batchnorm_is_refused():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="at least one BatchNormalization layer"):
        training.recalibrate_batchnorm(model, np.zeros((4, 4), "float32"))


def test_data_of_the_wrong_shape_is_refused():
    model = _model()
    with pytest.raises(
        ValueError,
        match=r"expected batches of shape \(None, 6, 6, 2\).*"
        r"Received: data of shape \(10, 28, 28, 1\)",
    ):
        training.recalibrate_batchnorm(model, np.zeros((10, 28, 28, 1), "float32"))
    import tensorflow as tf

    unbatched = tf.data.Dataset.from_tensor_slices(_x(8))
    with pytest.raises(
        ValueError,
        match=r"Received: a batch of shape \(6, 6, 2\) \(one "
        r"axis short: an unbatched tf.data.Dataset\? call .batch\(\)\)",
    ):
        training.recalibrate_batchnorm(model, unbatched)


@pytest.mark.parametrize(
    "data, kwargs, match",
    [
        (np.zeros((0, 6, 6, 2), "float32"), {}, "non-empty"),
        (iter([]), {}, "at least one non-empty batch"),
        (42, {}, "expected a numpy array, a tf.data.Dataset, or an iterable"),
        (None, {"steps": 0}, r"`steps`, expected an integer >= 1. Received: steps=0"),
        (None, {"batch_size": 1.5}, r"Received: batch_size=1.5"),
    ],
)
def test_bad_data_and_arguments_are_refused(data, kwargs, match):
    data = _x(4) if data is None else data
    with pytest.raises(ValueError, match=match):
        training.recalibrate_batchnorm(_model(), data, **kwargs)


def test_subclassed_and_nested_models_are_refused_with_a_reason():
    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.bn = BN()

        def call(self, x):
            return self.bn(x)

    sub = Sub()
    sub(np.zeros((1, 3), "float32"))
    with pytest.raises(ValueError, match="functional or Sequential model"):
        training.recalibrate_batchnorm(sub, np.zeros((4, 3), "float32"))

    outer = keras.Sequential([keras.Input((3,)), sub, keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"subclassed nested model\(s\)"):
        training.recalibrate_batchnorm(outer, np.zeros((4, 3), "float32"))


# --- nested models, equivalence with the wave-by-wave method -----------------


def _nested(seed=0):
    """_model() as a backbone inside a classifier, with a Sequential stem."""
    backbone = _model(seed)
    stem = keras.Sequential(
        [keras.Input((6, 6, 2)), keras.layers.Conv2D(2, 1), BN(name="stem_bn")],
        name="stem",
    )
    inputs = keras.Input((6, 6, 2))
    x = stem(inputs)
    x = backbone(x)
    outputs = BN(name="head_bn")(keras.layers.Dense(4)(x))
    return keras.Model(inputs, outputs)


def _every_bn(model):
    for layer in model.layers:
        if isinstance(layer, BN):
            yield layer
        elif isinstance(layer, keras.Model):
            yield from _every_bn(layer)


def test_same_statistics_as_the_wave_by_wave_method():
    x = _x()
    walked, waved = _model(), _model()
    report = training.recalibrate_batchnorm(walked, x, batch_size=32)
    assert training._recalibrate_by_waves(waved, x, 32) == 3 and report.passes == 1
    # Same per-batch float32 moments merged in float64; only the float
    # rounding of the convs (eager vs compiled) may differ.
    for name, (mean, var) in _stats(waved).items():
        np.testing.assert_allclose(_stats(walked)[name][0], mean, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(_stats(walked)[name][1], var, rtol=1e-5, atol=1e-6)


def test_nested_models_are_walked_inside():
    model, x = _nested(), _x()
    report = training.recalibrate_batchnorm(model, x, batch_size=32)
    assert [c.layer for c in report] == [
        "stem_bn",
        "bn0",
        "bn_a",
        "bn_b",
        "bn_d",
        "head_bn",
    ]
    # Oracle: each BN's inference input, computed through the recalibrated
    # stem and backbone.
    stem, backbone, dense = model.layers[1], model.layers[2], model.layers[3]

    def check(bn, h):
        h = keras.ops.convert_to_numpy(h).astype("float64").reshape(-1, h.shape[-1])
        mean, var = (
            keras.ops.convert_to_numpy(v) for v in (bn.moving_mean, bn.moving_variance)
        )
        np.testing.assert_allclose(
            mean, h.mean(0), rtol=1e-4, atol=1e-5, err_msg=bn.name
        )
        np.testing.assert_allclose(var, h.var(0), rtol=1e-4, atol=1e-5, err_msg=bn.name)

    check(stem.layers[-1], stem.layers[0](x))
    s_out = stem(x, training=False)
    _assert_exact(backbone, keras.ops.convert_to_numpy(s_out))
    check(model.layers[4], dense(backbone(s_out, training=False)))


# --- the callback and the Distiller ------------------------------------------


def _compiled(seed=0):
    model = _model(seed)
    model.compile(
        keras.optimizers.Adam(1e-2),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def test_callback_recalibrates_at_the_end_of_fit():
    x = _x(64)
    y = np.arange(64) % 3
    model = _compiled()
    callback = training.BatchNormRecalibration(x)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[callback])
    assert [epoch for epoch, _ in callback.reports] == [2]
    _assert_exact(model, x)


def test_callback_every_n_epochs_runs_once_per_period_and_not_twice_at_the_end():
    x = _x(32)
    y = np.arange(32) % 3
    callback = training.BatchNormRecalibration(x, every_n_epochs=2)
    _compiled().fit(x, y, batch_size=16, epochs=5, verbose=0, callbacks=[callback])
    assert [epoch for epoch, _ in callback.reports] == [2, 4, 5]
    callback = training.BatchNormRecalibration(x, every_n_epochs=2)
    _compiled().fit(x, y, batch_size=16, epochs=4, verbose=0, callbacks=[callback])
    assert [epoch for epoch, _ in callback.reports] == [2, 4]


def test_callback_fails_before_training_on_a_model_without_batchnorm():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    x = np.zeros((8, 4), "float32")
    seen = []
    counter = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: seen.append(e)
    )
    with pytest.raises(ValueError, match="at least one BatchNormalization layer"):
        model.fit(
            x,
            x[:, :2],
            epochs=2,
            verbose=0,
            callbacks=[training.BatchNormRecalibration(x), counter],
        )
    assert seen == []


def test_callback_argument_errors():
    def gen():
        yield _x(4)

    with pytest.raises(ValueError, match="re-iterable data"):
        training.BatchNormRecalibration(gen(), every_n_epochs=1)
    with pytest.raises(ValueError, match="Received: every_n_epochs=0"):
        training.BatchNormRecalibration(_x(4), every_n_epochs=0)


def _distiller(recalibrate=True):
    keras.utils.set_random_seed(3)
    teacher = keras.Sequential(
        [keras.Input((6, 6, 2)), keras.layers.Flatten(), keras.layers.Dense(3)]
    )
    d = training.Distiller(_model(), teacher, recalibrate=recalibrate)
    d.compile(optimizer=keras.optimizers.Adam(1e-2))
    return d


def test_distiller_recalibrates_the_student_by_default():
    x = _x(48)
    d = _distiller()
    d.fit(x, np.zeros(48, "int32"), batch_size=16, epochs=2, verbose=0)
    assert isinstance(d.recalibration_report, training.RecalibrationReport)
    _assert_exact(d.student, x)

    off = _distiller(recalibrate=False)
    off.fit(x, np.zeros(48, "int32"), batch_size=16, epochs=1, verbose=0)
    assert off.recalibration_report is None
    with pytest.raises(AssertionError):
        _assert_exact(off.student, x)
    # Explicit recalibration of a Distiller (through the method, or by
    # passing the Distiller itself) sets the student's statistics.
    report = off.recalibrate_batchnorm(x)
    assert off.recalibration_report is report
    _assert_exact(off.student, x)
    assert training.recalibrate_batchnorm(off, x).samples == 48


def test_distiller_validation_split_is_left_out_of_the_recalibration():
    x = _x(40)
    d = _distiller()
    d.fit(
        x,
        np.zeros(40, "int32"),
        batch_size=10,
        epochs=1,
        verbose=0,
        validation_split=0.25,
    )
    assert d.recalibration_report.samples == 30
    _assert_exact(d.student, x[:30])


def test_distiller_warns_when_it_cannot_reread_the_data():
    x = _x(32)

    def gen():
        while True:
            yield x[:16], np.zeros(16, "int32")

    d = _distiller()
    with pytest.warns(UserWarning, match="recalibrate_batchnorm"):
        d.fit(gen(), epochs=1, steps_per_epoch=2, verbose=0, shuffle=False)
    assert d.recalibration_report is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _distiller(recalibrate=False).fit(
            gen(), epochs=1, steps_per_epoch=2, verbose=0, shuffle=False
        )


def test_distiller_config_keeps_the_flag():
    d = _distiller(recalibrate=False)
    assert training.Distiller.from_config(d.get_config()).recalibrate is False
    with pytest.raises(ValueError, match="Received: recalibrate='yes'"):
        training.Distiller(_model(), _model(), recalibrate="yes")


# --- other backends and tf.distribute (fresh processes) ----------------------

_ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
HERE = os.path.dirname(__file__)


def _run(script, backend):
    env = dict(_ENV, KERAS_BACKEND=backend, JAX_PLATFORMS="cpu")
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=HERE,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return result.stdout


def test_exact_on_the_jax_backend():
    pytest.importorskip(
        "jax", reason="JAX is not installed (requirements-dev.txt installs it)"
    )
    out = _run(
        """
        import keras, numpy as np
        assert keras.backend.backend() == "jax"
        import test_recalibration as t
        from sttn_keras import training
        model, x = t._model(), t._x()
        report = training.recalibrate_batchnorm(model, x, batch_size=32)
        t._assert_exact(model, x)
        def gen():
            for i in range(0, 100, 25):
                yield x[i:i + 25], None
        other = t._model()
        training.recalibrate_batchnorm(other, gen())
        t._assert_exact(other, x)
        model = t._compiled()
        cb = training.BatchNormRecalibration(x)
        model.fit(x, np.arange(100) % 3, epochs=1, batch_size=25, verbose=0, callbacks=[cb])
        t._assert_exact(model, x)
        print("OK", report.passes)
        """,
        "jax",
    )
    assert "OK 1" in out


def test_synchronized_batchnorm_under_mirrored_strategy():
    # The statistics are computed over the whole data and land on every
    # replica's copy of the moving mean and variance, whether recalibration
    # is called inside or outside the strategy's scope, or by the callback
    # at the end of a distributed fit.
    out = _run(
        """
        import numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import keras
        import sttn_keras as sttn
        from sttn_keras import training
        import test_recalibration as t

        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        assert strategy.num_replicas_in_sync == 2

        def build():
            keras.utils.set_random_seed(0)
            model = keras.Sequential([
                keras.Input((6, 6, 2)),
                keras.layers.Conv2D(4, 3, padding="same"),
                keras.layers.BatchNormalization(synchronized=True),
                sttn.layers.TernaryConv2D(5, 3, padding="same"),
                keras.layers.BatchNormalization(synchronized=True),
                keras.layers.Flatten(),
                keras.layers.Dense(3),
            ])
            model.compile(keras.optimizers.Adam(1e-2),
                          keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            return model

        def check(model, x):
            t._assert_exact(model, x)
            for bn in t._bns(model):
                copies = bn.moving_mean.value.values
                assert len(copies) == 2, copies
                np.testing.assert_array_equal(copies[0].numpy(), copies[1].numpy())

        x, y = t._x(), np.arange(100) % 3
        with strategy.scope():
            model = build()
        model.fit(x, y, batch_size=20, epochs=1, verbose=0)
        training.recalibrate_batchnorm(model, x, batch_size=32)
        check(model, x)
        with strategy.scope():
            model = build()
            model.fit(x, y, batch_size=20, epochs=1, verbose=0)
            training.recalibrate_batchnorm(model, x, batch_size=32)
        check(model, x)
        with strategy.scope():
            model = build()
        cb = training.BatchNormRecalibration(
            tf.data.Dataset.from_tensor_slices((x, y)).batch(20))
        model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(20), epochs=2,
                  verbose=0, callbacks=[cb])
        check(model, x)
        print("OK", len(cb.reports))
        """,
        "tensorflow",
    )
    assert "OK 1" in out


def test_docstring_examples_run():
    import doctest

    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    ran = 0
    for obj in (training.recalibrate_batchnorm, training.BatchNormRecalibration):
        for test in finder.find(obj, globs={**vars(training)}):
            ran += len(test.examples)
            runner.run(test)
    assert ran > 0
    assert runner.summarize(verbose=False).failed == 0


def test_export_cli_recalibrates_with_a_npy_file(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            keras.layers.Conv2D(4, 3, padding="same"),
            BN(),
            sttn.layers.TernaryConv2D(6, 3, padding="same"),
            BN(),
            keras.layers.Flatten(),
            sttn.layers.TernaryDense(8),
            BN(),
            keras.layers.Dense(3),
        ]
    )
    path, npy, out = tmp_path / "m.keras", tmp_path / "x.npy", tmp_path / "m.tflite"
    model.save(path)
    x = _x(64)
    np.save(npy, x)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    cmd = [
        sys.executable,
        "-m",
        "sttn_keras.export.cli",
        f"--model={path}",
        f"--output={out}",
        "--nocompare_float",
    ]
    result = subprocess.run(
        cmd + [f"--recalibrate_with={npy}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "BatchNorm recalibration: 3 layer(s), 64 samples" in result.stdout
    # The file computes what the model recalibrated here computes, and not
    # what the saved (unrecalibrated) model computes.
    stale = keras.ops.convert_to_numpy(model.predict(x, verbose=0))
    training.recalibrate_batchnorm(model, x)
    fresh = keras.ops.convert_to_numpy(model.predict(x, verbose=0))
    got = sttn.export.Interpreter(str(out)).predict(x)
    assert np.abs(fresh - stale).max() > 0.1
    np.testing.assert_allclose(got, fresh, rtol=1e-3, atol=1e-3)

    np.save(npy, np.zeros((4, 28, 28, 1), "float32"))
    bad = subprocess.run(
        cmd + [f"--recalibrate_with={npy}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert bad.returncode != 0 and "expected batches of shape" in bad.stderr
