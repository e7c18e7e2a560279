"""Real data: BatchNorm recalibration closes the train/inference gap.

The case of issue 10: the README quick-start model (float Conv2D + BN, two
TernaryConv2D + BN, TernaryDense + BN, float Dense head) trained with Adam at
a constant learning rate 2e-3 for 3 epochs on the first 8,000 Fashion-MNIST
training images, batch 64. Measured on 2 CPU cores, seed 0: Keras reports
86.7% training accuracy in the last epoch, but the model reaches only 69.2%
on the test set in inference mode; after ``recalibrate_batchnorm`` on the
8,000 training images it reaches 85.2% (within 1.5 points of the in-training
accuracy). TWN weights (``kernel_quantizer="twn"``), same run: 86.8% in
training, 69.2% test before, 85.6% after. The gap must show (more than 5
points), recalibration must close at least half of it and end within 4
points of the in-training accuracy: bounds from the spread measured over
seeds and oneDNN on/off (benchmarks/numerics_spread.py; the 2-point bound of
issue 10 failed on another machine, issue 17).

The exported ``.tflite`` of the recalibrated model must agree with Keras
(same tolerance as tests/test_fmnist_e2e.py: argmax agreement >= 99.5% and
accuracy within 0.3 points on all 10,000 test images).
"""

import keras
import numpy as np
import pytest

import sttn_keras as sttn

pytestmark = pytest.mark.slow


def _data():
    try:
        (x, y), (xt, yt) = sttn.datasets.load_fashion_mnist()
    except Exception as e:  # noqa: BLE001  (no STTN_DATA_DIR and no network)
        pytest.skip(f"Fashion-MNIST is not available here: {e}")
    prep = lambda a: (a.astype("float32") / 255.0).reshape(len(a), 28, 28, 1)  # noqa: E731
    return (prep(x[:8000]), y[:8000].astype("int32")), (prep(xt), yt.astype("int32"))


def quick_start_model(kernel_quantizer="sttn"):
    kq = kernel_quantizer
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(32, 3, padding="same"),
            keras.layers.BatchNormalization(),
            sttn.layers.TernaryConv2D(32, 3, padding="same", kernel_quantizer=kq),
            keras.layers.BatchNormalization(),
            keras.layers.MaxPooling2D(),
            sttn.layers.TernaryConv2D(
                32, 3, strides=2, padding="same", kernel_quantizer=kq
            ),
            keras.layers.BatchNormalization(),
            keras.layers.Flatten(),
            sttn.layers.TernaryDense(64, kernel_quantizer=kq),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(10),
        ]
    )


@pytest.fixture(scope="module", params=["sttn", "twn"])
def trained(request):
    (x, y), (xt, yt) = _data()
    keras.utils.set_random_seed(0)
    model = quick_start_model(request.param)
    model.compile(
        keras.optimizers.Adam(2e-3),  # constant: no decay to hide the gap
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = model.fit(x, y, batch_size=64, epochs=3, verbose=0)
    train_acc = history.history["accuracy"][-1]
    before = model.evaluate(xt, yt, batch_size=500, verbose=0)[1]
    report = sttn.training.recalibrate_batchnorm(model, x)
    after = model.evaluate(xt, yt, batch_size=500, verbose=0)[1]
    accuracies = {
        "train": train_acc,
        "before": before,
        "after": after,
        "report": report,
    }
    return model, (xt, yt), accuracies


def test_recalibration_closes_the_gap(trained):
    _, _, acc = trained
    print({k: v for k, v in acc.items() if k != "report"})
    print(acc["report"])
    # Bounds from the spread over seeds and float numerics (oneDNN on/off),
    # benchmarks/results/numerics_spread.md, on a 2-core EPYC (AVX2):
    # seed 0 with oneDNN on and off, seed 1 with it on, both quantizers:
    #   train - before: +0.158 ... +0.252 (the gap is large everywhere);
    #   after - train:  -0.0237 ... -0.0126 (issue 17's machine: -0.0237,
    #       the numbers of seed 0 with oneDNN off here; the old bound of
    #       -0.02 held on one machine only);
    #   (after - before) / (train - before): 0.858 ... 0.950.
    # So: the gap shows (> 0.05), recalibration closes at least half of it
    # and ends within 0.04 of the in-training accuracy (1.7x the worst
    # measured shortfall).
    gap = acc["train"] - acc["before"]
    assert gap > 0.05, acc  # the gap shows
    assert acc["after"] - acc["before"] >= 0.5 * gap, acc
    assert acc["after"] >= acc["train"] - 0.04, acc
    assert len(acc["report"]) == 4 and acc["report"].samples == 8000


def test_exported_recalibrated_model_matches_keras(trained, tmp_path):
    model, (xt, yt), _ = trained
    path = tmp_path / "recalibrated.tflite"
    sttn.export.to_tflite(model, path)
    interp = sttn.export.Interpreter(str(path), num_threads=2)
    tfl = interp.predict(xt, batch_size=500).argmax(1)
    ker = keras.ops.convert_to_numpy(
        model.predict(xt, batch_size=500, verbose=0)
    ).argmax(1)
    agreement = (tfl == ker).mean()
    assert agreement >= 0.995, agreement
    assert abs((tfl == yt).mean() - (ker == yt).mean()) <= 0.003
    # Test accuracy after recalibration: 0.843 ... 0.851 over seeds and
    # oneDNN on/off, 6 runs (benchmarks/results/numerics_spread.md).
    assert np.mean(tfl == yt) >= 0.83
