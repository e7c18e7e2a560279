"""BatchNorm recalibration time on deep networks.

Times ``sttn_keras.training.recalibrate_batchnorm`` (one walk over the
graph, each layer once per batch) on DenseNet121 and EfficientNetV2B0
(``weights=None``) at 224x224 on 256 random images, and, in the same
process, one plain ``model.predict`` pass over the same images: the ratio
walk / predict is the contention-free figure (one pass of compiled
inference is the floor of any exact method). Process CPU time is reported
beside wall time, because the 2-core machine this runs on is shared.
With ``--old`` it also times the wave-by-wave method it replaced (one pass
per BatchNorm depth) on ``--old-images`` images and prints its number of
passes. Target: under 60 s per model on a 2-core machine.

Usage::

    python benchmarks/recalibration.py [--images 256] [--size 224]
        [--batch-size 32] [--old] [--old-images 16] [--out benchmarks/results]

Writes ``recalibration.md`` and ``recalibration.json`` in ``--out``.
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

from sttn_keras import training  # noqa: E402

TARGET_S = 60.0
MODELS = ("DenseNet121", "EfficientNetV2B0")


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def measure(name, images, size, batch_size, old, old_images):
    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3))
    x = np.random.default_rng(0).uniform(0, 255, (images, size, size, 3))
    x = x.astype("float32")
    model.predict(x[:batch_size], batch_size=batch_size, verbose=0)  # trace once
    _, predict_s, predict_cpu = _timed(
        lambda: model.predict(x, batch_size=batch_size, verbose=0)
    )
    report, walk_s, walk_cpu = _timed(
        lambda: training.recalibrate_batchnorm(
            model, x, batch_size=batch_size, verbose=0
        )
    )
    row = dict(
        model=name,
        images=images,
        size=size,
        batch_size=batch_size,
        batchnorms=len(report),
        walk_s=walk_s,
        walk_cpu_s=walk_cpu,
        predict_s=predict_s,
        predict_cpu_s=predict_cpu,
        walk_over_predict=walk_s / predict_s,
    )
    if old:
        passes, old_s, old_cpu = _timed(
            lambda: training._recalibrate_by_waves(model, x[:old_images], batch_size)
        )
        row.update(old_images=old_images, old_passes=passes, old_s=old_s)
        row["old_cpu_s"] = old_cpu
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--old", action="store_true")
    parser.add_argument("--old-images", type=int, default=16)
    parser.add_argument("--out", default=os.path.join("benchmarks", "results"))
    args = parser.parse_args(argv)
    rows = []
    for name in args.models:
        row = measure(
            name, args.images, args.size, args.batch_size, args.old, args.old_images
        )
        rows.append(row)
        print(json.dumps(row))
    write(rows, os.getloadavg(), args.out, args.old)


def write(rows, load, out, old=False):
    """Writes the table (markdown) and the rows (JSON) to ``out``."""
    lines = [
        "# BatchNorm recalibration on deep networks",
        "",
        f"`python benchmarks/recalibration.py` on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average at the end {load[0]:.1f}: a "
        "shared machine, so wall times are inflated by the other jobs, by "
        "different amounts for the walk and the predict pass. Process CPU "
        "time is the steadier figure; `CPU ratio` is walk CPU / predict CPU "
        "(one compiled inference pass is the floor of any exact method).",
        f"Target: under {TARGET_S:.0f} s per model on an idle 2-core machine.",
        "",
        "| model | images | BNs | walk (s) | walk CPU (s) | predict (s) "
        "| predict CPU (s) | CPU ratio |"
        + (" old: images, passes, s |" if old else ""),
        "|---|---:|---:|---:|---:|---:|---:|---:|" + ("---|" if old else ""),
    ]
    for r in rows:
        line = (
            f"| {r['model']} {r['size']}x{r['size']} | {r['images']} | "
            f"{r['batchnorms']} | {r['walk_s']:.1f} | {r['walk_cpu_s']:.1f} | "
            f"{r['predict_s']:.1f} | {r['predict_cpu_s']:.1f} | "
            f"{r['walk_cpu_s'] / r['predict_cpu_s']:.2f} |"
        )
        if old:
            line += f" {r['old_images']}, {r['old_passes']}, {r['old_s']:.1f} |"
        lines.append(line)
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "recalibration.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out, "recalibration.json"), "w") as f:
        json.dump(dict(rows=rows, load_average=list(load)), f, indent=1)


if __name__ == "__main__":
    main()
