"""File size and load time of STTN exports against float32 and int8 TFLite.

For each model (untrained weights: size and load time do not depend on the
values; the BatchNorm statistics are randomized so nothing folds to a
constant):

* ``resnet18``: ``sttn_keras.models.resnet18()``, 224x224x3, 1000 classes;
* ``mobilenet_v2``: ``sttn.ternarize(keras.applications.MobileNetV2(
  weights=None, input_shape=(224, 224, 3)))`` (first and last layer float);
* ``small_cnn``: ``sttn_keras.models.small_cnn()``, 28x28x1, 10 classes,

it writes

* the STTN ``.tflite`` (``sttn.export.to_tflite``) for each ``float_layers``
  choice (``float32``, ``int8_weights``) x each ``weight_encoding``
  (``trit2`` = 2 bits per trit, ``base3`` = 1.6 bits per trit);
* ``float32``: the same architecture in float (``baselines.float_tflite``);
* ``int8``: full-integer post-training quantization of that float model
  (``baselines.int8_tflite``, stock converter, a representative dataset of 8
  random inputs: enough for the size, which does not depend on the ranges),

and measures the load time of the STTN files: ``sttn.export.Interpreter``
construction + ``allocate_tensors`` (where every sttn op validates and
unpacks its weights, once), median of ``--reps`` loads per file, interleaved
between the encodings in the same process. With ``--invoke`` it also times a
batch-1 ``predict`` of the base3 file per float_layers choice (``--reps``
interleaved rounds of 5, median of the round medians; one thread).

Usage::

    python benchmarks/size.py [--models resnet18,mobilenet_v2,small_cnn]
                              [--reps 7] [--out benchmarks/results]

Writes ``size.md`` and ``size.json`` in ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

FLOAT_LAYERS = ("float32", "int8_weights")
ENCODINGS = ("trit2", "base3")
DEFAULT_ENCODING = "base3"
MODELS = ("resnet18", "mobilenet_v2", "small_cnn")


def _randomize_batchnorms(model, seed=0):
    import keras

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            weights = [
                rng.uniform(0.5, 2.0, c),
                rng.normal(0, 0.5, c),
                rng.normal(0, 0.5, c),
                rng.uniform(0.5, 2, c),
            ]
            layer.set_weights(
                weights[-len(layer.get_weights()) :]
                if len(layer.get_weights()) < 4
                else weights
            )


def build(name):
    import keras

    import sttn_keras as sttn

    keras.utils.set_random_seed(0)
    if name == "resnet18":
        model = sttn.models.resnet18()
    elif name == "mobilenet_v2":
        model = sttn.ternarize(
            keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))
        )
    elif name == "small_cnn":
        model = sttn.models.small_cnn()
    else:
        raise ValueError(
            f"Received an invalid value for `--models`, expected names in "
            f"{MODELS}. Received: {name!r}"
        )
    _randomize_batchnorms(model)
    return model


def _median_seconds(fn, reps):
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure(name, reps, invoke):
    import sttn_keras as sttn
    from sttn_keras.export import baselines

    model = build(name)
    shape = [1 if d is None else int(d) for d in model.inputs[0].shape]
    x = np.random.default_rng(1).normal(size=[8] + shape[1:]).astype("float32")
    row = {"model": name, "input_shape": shape[1:], "params": int(model.count_params())}
    t = time.perf_counter()
    row["float32_bytes"] = len(baselines.float_tflite(model))
    with contextlib.redirect_stderr(io.StringIO()):
        row["int8_bytes"] = len(baselines.int8_tflite(model, x))
    files = {}
    for fl in FLOAT_LAYERS:
        for enc in ENCODINGS:
            files[(fl, enc)] = sttn.export.to_tflite(
                model, float_layers=fl, weight_encoding=enc
            )
            row[f"sttn_{fl}_{enc}_bytes"] = len(files[(fl, enc)])
    row["convert_seconds"] = round(time.perf_counter() - t, 1)

    # Load time: interleave the encodings (same float_layers) so machine load
    # drifts hit both alike.
    loads = {enc: [] for enc in ENCODINGS}
    for _ in range(reps):
        for enc in ENCODINGS:
            data = files[("int8_weights", enc)]
            loads[enc].append(
                _median_seconds(lambda d=data: sttn.export.Interpreter(d), 1)
            )
    for enc in ENCODINGS:
        row[f"load_ms_{enc}"] = round(1e3 * statistics.median(loads[enc]), 2)
    row["load_ratio_base3"] = round(row["load_ms_base3"] / row["load_ms_trit2"], 3)
    if invoke:
        # Interleaved rounds: each round times 5 invokes of each choice.
        interps = {
            fl: sttn.export.Interpreter(files[(fl, DEFAULT_ENCODING)])
            for fl in FLOAT_LAYERS
        }
        times = {fl: [] for fl in FLOAT_LAYERS}
        for interp in interps.values():
            interp.predict(x[:1])
        for _ in range(reps):
            for fl, interp in interps.items():
                times[fl].append(_median_seconds(lambda i=interp: i.predict(x[:1]), 5))
        for fl in FLOAT_LAYERS:
            row[f"invoke_ms_{fl}"] = round(1e3 * statistics.median(times[fl]), 2)
    return row


def _kib(n):
    return f"{n / 1024:,.0f}"


def table(rows):
    lines = [
        "| model | float32 | int8 (full) | STTN f32 layers, 2-bit | STTN f32 layers, 1.6-bit "
        "| STTN int8_weights, 2-bit | **STTN default** (int8_weights, 1.6-bit) "
        "| default vs f32 | default vs int8 | load 2-bit (ms) | load 1.6-bit (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        best = r["sttn_int8_weights_base3_bytes"]
        lines.append(
            f"| {r['model']} | {_kib(r['float32_bytes'])} | {_kib(r['int8_bytes'])} | "
            f"{_kib(r['sttn_float32_trit2_bytes'])} | {_kib(r['sttn_float32_base3_bytes'])} | "
            f"{_kib(r['sttn_int8_weights_trit2_bytes'])} | "
            f"**{_kib(r['sttn_int8_weights_base3_bytes'])}** | "
            f"{r['float32_bytes'] / best:.1f}x | {r['int8_bytes'] / best:.2f}x | "
            f"{r['load_ms_trit2']:.1f} | {r['load_ms_base3']:.1f} "
            f"({100 * (r['load_ratio_base3'] - 1):+.0f}%) |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument(
        "--invoke",
        action="store_true",
        help="also time a batch-1 invoke per float_layers choice",
    )
    parser.add_argument(
        "--out", default=os.path.join(os.path.dirname(__file__), "results")
    )
    parser.add_argument(
        "--render",
        default=None,
        help="only rewrite size.md from this size.json (no measuring)",
    )
    args = parser.parse_args(argv)
    if args.render:
        with open(args.render) as f:
            saved = json.load(f)
        meta, rows = saved["meta"], saved["rows"]
    else:
        rows = []
        for name in args.models.split(","):
            print(f"== {name}", flush=True)
            row = measure(name.strip(), args.reps, args.invoke)
            print(json.dumps(row), flush=True)
            rows.append(row)
        import ai_edge_litert
        import tensorflow as tf

        meta = {
            "date": datetime.date.today().isoformat(),
            "machine": f"{platform.machine()}, {os.cpu_count()} logical CPUs (shared), "
            f"{platform.platform()}",
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "ai_edge_litert": getattr(ai_edge_litert, "__version__", "?"),
            "reps": args.reps,
        }
    text = table(rows)
    md = (
        "# File size of STTN exports (KiB)\n\n"
        f"{meta['date']}, {meta['machine']}; Python {meta['python']}, TensorFlow "
        f"{meta['tensorflow']}, ai-edge-litert {meta['ai_edge_litert']}. Command: "
        "`python benchmarks/size.py`.\n\n"
        "*float32*: the same architecture in float (`baselines.float_tflite`). "
        "*int8 (full)*: full-integer post-training quantization of it "
        "(`baselines.int8_tflite`). *STTN*: `sttn.export.to_tflite(model, "
        "float_layers=..., weight_encoding=...)`; 2-bit = `trit2`, 1.6-bit = `base3`; "
        "*default*: `int8_weights` + `base3`. *load*: `sttn.export.Interpreter(bytes)` "
        "(construction + allocate, weights validated and unpacked), median of "
        f"{meta['reps']} loads per file, interleaved, same process, int8_weights files.\n\n"
        + text
        + "\n"
    )
    if any("invoke_ms_float32" in r for r in rows):
        md += (
            "\nBatch-1 invoke of the base3 file, one thread (ms, median of interleaved "
            "rounds; the machine is shared, so differences under ~10% are noise): "
            + "; ".join(
                f"{r['model']}: float32 layers {r['invoke_ms_float32']}, "
                f"int8_weights {r['invoke_ms_int8_weights']}"
                for r in rows
                if "invoke_ms_float32" in r
            )
            + "\n"
        )
    print(md)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "size.md"), "w") as f:
        f.write(md)
    with open(os.path.join(args.out, "size.json"), "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
