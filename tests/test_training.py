"""Tests for sttn_keras.training: Distiller, schedule, recipe optimizer."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from sttn_keras import models, training


def _dense_model(seed, units=5, name=None, regularizer=None):
    return keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(
                units,
                kernel_initializer=keras.initializers.GlorotUniform(seed),
                kernel_regularizer=regularizer,
            ),
        ],
        name=name,
    )


def _batch(n=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6)).astype("float32"), rng.integers(0, 5, n)


def _np_log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _np_kl(t, s, temperature):
    lt = _np_log_softmax(t / temperature)
    ls = _np_log_softmax(s / temperature)
    return (np.exp(lt) * (lt - ls)).sum(-1) * temperature**2


# --- the distillation loss --------------------------------------------------


@pytest.mark.parametrize("temperature", [1.0, 3.0])
def test_distillation_loss_equals_hand_computed_kl(temperature):
    x, y = _batch()
    teacher, student = _dense_model(1), _dense_model(2)
    distiller = training.Distiller(student, teacher, temperature=temperature)
    distiller.compile(optimizer="sgd")
    t = keras.ops.convert_to_numpy(teacher(x))
    s = keras.ops.convert_to_numpy(student(x))
    expected = _np_kl(t.astype(np.float64), s.astype(np.float64), temperature).mean()
    got = distiller.compute_loss(x, y, keras.ops.convert_to_tensor(s))
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)
    assert expected > 0.01  # two random models disagree: a real check
    # Keras's own KLDivergence on the softmaxes agrees (T = 1).
    if temperature == 1.0:
        kl = keras.losses.KLDivergence()(keras.ops.softmax(t), keras.ops.softmax(s))
        np.testing.assert_allclose(float(got), float(kl), rtol=1e-4)


def test_distillation_loss_with_labels_and_sample_weights():
    x, y = _batch()
    teacher, student = _dense_model(1), _dense_model(2)
    distiller = training.Distiller(student, teacher, label_loss_weight=0.5)
    distiller.compile(optimizer="sgd")
    t = keras.ops.convert_to_numpy(teacher(x)).astype(np.float64)
    s = keras.ops.convert_to_numpy(student(x)).astype(np.float64)
    w = np.linspace(0.0, 2.0, len(x))
    ce = -_np_log_softmax(s)[np.arange(len(y)), y]
    expected = np.mean(w * _np_kl(t, s, 1.0)) + 0.5 * np.mean(w * ce)
    got = distiller.compute_loss(
        x, y, keras.ops.convert_to_tensor(s.astype("float32")), w
    )
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)


def test_identical_student_and_teacher_give_zero_loss():
    x, y = _batch()
    teacher = _dense_model(3)
    student = _dense_model(3)
    distiller = training.Distiller(student, teacher)
    distiller.compile(optimizer="sgd")
    assert abs(float(distiller.compute_loss(x, y, student(x)))) < 1e-6


def test_regularisation_losses_are_added():
    x, y = _batch()
    student = _dense_model(2, regularizer=keras.regularizers.L2(0.1))
    distiller = training.Distiller(student, _dense_model(1))
    distiller.compile(optimizer="sgd")
    s = student(x)
    reg = 0.1 * np.sum(keras.ops.convert_to_numpy(student.layers[0].kernel) ** 2)
    plain = training.DistillationLoss()(distiller.teacher(x), s)
    np.testing.assert_allclose(
        float(distiller.compute_loss(x, y, s)), float(plain) + reg, rtol=1e-5
    )


# --- training ---------------------------------------------------------------


def test_distiller_trains_and_the_teacher_stays_frozen():
    keras.utils.set_random_seed(0)
    x, y = _batch(256)
    teacher, student = _dense_model(1), _dense_model(2)
    teacher_before = [keras.ops.convert_to_numpy(w) for w in teacher.weights]
    distiller = training.Distiller(student, teacher)
    distiller.compile(
        optimizer=keras.optimizers.Adam(0.05), metrics=["sparse_categorical_accuracy"]
    )
    assert len(distiller.trainable_weights) == len(student.trainable_weights)
    history = distiller.fit(x, y, batch_size=32, epochs=5, verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert losses[-1] < 0.3 * losses[0], losses
    for before, after in zip(teacher_before, teacher.weights):
        np.testing.assert_array_equal(before, keras.ops.convert_to_numpy(after))
    # The student learned the teacher's decisions.
    agree = np.mean(
        np.argmax(keras.ops.convert_to_numpy(student(x)), -1)
        == np.argmax(keras.ops.convert_to_numpy(teacher(x)), -1)
    )
    assert agree > 0.9
    # evaluate() works too (the loss needs no labels, metrics get them).
    result = distiller.evaluate(x, y, verbose=0, return_dict=True)
    assert set(result) >= {"loss", "sparse_categorical_accuracy"}


def test_sttn_student_keeps_latent_kernels_clamped():
    keras.utils.set_random_seed(0)
    teacher = models.small_cnn(
        input_shape=(8, 8, 1),
        kernel_quantizer=None,
        input_quantizer=None,
        filters=(4, 8, 8),
        dense_units=8,
    )
    student = models.small_cnn(
        input_shape=(8, 8, 1), kernel_quantizer="sttn", filters=(4, 8, 8), dense_units=8
    )
    distiller = training.Distiller(student, teacher)
    # A huge learning rate pushes latent weights far past 1: the clamp in the
    # layers' weight constraint must hold them in [-1, 1].
    distiller.compile(optimizer=keras.optimizers.SGD(50.0))
    x = np.random.default_rng(0).normal(size=(32, 8, 8, 1)).astype("float32")
    distiller.fit(x, np.zeros(32), batch_size=16, epochs=1, verbose=0)
    layer = student.get_layer("conv2")
    for kernel in layer.latent_kernels:
        k = keras.ops.convert_to_numpy(kernel)
        assert k.min() >= -1.0 and k.max() <= 1.0
        assert np.mean(np.abs(k) == 1.0) > 0.1  # the clamp was needed


# --- schedule ---------------------------------------------------------------


def test_cosine_schedule_values():
    s = training.cosine_schedule(1e-3, total_steps=100)
    for step, expected in [
        (0, 1e-3),
        (25, 1e-3 * (1 + np.cos(np.pi / 4)) / 2),
        (50, 5e-4),
        (100, 0.0),
        (250, 0.0),
    ]:
        np.testing.assert_allclose(float(s(step)), expected, atol=1e-9)


def test_cosine_schedule_with_warmup_and_floor():
    s = training.cosine_schedule(
        2e-3, total_steps=110, warmup_steps=10, final_lr_fraction=0.1
    )
    for step, expected in [
        (0, 0.0),
        (5, 1e-3),
        (10, 2e-3),
        (60, 2e-3 * (0.1 + 0.9 * 0.5)),
        (110, 2e-4),
        (500, 2e-4),
    ]:
        np.testing.assert_allclose(float(s(step)), expected, atol=1e-9)


def test_schedule_and_optimizer_serialise():
    opt = training.reference_optimizer(total_steps=1000, warmup_steps=100)
    assert isinstance(opt, keras.optimizers.Adam)
    assert opt.get_config()["weight_decay"] is None
    schedule = keras.optimizers.schedules.deserialize(opt.get_config()["learning_rate"])
    clone = keras.optimizers.Adam.from_config(opt.get_config())
    expected = training.cosine_schedule(5e-3, 1000, warmup_steps=100)
    for step in (0, 50, 100, 600, 1000):
        np.testing.assert_allclose(
            float(schedule(step)), float(expected(step)), atol=1e-9
        )
    assert float(schedule(100)) == pytest.approx(5e-3)
    # A fresh optimizer starts at step 0 of the schedule (warm-up: lr 0).
    assert float(clone.learning_rate) == 0.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"initial_lr": 0.0, "total_steps": 10}, "`initial_lr`"),
        ({"initial_lr": 1e-3, "total_steps": 0}, "`total_steps`"),
        ({"initial_lr": 1e-3, "total_steps": 10.5}, "`total_steps`"),
        ({"initial_lr": 1e-3, "total_steps": 10, "warmup_steps": 10}, "`warmup_steps`"),
        (
            {"initial_lr": 1e-3, "total_steps": 10, "final_lr_fraction": 2},
            "`final_lr_fraction`",
        ),
    ],
)
def test_cosine_schedule_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match="Received an invalid value for " + match):
        training.cosine_schedule(**kwargs)


# --- arguments and serialisation -------------------------------------------


def test_distiller_rejects_bad_arguments():
    t, s = _dense_model(1), _dense_model(2)
    with pytest.raises(ValueError, match="`temperature`"):
        training.Distiller(s, t, temperature=0)
    with pytest.raises(ValueError, match="`label_loss_weight`"):
        training.Distiller(s, t, label_loss_weight=-1)
    with pytest.raises(ValueError, match="`teacher`, expected a keras.Model"):
        training.Distiller(s, "resnet50")
    with pytest.raises(ValueError, match="same shape"):
        training.Distiller(s, _dense_model(1, units=7))
    with pytest.raises(ValueError, match="do not pass `loss`"):
        training.Distiller(s, t).compile(optimizer="adam", loss="mse")


def test_distiller_config_roundtrip_and_saving(tmp_path):
    x, _ = _batch(4)
    distiller = training.Distiller(
        _dense_model(2, name="student"),
        _dense_model(1, name="teacher"),
        temperature=2.5,
        label_loss_weight=0.25,
    )
    distiller(x)
    clone = training.Distiller.from_config(distiller.get_config())
    assert clone.temperature == 2.5 and clone.label_loss_weight == 0.25
    assert clone.student.name == "student" and not clone.teacher.trainable
    path = tmp_path / "distiller.keras"
    distiller.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x)),
        keras.ops.convert_to_numpy(distiller(x)),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded.teacher(x)),
        keras.ops.convert_to_numpy(distiller.teacher(x)),
        rtol=1e-6,
    )
    loss = training.DistillationLoss.from_config(
        training.DistillationLoss(3.0).get_config()
    )
    assert loss.temperature == 3.0


# --- other backends and tf.distribute (fresh processes) --------------------

_ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


def _run(script, backend):
    env = dict(_ENV, KERAS_BACKEND=backend)
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_distiller_on_the_jax_backend():
    out = _run(
        """
        import numpy as np, keras
        from sttn_keras import models, training
        assert keras.backend.backend() == "jax"
        keras.utils.set_random_seed(0)
        kw = dict(input_shape=(8, 8, 1), filters=(4, 8, 8), dense_units=8)
        teacher = models.small_cnn(kernel_quantizer=None, input_quantizer=None, **kw)
        student = models.small_cnn(kernel_quantizer="sttn", **kw)
        d = training.Distiller(student, teacher, label_loss_weight=0.1)
        d.compile(optimizer=training.reference_optimizer(40, 1e-2))
        x = np.random.default_rng(0).normal(size=(64, 8, 8, 1)).astype("float32")
        y = np.random.default_rng(1).integers(0, 10, 64)
        h = d.fit(x, y, batch_size=16, epochs=10, verbose=0)
        print("LOSSES", h.history["loss"][0], h.history["loss"][-1])
        """,
        "jax",
    )
    first, last = map(float, out.split("LOSSES")[1].split())
    assert last < first


def test_distiller_under_mirrored_strategy_matches_one_device():
    # One SGD step on the same global batch: two replicas must give exactly
    # the weights of one device (the loss, regularisation included, is scaled
    # by 1 / replicas as Keras's own losses are).
    out = _run(
        """
        import numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import keras
        from sttn_keras import training

        def make():
            def dense(seed, reg=None):
                return keras.Sequential([keras.Input((6,)), keras.layers.Dense(
                    5, kernel_initializer=keras.initializers.GlorotUniform(seed),
                    kernel_regularizer=reg)])
            d = training.Distiller(dense(2, keras.regularizers.L2(0.05)), dense(1),
                                   temperature=2.0, label_loss_weight=0.5)
            d.compile(optimizer=keras.optimizers.SGD(0.5))
            return d

        rng = np.random.default_rng(0)
        x = rng.normal(size=(8, 6)).astype("float32"); y = rng.integers(0, 5, 8)
        one = make(); one.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        assert strategy.num_replicas_in_sync == 2
        with strategy.scope():
            two = make()
        ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
        two.fit(ds, epochs=1, verbose=0)
        w1 = one.student.layers[0].kernel.numpy()
        w2 = two.student.layers[0].kernel.numpy()
        w0 = make().student.layers[0].kernel.numpy()
        print("DIFF", np.abs(w1 - w2).max(), np.abs(w1 - w0).max())
        """,
        "tensorflow",
    )
    diff, moved = map(float, out.split("DIFF")[1].split())
    assert moved > 1e-3  # the step did change the weights
    assert diff < 1e-5, (diff, moved)
