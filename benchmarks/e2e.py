"""End-to-end inference speed and size: STTN models against float32 and int8 TFLite.

For each model, three ``.tflite`` files of the same architecture:

* ``sttn``: the STTN model (ternary weights and activations) exported by
  ``sttn_keras.export.to_tflite``, run by ``sttn_keras.export.Interpreter``
  (our custom ops; the layers kept float run as TFLite builtins with the
  default XNNPACK delegate);
* ``float32``: the same architecture with float layers (both quantizers
  ``None``), converted by the stock ``TFLiteConverter``, run by the stock
  ``ai_edge_litert`` interpreter with its default XNNPACK delegate;
* ``int8``: that float model with full-integer post-training quantization
  (representative dataset of random inputs, float32 input/output, so the
  QUANTIZE/DEQUANTIZE pair is part of the graph), XNNPACK on.

Models: ``resnet18`` at 224x224 (1000 classes), ``resnet20`` (32x32, 10
classes), ``small_cnn`` (28x28, the demo's model) and
``keras.applications.MobileNetV2`` at 224x224 (``weights=None``) made
ternary by ``sttn.ternarize`` (its float32/int8 forms are the original
model). Weights are random: the kernels' speed does not depend on the
values (popcounts and float GEMMs cost the same for any data).

Timing: batch 1, in one process, for ``--threads`` (default 1 and 2). Each
round visits every (model form, threads) variant of a model in a shuffled
order and, after ``PAUSE_S`` idle (the previous variant's worker threads,
ours and XNNPACK's, stop polling for work by then instead of competing for
the cores), times invokes of it for ``--budget`` seconds; the reported time is
the median over rounds of the per-round medians, and each ratio
``baseline / sttn`` is the median of the per-round ratios (same round).

The AVX2 path beside the best one: on a CPU whose best sttn path is not
``avx2`` (an AVX-512 host), the STTN model also runs with
``Interpreter(kernel="avx2")`` (form ``sttn_avx2``), the path an AVX2-only
machine (and, for the arithmetic, a 128/256-bit SIMD phone) gets; its ratios
are against the same float32/int8 runs, whose XNNPACK kernels there use
AVX-512: a harsher baseline than an AVX2-only machine has (XNNPACK's AVX2
kernels). ``--avx2 always`` adds the column on any x86 host, ``never`` drops
it.

Per-op breakdown of the STTN model (1 thread): the time in each sttn op
comes from the kernels' own counters (``runtime.OpProfile``) during the
timed invokes; the builtin ops' share is the rest of the wall time, split by
op type in proportion to each op's time when run alone (each builtin op of
the graph cut out into a one-op model and timed in isolation, XNNPACK on).

Usage::

    python benchmarks/e2e.py [--models resnet18,resnet20,small_cnn,mobilenet_v2]
                             [--rounds 7] [--budget 0.3] [--out benchmarks/results]

Writes ``e2e.md`` and ``e2e.json`` in ``--out``; exported models are cached
in ``artifacts/e2e/`` (``--rebuild`` to redo them).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import os
import platform
import random
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import machine_info  # noqa: E402  (benchmarks/machine_info.py)
import numpy as np  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

FORMS = ("sttn", "float32", "int8")
AVX2 = "sttn_avx2"  # the STTN model on the avx2 path (see the docstring)
MODELS = {
    # name: (input shape, description)
    "resnet18": ((224, 224, 3), "`resnet18`, 224x224, 1000 classes"),
    "resnet20": ((32, 32, 3), "`resnet20`, 32x32, 10 classes"),
    "small_cnn": ((28, 28, 1), "`small_cnn`, 28x28 (the demo)"),
    "mobilenet_v2": ((224, 224, 3), "MobileNetV2 224x224 through `sttn.ternarize`"),
}


# ---------------------------------------------------------------------------
# Models


def _keras_models(name: str, seed: int = 0):
    """(STTN Keras model, float Keras model) of one benchmark model."""
    import keras

    import sttn_keras as sttn
    from sttn_keras import models

    keras.utils.set_random_seed(seed)
    shape = MODELS[name][0]
    if name == "mobilenet_v2":
        float_model = keras.applications.MobileNetV2(
            weights=None, input_shape=shape, classes=1000
        )
        return sttn.ternarize(float_model), float_model
    build = getattr(models, name)
    kwargs = {"input_shape": shape}
    if name == "small_cnn":
        kwargs["num_classes"] = 10
    return (
        build(**kwargs),
        build(kernel_quantizer=None, input_quantizer=None, **kwargs),
    )


def build_models(name: str, cache: str, rebuild: bool = False) -> dict[str, bytes]:
    """The three ``.tflite`` files of one model (cached under ``cache``)."""
    paths = {f: os.path.join(cache, f"{name}.{f}.tflite") for f in FORMS}
    if not rebuild and all(os.path.exists(p) for p in paths.values()):
        return {f: open(p, "rb").read() for f, p in paths.items()}
    import sttn_keras as sttn
    from sttn_keras.export import baselines

    sttn_model, float_model = _keras_models(name)
    rng = np.random.default_rng(1)
    representative = rng.normal(size=(8,) + tuple(MODELS[name][0])).astype("float32")
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        files = {
            "sttn": sttn.export.to_tflite(sttn_model),
            "float32": baselines.float_tflite(float_model),
            "int8": baselines.int8_tflite(float_model, representative),
        }
    os.makedirs(cache, exist_ok=True)
    for f, data in files.items():
        with open(paths[f], "wb") as out:
            out.write(data)
    return files


# ---------------------------------------------------------------------------
# Runners: invoke() with the input already set.


class _Stock:
    def __init__(self, content: bytes, x: np.ndarray, threads: int):
        from ai_edge_litert import interpreter as li

        self.interp = li.Interpreter(model_content=content, num_threads=threads)
        self.interp.allocate_tensors()
        detail = self.interp.get_input_details()[0]
        if tuple(detail["shape"]) != x.shape:
            self.interp.resize_tensor_input(
                detail["index"], list(x.shape), strict=False
            )
            self.interp.allocate_tensors()
        for d in self.interp.get_input_details():
            self.interp.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
        self.interp.set_tensor(detail["index"], x.astype(detail["dtype"]))
        self.invoke = self.interp.invoke


class _Sttn:
    def __init__(
        self, content: bytes, x: np.ndarray, threads: int, kernel: str = "optimized"
    ):
        from sttn_keras.export import Interpreter

        self.interp = Interpreter(content, num_threads=threads, kernel=kernel)
        self.interp.set_input(x)
        self.invoke = self.interp.invoke


def _runner(form: str, content: bytes, x: np.ndarray, threads: int):
    if form == AVX2:
        return _Sttn(content, x, threads, kernel="avx2")
    return _Sttn(content, x, threads) if form == "sttn" else _Stock(content, x, threads)


def avx2_column(mode: str) -> bool:
    """Whether to time the STTN model on the avx2 path too (``mode``: auto,
    always, never): auto where the CPU has avx2 but its best path is another
    one (AVX-512)."""
    from sttn_keras.export import runtime

    if mode == "never" or "avx2" not in runtime.supported_kernels():
        return False
    best = runtime.native_library_info()["optimized_kernel"]
    return mode == "always" or best != "avx2"


# Idle seconds before each timed visit of a variant: longer than our pool's
# workers poll for the next job (2 ms, export/core/threadpool.cc) and than
# XNNPACK's workers spin.
PAUSE_S = 0.05


def _time(fn, budget: float) -> float:
    """Median seconds of one call over about `budget` seconds (>= 3 calls)."""
    times = []
    deadline = time.perf_counter() + budget
    while len(times) < 3 or time.perf_counter() < deadline:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 2000:
            break
    return float(np.median(times))


# ---------------------------------------------------------------------------
# Per-op breakdown


def _builtin_breakdown(content: bytes, budget: float) -> dict[str, dict]:
    """Isolated time (ms) and count of every builtin op type (1 thread)."""
    from ai_edge_litert import interpreter as li

    from sttn_keras.export import inspect_tflite

    result: dict[str, dict] = {}
    for name, _, one in inspect_tflite.single_op_models(content):
        try:
            interp = li.Interpreter(model_content=one, num_threads=1)
            interp.allocate_tensors()
            for d in interp.get_input_details():
                interp.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
            interp.invoke()
            ms = _time(interp.invoke, budget) * 1e3
        except (RuntimeError, ValueError) as e:  # pragma: no cover - reported
            ms = float("nan")
            print(f"  (could not time {name} alone: {e})")
        entry = result.setdefault(name, {"count": 0, "ms_isolated": 0.0})
        entry["count"] += 1
        entry["ms_isolated"] += ms
    return result


def breakdown(content: bytes, x: np.ndarray, rounds: int, budget: float) -> dict:
    """Where the STTN model's time goes at 1 thread."""
    from sttn_keras.export import runtime

    run = _Sttn(content, x, 1)
    run.invoke()
    invokes = 0
    t0 = time.perf_counter()
    with runtime.OpProfile() as prof:
        deadline = time.perf_counter() + budget * rounds
        while invokes < 5 or time.perf_counter() < deadline:
            run.invoke()
            invokes += 1
    total_ms = (time.perf_counter() - t0) * 1e3 / invokes
    sttn_ops = {
        k: {"count": v["invocations"] // invokes, "ms": v["ms"] / invokes}
        for k, v in prof.results().items()
    }
    sttn_ms = sum(v["ms"] for v in sttn_ops.values())
    builtins = _builtin_breakdown(content, min(budget, 0.1))
    iso_total = sum(
        v["ms_isolated"] for v in builtins.values() if np.isfinite(v["ms_isolated"])
    )
    rest = max(total_ms - sttn_ms, 0.0)
    for v in builtins.values():
        share = v["ms_isolated"] / iso_total if iso_total > 0 else 0.0
        v["ms"] = rest * share
    return {
        "total_ms": total_ms,
        "sttn_ms": sttn_ms,
        "builtin_ms": rest,
        "sttn_ops": sttn_ops,
        "builtin_ops": builtins,
    }


# ---------------------------------------------------------------------------


def measure(
    name: str,
    files: dict[str, bytes],
    threads: list[int],
    rounds: int,
    budget: float,
    seed: int = 0,
    avx2: bool = False,
) -> dict:
    shape = MODELS[name][0]
    x = np.random.default_rng(seed).normal(size=(1,) + shape).astype("float32")
    forms = FORMS + ((AVX2,) if avx2 else ())
    content = {**files, AVX2: files["sttn"]}
    runners = {(f, t): _runner(f, content[f], x, t) for f in forms for t in threads}
    for r in runners.values():
        r.invoke()  # warm-up (weights prepared, caches filled)
    per_round: dict = {k: [] for k in runners}
    order = list(runners)
    rng = random.Random(seed)
    for _ in range(rounds):
        rng.shuffle(order)
        for key in order:
            time.sleep(PAUSE_S)
            per_round[key].append(_time(runners[key].invoke, budget))
    rows = []
    for t in threads:
        row = {"threads": t}
        for f in forms:
            row[f"{f}_ms"] = float(np.median(per_round[(f, t)])) * 1e3
        for ours in ("sttn",) + ((AVX2,) if avx2 else ()):
            s = np.array(per_round[(ours, t)])
            for f in ("float32", "int8"):
                ratios = np.array(per_round[(f, t)]) / s
                row[f"{f}_over_{ours}"] = float(np.median(ratios))
                row[f"{f}_over_{ours}_p25_p75"] = [
                    float(np.percentile(ratios, 25)),
                    float(np.percentile(ratios, 75)),
                ]
        rows.append(row)
    return {
        "model": name,
        "description": MODELS[name][1],
        "bytes": {f: len(files[f]) for f in FORMS},
        "rows": rows,
    }


def _machine() -> dict:
    import ai_edge_litert

    from sttn_keras.export import runtime

    return {
        "xnnpack_simd": machine_info.simd_name(),
        "date": datetime.date.today().isoformat(),
        "cpu": machine_info.cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "ai_edge_litert": getattr(ai_edge_litert, "__version__", "?"),
        "sttn_optimized_kernel": runtime.native_library_info()["optimized_kernel"],
        "commit": machine_info.git_commit(),
    }


def to_markdown(results: list[dict], meta: dict) -> str:
    avx2 = any(AVX2 + "_ms" in row for res in results for row in res["rows"])
    lines = [
        f"End-to-end latency, batch 1 (median of {meta['rounds']} interleaved rounds; "
        f"{meta['date']}, {meta['cpu']}, {meta['cores']} cores shared with other jobs, "
        f"ai-edge-litert {meta['ai_edge_litert']}, sttn kernels `{meta['sttn_optimized_kernel']}`, "
        f"commit {meta['commit']}). float32 and int8: stock interpreter, XNNPACK "
        f"({meta.get('xnnpack_simd', '?')} kernels on this CPU). Ratio > 1: STTN is "
        "faster.",
    ]
    if avx2:
        lines += [
            "",
            f"`sttn avx2`: the same STTN model on our AVX2 path "
            f'(`Interpreter(kernel="avx2")`), beside the best path '
            f"(`{meta['sttn_optimized_kernel']}`); its ratios are against the same "
            f"XNNPACK runs, which use {meta.get('xnnpack_simd', '?')} here: a harsher "
            "baseline than an AVX2-only machine has.",
        ]
    head = "| model | threads | sttn ms | float32 ms | int8 ms | float32 / sttn | int8 / sttn |"
    rule = "|---|---:|---:|---:|---:|---:|---:|"
    if avx2:
        head += " sttn avx2 ms | float32 / sttn avx2 | int8 / sttn avx2 |"
        rule += "---:|---:|---:|"
    lines += ["", head, rule]
    for res in results:
        for row in res["rows"]:
            line = (
                f"| {res['description']} | {row['threads']} | {row['sttn_ms']:.3f} | "
                f"{row['float32_ms']:.3f} | {row['int8_ms']:.3f} | "
                f"**{row['float32_over_sttn']:.2f}x** | **{row['int8_over_sttn']:.2f}x** |"
            )
            if AVX2 + "_ms" in row:
                line += (
                    f" {row[AVX2 + '_ms']:.3f} | **{row['float32_over_' + AVX2]:.2f}x** | "
                    f"**{row['int8_over_' + AVX2]:.2f}x** |"
                )
            elif avx2:
                line += " | | |"
            lines.append(line)
    lines += [
        "",
        "File sizes (KiB):",
        "",
        "| model | sttn | float32 | int8 | float32 / sttn | int8 / sttn |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for res in results:
        b = res["bytes"]
        lines.append(
            f"| {res['description']} | {b['sttn'] / 1024:,.0f} | {b['float32'] / 1024:,.0f} | "
            f"{b['int8'] / 1024:,.0f} | {b['float32'] / b['sttn']:.1f}x | "
            f"{b['int8'] / b['sttn']:.2f}x |"
        )
    for res in results:
        bd = res.get("breakdown")
        if not bd:
            continue
        lines += [
            "",
            f"Where the STTN model's time goes, {res['description']}, 1 thread "
            f"({bd['total_ms']:.3f} ms per invoke; sttn ops from the kernels' counters, "
            "builtins split in proportion to their isolated times):",
            "",
            "| op | count | ms | share |",
            "|---|---:|---:|---:|",
        ]
        items = [(k, v["count"], v["ms"]) for k, v in bd["sttn_ops"].items()]
        items += [(k, v["count"], v["ms"]) for k, v in bd["builtin_ops"].items()]
        items = [(k, c, ms if np.isfinite(ms) else -1.0) for k, c, ms in items]
        for k, count, ms in sorted(items, key=lambda i: -i[2]):
            if ms < 0:  # an op that cannot run cut out of the graph
                lines.append(f"| {k} | {count} | not timed alone | |")
                continue
            lines.append(
                f"| {k} | {count} | {ms:.3f} | {100 * ms / bd['total_ms']:.1f}% |"
            )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--budget", type=float, default=0.3, help="seconds per variant per round"
    )
    parser.add_argument("--no-breakdown", action="store_true")
    parser.add_argument(
        "--avx2",
        choices=("auto", "always", "never"),
        default="auto",
        help="also time the STTN model on the avx2 path (auto: where the best "
        "path is another one, i.e. on AVX-512 hosts)",
    )
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--cache", default=os.path.join(REPO, "artifacts", "e2e"))
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"))
    args = parser.parse_args(argv)
    names = [n for n in args.models.split(",") if n]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {list(MODELS)}")
    threads = [int(t) for t in args.threads.split(",")]
    meta = {**_machine(), "rounds": args.rounds, "budget_s": args.budget}
    with_avx2 = avx2_column(args.avx2)
    results = []
    for name in names:
        t0 = time.time()
        files = build_models(name, args.cache, args.rebuild)
        print(f"[{name}] models ready ({time.time() - t0:.0f} s); timing", flush=True)
        res = measure(name, files, threads, args.rounds, args.budget, avx2=with_avx2)
        if not args.no_breakdown:
            x = (
                np.random.default_rng(0)
                .normal(size=(1,) + MODELS[name][0])
                .astype("float32")
            )
            res["breakdown"] = breakdown(files["sttn"], x, 3, args.budget)
        for row in res["rows"]:
            extra = (
                f", sttn avx2 {row[AVX2 + '_ms']:.3f} ms" if AVX2 + "_ms" in row else ""
            )
            print(
                f"  threads={row['threads']}: sttn {row['sttn_ms']:.3f} ms, "
                f"float32 {row['float32_ms']:.3f} ms ({row['float32_over_sttn']:.2f}x), "
                f"int8 {row['int8_ms']:.3f} ms ({row['int8_over_sttn']:.2f}x){extra}",
                flush=True,
            )
        results.append(res)
    md = to_markdown(results, meta)
    print(md)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "e2e.md"), "w") as f:
        f.write(md)
    with open(os.path.join(args.out, "e2e.json"), "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
