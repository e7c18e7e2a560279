"""Spread, across seeds and float numerics, of the quantities that the
training tests bound (tests/test_recalibration_fmnist.py,
tests/test_tfmot.py). Each (seed, TF_ENABLE_ONEDNN_OPTS) pair trains in its
own process (oneDNN is chosen when TensorFlow loads).

* recalibration: the quick-start model of test_recalibration_fmnist.py, both
  kernel quantizers: in-training accuracy (last epoch), test accuracy before
  and after ``recalibrate_batchnorm``; the test's bounds are on
  ``train - before`` and ``after - train``.

Writes benchmarks/results/numerics_spread.md (and .json).

    python benchmarks/numerics_spread.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "benchmarks", "results", "numerics_spread")


def one(seed: int) -> dict:
    sys.path.insert(0, ROOT)
    import keras

    import sttn_keras as sttn
    from tests.test_recalibration_fmnist import _data, quick_start_model

    (x, y), (xt, yt) = _data()
    out = {}
    for kq in ("sttn", "twn"):
        keras.utils.set_random_seed(seed)
        model = quick_start_model(kq)
        model.compile(
            keras.optimizers.Adam(2e-3),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        history = model.fit(x, y, batch_size=64, epochs=3, verbose=0)
        before = model.evaluate(xt, yt, batch_size=500, verbose=0)[1]
        sttn.training.recalibrate_batchnorm(model, x)
        after = model.evaluate(xt, yt, batch_size=500, verbose=0)[1]
        out[kq] = {
            "train": float(history.history["accuracy"][-1]),
            "before": float(before),
            "after": float(after),
        }
    return out


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    p.add_argument("--onednn", nargs="*", default=["1", "0"])
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one is not None:
        print("RESULT " + json.dumps(one(args.one)), flush=True)
        return 0
    rows = []
    for seed in args.seeds:
        for onednn in args.onednn:
            env = {
                **os.environ,
                "TF_ENABLE_ONEDNN_OPTS": onednn,
                "TF_CPP_MIN_LOG_LEVEL": "2",
            }
            r = subprocess.run(
                [sys.executable, __file__, "--one", str(seed)],
                env=env,
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            line = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
            if not line:
                print(r.stdout[-2000:], r.stderr[-3000:])
                return 1
            result = json.loads(line[0][7:])
            for kq, acc in result.items():
                rows.append({"seed": seed, "onednn": onednn, "quantizer": kq, **acc})
                print(rows[-1], flush=True)
            with open(OUT + ".json", "w") as f:
                json.dump(rows, f, indent=1)
    lines = [
        "# Spread of the training tests' quantities across seeds and numerics",
        "",
        "`python benchmarks/numerics_spread.py` (shared 2-core AMD EPYC, AVX2, "
        "nice -n 10). Quick-start model of tests/test_recalibration_fmnist.py, "
        "3 epochs on 8,000 Fashion-MNIST images.",
        "",
        "| quantizer | seed | oneDNN | train | before | after | train - before | after - train |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['quantizer']} | {r['seed']} | {r['onednn']} | {r['train']:.4f} | "
            f"{r['before']:.4f} | {r['after']:.4f} | {r['train'] - r['before']:+.4f} | "
            f"{r['after'] - r['train']:+.4f} |"
        )
    for kq in ("sttn", "twn"):
        sel = [r for r in rows if r["quantizer"] == kq]
        if sel:
            lines.append("")
            lines.append(
                f"{kq}: train - before in [{min(r['train'] - r['before'] for r in sel):+.4f}, "
                f"{max(r['train'] - r['before'] for r in sel):+.4f}]; after - train in "
                f"[{min(r['after'] - r['train'] for r in sel):+.4f}, "
                f"{max(r['after'] - r['train'] for r in sel):+.4f}]; after - before >= "
                f"{min(r['after'] - r['before'] for r in sel):+.4f}"
            )
    with open(OUT + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
