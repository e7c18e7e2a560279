"""End-to-end demo: train, summarise, export, and run on the TFLite runtime.

``make demo`` runs ``python -m sttn_keras.demo``:

1. trains the small CNN (``sttn_keras.models.small_cnn``) on Fashion-MNIST in
   float and in STTN (ternary weights and activations, first and last layer
   float) with the same schedule, re-estimates both models' BatchNorm
   statistics on training images (``sttn.training.recalibrate_batchnorm``,
   the recipe's last step, done before export), and prints the test
   accuracies without and with that recalibration;
2. prints ``sttn.summary`` of the STTN model;
3. exports it with ``sttn.export.to_tflite`` (native ternary custom ops),
   runs the file with ``sttn.export.Interpreter`` on all 10,000 test images,
   and prints the Keras and TFLite accuracies, their argmax agreement, the
   file size next to a float32 TFLite export of the same architecture, and
   the latency per image of both files.

Artifacts go to ``artifacts/demo/`` (model, ``.tflite`` files, results JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import sttn_keras as sttn  # noqa: E402


def _load(train_subset):
    (x, y), (xt, yt) = sttn.datasets.load_fashion_mnist()
    if train_subset:
        x, y = x[:train_subset], y[:train_subset]

    def prep(a):
        a = a.astype("float32") / 255.0
        return a[..., None] if a.ndim == 3 else a

    return (prep(x), y.astype("int32")), (prep(xt), yt.astype("int32"))


def _train(model, data, epochs, batch_size, lr):
    (x, y), (xt, yt) = data
    steps = epochs * int(np.ceil(len(x) / batch_size))
    model.compile(
        optimizer=keras.optimizers.Adam(sttn.training.cosine_schedule(lr, steps)),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    # A progress bar in a terminal; one line per epoch when written to a file.
    verbose = 1 if sys.stdout.isatty() else 2
    model.fit(
        x,
        y,
        batch_size=batch_size,
        epochs=epochs,
        validation_data=(xt, yt),
        verbose=verbose,
    )
    before = float(model.evaluate(xt, yt, batch_size=512, verbose=0)[1])
    # BN statistics re-estimated exactly on (up to) 10,000 training images:
    # the moving averages of training lag the weights, and the ternary
    # thresholds after each BN amplify the mismatch.
    report = sttn.training.recalibrate_batchnorm(
        model, x[:RECAL_IMAGES], batch_size=500
    )
    print(report)
    after = float(model.evaluate(xt, yt, batch_size=512, verbose=0)[1])
    return before, after


RECAL_IMAGES = 10000


def _latency_ms(run, x, repeats=3):
    """Median over ``repeats`` of the wall time per image of ``run(x)``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(x)
        times.append((time.perf_counter() - start) / len(x) * 1e3)
    return float(np.median(times))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument(
        "--train-subset",
        type=int,
        default=0,
        help="train on the first N images only (0: all 60,000)",
    )
    parser.add_argument("--out", default="artifacts/demo")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    data = _load(args.train_subset)
    (_, _), (xt, yt) = data

    print(f"== Fashion-MNIST: {len(data[0][0])} training and {len(xt)} test images")
    keras.utils.set_random_seed(args.seed)
    float_model = sttn.models.small_cnn(kernel_quantizer=None, input_quantizer=None)
    print("== Training the float model")
    float_before, float_acc = _train(
        float_model, data, args.epochs, args.batch_size, args.lr
    )

    keras.utils.set_random_seed(args.seed)
    model = sttn.models.small_cnn(kernel_quantizer="sttn", input_quantizer="ternary")
    print("== Training the STTN model (ternary weights and activations)")
    sttn_before, sttn_acc = _train(model, data, args.epochs, args.batch_size, args.lr)

    print("\n== Test accuracy (without -> with BatchNorm recalibration)")
    print(f"  float32 : {100 * float_before:.2f}% -> {100 * float_acc:.2f}%")
    print(
        f"  STTN    : {100 * sttn_before:.2f}% -> {100 * sttn_acc:.2f}%  "
        f"({100 * (sttn_acc - float_acc):+.2f} points vs float)"
    )
    print("\n== sttn.summary(model)")
    summary = sttn.summary(model)

    model_path = os.path.join(args.out, "fmnist_sttn.keras")
    model.save(model_path)
    tflite_path = os.path.join(args.out, "fmnist_sttn.tflite")
    print("\n== Export")
    data_sttn = sttn.export.to_tflite(model, tflite_path)
    from sttn_keras.export import baselines

    data_float = baselines.float_tflite(model)
    float_path = os.path.join(args.out, "fmnist_float32.tflite")
    with open(float_path, "wb") as f:
        f.write(data_float)
    hist = sttn.export.op_histogram(data_sttn)
    print(f"  ops: {hist}")
    print(
        f"  {tflite_path}: {len(data_sttn) / 1024:.1f} KiB; float32 TFLite: "
        f"{len(data_float) / 1024:.1f} KiB ({len(data_float) / len(data_sttn):.1f}x smaller)"
    )

    interp = sttn.export.Interpreter(data_sttn, num_threads=2, kernel="optimized")
    tfl_logits = interp.predict(xt, batch_size=250)
    keras_logits = keras.ops.convert_to_numpy(
        model.predict(xt, batch_size=500, verbose=0)
    )
    tfl_pred, keras_pred = tfl_logits.argmax(1), keras_logits.argmax(1)
    tfl_acc = float((tfl_pred == yt).mean())
    keras_acc = float((keras_pred == yt).mean())
    agreement = float((tfl_pred == keras_pred).mean())

    from ai_edge_litert.interpreter import Interpreter as StockInterpreter

    stock = StockInterpreter(model_content=data_float, num_threads=2)
    inp, out = stock.get_input_details()[0], stock.get_output_details()[0]

    def run_float(x):
        stock.resize_tensor_input(inp["index"], x.shape)
        stock.allocate_tensors()
        stock.set_tensor(inp["index"], x)
        stock.invoke()
        return stock.get_tensor(out["index"])

    bench = xt[:1000]
    sttn_ms = _latency_ms(lambda x: interp.predict(x, batch_size=100), bench)
    float_ms = _latency_ms(
        lambda x: [run_float(x[i : i + 100]) for i in range(0, len(x), 100)], bench
    )

    print(
        f"\n== TFLite with sttn ops ({interp.kernel} kernels) on {len(xt)} test images"
    )
    print(f"  Keras accuracy     : {100 * keras_acc:.2f}%")
    print(f"  TFLite accuracy    : {100 * tfl_acc:.2f}%")
    print(f"  argmax agreement   : {100 * agreement:.2f}%")
    print(
        f"  latency per image  : {sttn_ms:.3f} ms sttn ops vs {float_ms:.3f} ms float32 "
        f"TFLite (XNNPACK), batch 100, median of 3; num_threads=2 for both "
        f"({sttn_ms and float_ms / sttn_ms:.2f}x)"
    )

    results = dict(
        date=time.strftime("%Y-%m-%d"),
        machine=f"{platform.machine()}, {os.cpu_count()} cores",
        epochs=args.epochs,
        train_images=int(len(data[0][0])),
        float_accuracy=float_acc,
        sttn_accuracy=sttn_acc,
        float_accuracy_without_recalibration=float_before,
        sttn_accuracy_without_recalibration=sttn_before,
        recalibration_images=min(RECAL_IMAGES, int(len(data[0][0]))),
        keras_accuracy=keras_acc,
        tflite_accuracy=tfl_acc,
        argmax_agreement=agreement,
        tflite_bytes=len(data_sttn),
        float_tflite_bytes=len(data_float),
        compression_ratio=summary.compression_ratio,
        latency_ms_per_image=sttn_ms,
        float_latency_ms_per_image=float_ms,
        kernel=interp.kernel,
        op_histogram=hist,
    )
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    print(f"\nResults written to {os.path.join(args.out, 'results.json')}")
    return results


if __name__ == "__main__":
    main()
