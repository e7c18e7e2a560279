"""Models trained on real data once per test run and shared by test files.

Training is the largest cost of ``make test``. Where two test files train the
very same model (same architecture, data, recipe and seed), they get it from
here: the first caller trains it and saves it with its Keras test-set logits
under the run's temporary folder; every other caller, in this process or in
another pytest-xdist worker, loads that copy (a file lock keeps workers from
training it twice). The saved ``.keras`` file holds every variable, so the
loaded model computes exactly what the trained one does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os

import numpy as np
import pytest


@dataclasses.dataclass
class Trained:
    model: object  # keras.Model
    x_test: np.ndarray
    y_test: np.ndarray
    keras_logits: np.ndarray  # model.predict(x_test), computed once


_MEMO: dict[str, Trained] = {}


def shared_dir(tmp_path_factory) -> str:
    """A folder shared by every worker of this pytest run (and new per run)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the workers' basetemps are siblings
    path = os.path.join(str(base), "trained-models")
    os.makedirs(path, exist_ok=True)
    return path


@contextlib.contextmanager
def _locked(path):
    with open(path + ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _fashion_mnist(train_images):
    import sttn_keras as sttn

    try:
        (x, y), (xt, yt) = sttn.datasets.load_fashion_mnist()
    except Exception as e:  # noqa: BLE001  (no STTN_DATA_DIR and no network)
        pytest.skip(f"Fashion-MNIST is not available here: {e}")
    prep = lambda a: (a.astype("float32") / 255.0).reshape(len(a), 28, 28, 1)  # noqa: E731
    return (
        (prep(x[:train_images]), y[:train_images].astype("int32")),
        (prep(xt), yt.astype("int32")),
    )


def fashion_mnist_small_cnn(tmp_path_factory) -> Trained:
    """``small_cnn`` with its defaults (STTN weights, ternary activations,
    filters 32/64/128) trained on the first 10,000 Fashion-MNIST training
    images for 2 epochs, batch 128, Adam 2e-3 with cosine decay, seed 0; the
    full 10,000-image test set. Used by tests/test_fmnist_e2e.py and
    tests/test_export_size.py."""
    import keras

    import sttn_keras as sttn

    name = "fashion_mnist_small_cnn"
    if name in _MEMO:
        return _MEMO[name]
    (x, y), (xt, yt) = _fashion_mnist(10000)
    path = os.path.join(shared_dir(tmp_path_factory), name)
    with _locked(path):
        if os.path.exists(path + ".keras"):
            model = keras.saving.load_model(path + ".keras", compile=False)
            logits = np.load(path + ".logits.npy")
        else:
            keras.utils.set_random_seed(0)
            model = sttn.models.small_cnn(
                kernel_quantizer="sttn", input_quantizer="ternary"
            )
            steps = 2 * int(np.ceil(len(x) / 128))
            model.compile(
                keras.optimizers.Adam(sttn.training.cosine_schedule(2e-3, steps)),
                keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"],
            )
            model.fit(x, y, batch_size=128, epochs=2, verbose=0)
            logits = keras.ops.convert_to_numpy(
                model.predict(xt, batch_size=500, verbose=0)
            )
            np.save(path + ".logits.npy", logits)
            # Renamed into place last: a .keras file that exists is complete.
            model.save(path + ".tmp.keras")
            os.replace(path + ".tmp.keras", path + ".keras")
    _MEMO[name] = Trained(model, xt, yt, logits)
    return _MEMO[name]
