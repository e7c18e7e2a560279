"""A training step under tf.distribute.MirroredStrategy over two logical CPU
devices gives the same weights as the same step on one device.

BatchNormalization uses synchronized=True so that batch statistics span the
replicas (plain BatchNormalization normalises per replica, which changes the
math, not a property of the ternary layers).

Logical devices must be configured before TensorFlow initialises its
runtime, so the comparison runs in a fresh subprocess.
"""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import os
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import sttn_keras as sttn

    def build():
        keras.utils.set_random_seed(7)
        model = keras.Sequential([
            keras.Input((8, 8, 2)),
            keras.layers.Conv2D(4, 3, padding="same"),
            keras.layers.BatchNormalization(synchronized=True),
            sttn.layers.TernaryConv2D(6, 3, padding="same"),
            sttn.layers.TernaryDepthwiseConv2D(3, padding="same", kernel_quantizer="twn"),
            keras.layers.Flatten(),
            sttn.layers.TernaryDense(3),
        ])
        return model

    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 8, 8, 2)).astype("float32")
    y = (np.arange(8) % 3).astype("int32")

    def step(strategy):
        with strategy.scope():
            model = build()
            model.compile(keras.optimizers.SGD(0.1),
                          keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        return [w.numpy() if hasattr(w, "numpy") else keras.ops.convert_to_numpy(w)
                for w in model.weights]

    devices = tf.config.list_logical_devices("CPU")
    assert len(devices) == 2, devices
    mirrored = tf.distribute.MirroredStrategy([d.name for d in devices])
    assert mirrored.num_replicas_in_sync == 2
    single = tf.distribute.OneDeviceStrategy(devices[0].name)
    a, b = step(mirrored), step(single)
    worst = max(float(np.max(np.abs(p - q))) for p, q in zip(a, b))
    initial = [keras.ops.convert_to_numpy(w) for w in build().weights]
    moved = max(float(np.max(np.abs(p - q))) for p, q in zip(a, initial))
    print("MAX_DIFF", worst, "MOVED", moved)
    assert moved > 1e-3, "the step did not change the weights"
    assert worst < 1e-4, worst
    """
)


def test_mirrored_strategy_step_matches_single_device():
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "MAX_DIFF" in result.stdout
