"""Training-step overhead of the ternary layers against their float twins.

Times one optimizer step (forward, backward, Adam update, latent clamp) of a
one-layer model built with ``TernaryConv2D`` (STTN weights, ternary input)
and with ``keras.layers.Conv2D`` of the same shape, in the same process,
interleaved, and reports the median of the per-round ratios. Also a
``TernaryDense`` against ``Dense`` row, once more with XLA
(``jit_compile=True``, which Keras does not enable on CPU by default).
Target: at most 1.6x.

Usage::

    python benchmarks/train_overhead.py [--rounds 15] [--out benchmarks/results]

Writes ``train_overhead.md`` and ``train_overhead.json`` in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from sttn_keras import layers as sl  # noqa: E402

TARGET = 1.6

CASES = [
    # name, input shape (batch first), float layer factory, ternary factory
    (
        "conv 3x3, 32x32x64 -> 64, batch 32",
        (32, 32, 32, 64),
        lambda: keras.layers.Conv2D(64, 3, padding="same"),
        lambda: sl.TernaryConv2D(64, 3, padding="same"),
    ),
    (
        "conv 3x3, 16x16x128 -> 128, batch 32",
        (32, 16, 16, 128),
        lambda: keras.layers.Conv2D(128, 3, padding="same"),
        lambda: sl.TernaryConv2D(128, 3, padding="same"),
    ),
    (
        "conv 3x3, 8x8x256 -> 256, batch 32",
        (32, 8, 8, 256),
        lambda: keras.layers.Conv2D(256, 3, padding="same"),
        lambda: sl.TernaryConv2D(256, 3, padding="same"),
    ),
    (
        "dense 1024 -> 1024, batch 64",
        (64, 1024),
        lambda: keras.layers.Dense(1024),
        lambda: sl.TernaryDense(1024),
    ),
    # Keras does not use XLA on CPU by default; with it, the quantizer's
    # elementwise passes over the two latent kernels fuse.
    (
        "dense 1024 -> 1024, batch 64, jit_compile=True",
        (64, 1024),
        lambda: keras.layers.Dense(1024),
        lambda: sl.TernaryDense(1024),
        True,
    ),
]


def _step_fn(layer, shape, jit_compile="auto"):
    model = keras.Sequential([keras.Input(shape[1:]), layer])
    model.compile(keras.optimizers.Adam(1e-3), "mse", jit_compile=jit_compile)
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype("float32")
    y = np.zeros(
        model.output_shape[:0] + (shape[0],) + tuple(model.output_shape[1:]), "float32"
    )
    model.train_on_batch(x, y)  # trace and warm up
    model.train_on_batch(x, y)

    def step(n):
        start = time.perf_counter()
        for _ in range(n):
            model.train_on_batch(x, y)
        return (time.perf_counter() - start) / n

    return step


def run(rounds=15, steps_per_round=5, out="benchmarks/results"):
    rows = []
    for name, shape, make_float, make_ternary, *jit in CASES:
        jit = jit[0] if jit else "auto"
        keras.utils.set_random_seed(0)
        base = _step_fn(make_float(), shape, jit)
        tern = _step_fn(make_ternary(), shape, jit)
        ratios, base_ms, tern_ms = [], [], []
        for i in range(rounds):
            # Alternate the order so drift on a noisy machine hits both.
            if i % 2:
                b, t = base(steps_per_round), tern(steps_per_round)
            else:
                t, b = tern(steps_per_round), base(steps_per_round)
            ratios.append(t / b)
            base_ms.append(b * 1e3)
            tern_ms.append(t * 1e3)
        row = dict(
            case=name,
            float_ms=float(np.median(base_ms)),
            ternary_ms=float(np.median(tern_ms)),
            ratio=float(np.median(ratios)),
            ratio_p25=float(np.percentile(ratios, 25)),
            ratio_p75=float(np.percentile(ratios, 75)),
        )
        rows.append(row)
        print(
            f"{name}: float {row['float_ms']:.2f} ms, ternary {row['ternary_ms']:.2f} ms, "
            f"ratio {row['ratio']:.2f}x",
            flush=True,
        )

    meta = dict(
        date=time.strftime("%Y-%m-%d"),
        machine=f"{platform.machine()}, {os.cpu_count()} cores",
        backend=keras.backend.backend(),
        keras=keras.__version__,
        rounds=rounds,
        steps_per_round=steps_per_round,
        target=TARGET,
    )
    lines = [
        f"Training-step time, ternary layer / float layer (median of {rounds} interleaved rounds "
        f"of {steps_per_round} steps; Keras {meta['keras']}, {meta['backend']} backend, "
        f"{meta['machine']}, {meta['date']}). Target: <= {TARGET}x.",
        "",
        "| case | float step (ms) | ternary step (ms) | ratio (median) | p25-p75 |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['float_ms']:.2f} | {r['ternary_ms']:.2f} | "
            f"**{r['ratio']:.2f}x** | {r['ratio_p25']:.2f}-{r['ratio_p75']:.2f} |"
        )
    table = "\n".join(lines)
    print("\n" + table)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "train_overhead.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(out, "train_overhead.json"), "w") as f:
        json.dump(dict(meta=meta, rows=rows), f, indent=2)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps-per-round", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    run(args.rounds, args.steps_per_round, args.out)


if __name__ == "__main__":
    main()
