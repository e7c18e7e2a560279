"""Inference speed of the sttn ternary kernels against TFLite's own builtins.

For each layer shape, one-layer Keras models ``Input -> BatchNormalization ->
Ternary{Conv2D,Dense,DepthwiseConv2D}`` (random weights, randomized BN
statistics) are exported three ways and run **in the same process**,
interleaved across rounds:

* ``sttn opt`` / ``sttn ref``: ``sttn_keras.export.to_tflite`` (the BN is
  folded into ``SttnTernarize``, so the timed graph is ``SttnTernarize ->
  SttnConv2D``: quantizing the input is included) run by
  ``sttn_keras.export.Interpreter(kernel="optimized" | "reference")``.
  ``sttn ref`` only on shapes up to ``--ref-max-mmac`` (it is a slow oracle).
* ``f32 xnnpack`` / ``f32 builtin``: ``baselines.float_tflite`` (the same
  architecture in float32: BN + Conv2D/Dense/DepthwiseConv2D with kernel
  ``trits * scale``) in the stock ``ai_edge_litert.interpreter.Interpreter``
  with its default XNNPACK delegate, and with
  ``OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES`` (TFLite's builtin
  optimized kernels, no delegate).
* ``int8 xnnpack`` / ``int8 builtin``: full-integer post-training quantization
  of the float model (``TFLiteConverter`` with a representative dataset,
  float32 input/output, so QUANTIZE/DEQUANTIZE are part of the graph), in the
  same two interpreter configurations.

Everything runs with ``num_threads=1`` (a per-core comparison; whole models
at 1 and 2 threads are ``benchmarks/e2e.py``). Besides ``sttn opt`` (the best
ISA path of the CPU) every other ISA path the CPU supports runs too
(``sttn avx2``, ``sttn popcnt``, ...; ``sttn portable`` only on the smaller
shapes), and each path's throughput is set against its llvm-mca bound
(``benchmarks/llvm_mca.py``'s MACs per cycle x the clock). Only ``invoke()`` is timed; the
input is set beforehand. Each round visits every variant in a shuffled order
and times ``reps`` invokes of it; a variant's time is the median over rounds
of the per-round medians, and each ratio ``baseline / sttn opt`` is the median
of the per-round ratios (same round, same shape).

Usage::

    python benchmarks/kernels.py [--quick] [--rounds 15] [--out benchmarks/results]

Writes ``kernels.md`` and ``kernels.json`` in ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import os
import platform
import sys
import time
import warnings
from dataclasses import dataclass, field

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import machine_info  # noqa: E402  (benchmarks/machine_info.py)
import numpy as np  # noqa: E402

OURS = "sttn opt"
VARIANTS = (
    "sttn opt",
    "sttn ref",
    "f32 xnnpack",
    "f32 builtin",
    "int8 xnnpack",
    "int8 builtin",
)
BASELINES = ("f32 xnnpack", "f32 builtin", "int8 xnnpack", "int8 builtin")


@dataclass
class Case:
    """One benchmarked layer: ``kind`` is "conv", "dense" or "depthwise"."""

    name: str
    kind: str
    input_shape: tuple  # without the batch dimension
    batch: int = 1
    out_c: int = 0
    kernel: int = 3
    strides: int = 1
    quick: bool = False
    extra: dict = field(default_factory=dict)

    def macs(self) -> int:
        """Multiply-accumulates of the layer (SAME padding, stride 1 or as set)."""
        if self.kind == "dense":
            return self.batch * self.input_shape[0] * self.out_c
        h, w, c = self.input_shape
        oh, ow = -(-h // self.strides), -(-w // self.strides)
        if self.kind == "depthwise":
            return self.batch * oh * ow * c * self.kernel * self.kernel
        return self.batch * oh * ow * self.out_c * c * self.kernel * self.kernel


CASES = [
    Case("conv 3x3 32x32x64 -> 64", "conv", (32, 32, 64), out_c=64, quick=True),
    Case("conv 3x3 16x16x128 -> 128", "conv", (16, 16, 128), out_c=128),
    Case("conv 3x3 8x8x256 -> 256", "conv", (8, 8, 256), out_c=256),
    Case("conv 3x3 56x56x64 -> 64", "conv", (56, 56, 64), out_c=64),
    Case("conv 1x1 28x28x128 -> 128", "conv", (28, 28, 128), out_c=128, kernel=1),
    Case("dense 1024 -> 1024", "dense", (1024,), out_c=1024, quick=True),
    Case("dense 1024 -> 1024, batch 16", "dense", (1024,), batch=16, out_c=1024),
    Case("depthwise 3x3 56x56x128", "depthwise", (56, 56, 128)),
]


# ---------------------------------------------------------------------------
# Models


def _keras_model(case: Case, seed: int):
    import keras

    from sttn_keras import layers as sl

    keras.utils.set_random_seed(seed)
    if case.kind == "conv":
        layer = sl.TernaryConv2D(
            case.out_c,
            case.kernel,
            strides=case.strides,
            padding="same",
            name="ternary",
        )
    elif case.kind == "dense":
        layer = sl.TernaryDense(case.out_c, name="ternary")
    elif case.kind == "depthwise":
        layer = sl.TernaryDepthwiseConv2D(
            case.kernel, strides=case.strides, padding="same", name="ternary"
        )
    else:
        raise ValueError(f"Unknown case kind {case.kind!r}")
    model = keras.Sequential(
        [
            keras.Input(case.input_shape),
            keras.layers.BatchNormalization(name="bn"),
            layer,
        ]
    )
    # Non-trivial BN statistics, so the folded thresholds differ per channel
    # and the ternary input has a realistic mix of -1/0/+1.
    rng = np.random.default_rng(seed)
    bn = model.get_layer("bn")
    c = bn.gamma.shape[0]
    bn.set_weights(
        [
            rng.uniform(0.5, 2.0, c).astype("float32"),
            rng.normal(0, 0.3, c).astype("float32"),
            rng.normal(0, 0.3, c).astype("float32"),
            rng.uniform(0.5, 2.0, c).astype("float32"),
        ]
    )
    return model


def _representative(case: Case, seed: int) -> np.ndarray:
    """16 random inputs for the int8 converter's activation ranges."""
    rng = np.random.default_rng(seed + 1)
    return rng.normal(size=(16,) + case.input_shape).astype("float32")


def build_models(case: Case, seed: int = 0) -> dict[str, bytes]:
    """The three ``.tflite`` files of one case: "sttn", "f32" and "int8"."""
    import sttn_keras as sttn
    from sttn_keras.export import baselines

    model = _keras_model(case, seed)
    # The converters print SavedModel banners to stdout; keep the table readable.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "sttn": sttn.export.to_tflite(model),
            "f32": baselines.float_tflite(model),
            "int8": baselines.int8_tflite(model, _representative(case, seed)),
        }


# ---------------------------------------------------------------------------
# Runners: each exposes invoke() with its input already set, and output().


class _Stock:
    def __init__(self, content: bytes, x: np.ndarray, delegates: bool):
        from ai_edge_litert import interpreter as li

        resolver = (
            li.OpResolverType.AUTO
            if delegates
            else li.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        )
        self.interp = li.Interpreter(
            model_content=content, num_threads=1, experimental_op_resolver_type=resolver
        )
        detail = self.interp.get_input_details()[0]
        if tuple(detail["shape"]) != x.shape:  # converted with batch 1
            self.interp.resize_tensor_input(
                detail["index"], list(x.shape), strict=False
            )
        self.interp.allocate_tensors()
        self.interp.set_tensor(detail["index"], x)
        self.invoke = self.interp.invoke
        self.ops = [op["op_name"] for op in self.interp._get_ops_details()]

    def output(self) -> np.ndarray:
        return self.interp.get_tensor(self.interp.get_output_details()[0]["index"])


class _Sttn:
    def __init__(self, content: bytes, x: np.ndarray, kernel: str):
        import sttn_keras as sttn

        self.interp = sttn.export.Interpreter(content, num_threads=1, kernel=kernel)
        self.interp.set_input(x)
        # The raw litert invoke: the same call the stock variants time.
        self.invoke = self.interp.litert_interpreter.invoke
        self.ops = [
            op["op_name"] for op in self.interp.litert_interpreter._get_ops_details()
        ]

    def output(self) -> np.ndarray:
        return self.interp.get_output()


def make_runners(
    case: Case, models: dict[str, bytes], with_reference: bool, seed: int = 0
) -> dict:
    """Interpreters for every variant of ``case``, inputs set."""
    x = (
        np.random.default_rng(seed + 2)
        .normal(size=(case.batch,) + case.input_shape)
        .astype("float32")
    )
    from sttn_keras.export import runtime

    runners = {"sttn opt": _Sttn(models["sttn"], x, "optimized")}
    if with_reference:
        runners["sttn ref"] = _Sttn(models["sttn"], x, "reference")
    best = runtime.native_library_info()["optimized_kernel"]
    for isa in runtime.supported_kernels():
        if isa in ("reference", "optimized", best) or (
            isa == "portable" and not with_reference
        ):
            continue
        runners[f"sttn {isa}"] = _Sttn(models["sttn"], x, isa)
    runners["f32 xnnpack"] = _Stock(models["f32"], x, True)
    runners["f32 builtin"] = _Stock(models["f32"], x, False)
    runners["int8 xnnpack"] = _Stock(models["int8"], x, True)
    runners["int8 builtin"] = _Stock(models["int8"], x, False)
    return runners


def _time_invokes(invoke, reps: int) -> tuple[float, float]:
    """Median wall-clock and median process-CPU milliseconds of ``reps`` invokes."""
    wall, cpu = [], []
    for _ in range(reps):
        c0 = time.process_time_ns()
        start = time.perf_counter_ns()
        invoke()
        wall.append(time.perf_counter_ns() - start)
        cpu.append(time.process_time_ns() - c0)
    return float(np.median(wall)) / 1e6, float(np.median(cpu)) / 1e6


def _reps_for(invoke, budget_s: float, max_reps: int) -> int:
    start = time.perf_counter()
    invoke()
    one = max(time.perf_counter() - start, 1e-6)
    return int(max(1, min(max_reps, budget_s / one)))


def bench_case(
    case: Case, rounds: int, budget_s: float, ref_max_mmac: float, seed: int = 0
) -> dict:
    """Builds, checks and times every variant of one case.

    Returns:
        A dict with the per-variant median milliseconds, the per-baseline
        median ratio to ``sttn opt`` (with p25/p75), the reps per round and
        the op lists of the graphs that were timed.
    """
    t0 = time.perf_counter()
    models = build_models(case, seed)
    with_ref = case.macs() <= ref_max_mmac * 1e6
    runners = make_runners(case, models, with_ref, seed)
    build_s = time.perf_counter() - t0

    # Warm up (first invokes allocate, pack, JIT-free but cache-cold), then
    # size each variant's per-round repetitions to about `budget_s`.
    for r in runners.values():
        r.invoke()
        r.invoke()
    for name, r in runners.items():  # every sttn path must agree with the best
        if name.startswith("sttn ") and name != OURS:
            np.testing.assert_allclose(
                runners[OURS].output(), r.output(), rtol=1e-5, atol=1e-4
            )
    reps = {name: _reps_for(r.invoke, budget_s, 200) for name, r in runners.items()}
    reps = {name: (min(n, 3) if name == "sttn ref" else n) for name, n in reps.items()}

    rng = np.random.default_rng(seed + 3)
    per_round = {name: [] for name in runners}
    per_round_cpu = {name: [] for name in runners}
    names = list(runners)
    for _ in range(rounds):
        for i in rng.permutation(len(names)):
            name = names[i]
            wall, cpu = _time_invokes(runners[name].invoke, reps[name])
            per_round[name].append(wall)
            per_round_cpu[name].append(cpu)

    ours = np.array(per_round[OURS])
    ours_cpu = np.array(per_round_cpu[OURS])
    row = dict(
        case=case.name,
        kind=case.kind,
        batch=case.batch,
        input_shape=list(case.input_shape),
        out_c=case.out_c,
        kernel=case.kernel,
        macs=case.macs(),
        build_s=round(build_s, 2),
        reps=reps,
        ms={},
        ratio={},
        ratio_p25={},
        ratio_p75={},
        cpu_ms={},
        cpu_ratio={},
        ops={name: r.ops for name, r in runners.items()},
        model_bytes={k: len(v) for k, v in models.items()},
    )
    for name in names:
        row["ms"][name] = float(np.median(per_round[name]))
        row["cpu_ms"][name] = float(np.median(per_round_cpu[name]))
        if name == OURS:
            continue
        row["cpu_ratio"][name] = float(
            np.median(np.array(per_round_cpu[name]) / ours_cpu)
        )
        ratios = np.array(per_round[name]) / ours
        row["ratio"][name] = float(np.median(ratios))
        row["ratio_p25"][name] = float(np.percentile(ratios, 25))
        row["ratio_p75"][name] = float(np.percentile(ratios, 75))
    row["sttn_opt_gmacs"] = case.macs() / (row["ms"][OURS] * 1e-3) / 1e9
    row["gmacs"] = {
        name: case.macs() / (row["ms"][name] * 1e-3) / 1e9
        for name in names
        if name.startswith("sttn ")
    }
    return row


# ---------------------------------------------------------------------------
# Report


def _clock_ghz() -> float | None:
    """The highest 'cpu MHz' /proc/cpuinfo reports (nominal on many VMs)."""
    try:
        with open("/proc/cpuinfo") as f:
            mhz = [
                float(line.split(":")[1]) for line in f if line.startswith("cpu MHz")
            ]
        return max(mhz) / 1000 if mhz else None
    except (OSError, ValueError):
        return None


def _mca_bounds(out: str) -> dict:
    """llvm-mca MACs per cycle of each x86 micro-kernel, if llvm_mca.json exists."""
    try:
        with open(os.path.join(out, "llvm_mca.json")) as f:
            rows = json.load(f)["rows"]
    except (OSError, ValueError, KeyError):
        return {}
    return {
        r["kernel"]: (r["macs_per_cycle"], r["cpu"])
        for r in rows
        if r.get("kernel") in ("avx512", "avx2")
        and r["cpu"] in ("icelake-server", "znver3")
    }


def metadata(rounds: int, budget_s: float, quick: bool) -> dict:
    """Date, machine and versions for the result files."""
    import ai_edge_litert
    import keras
    import tensorflow as tf

    import sttn_keras
    from sttn_keras.export import runtime

    try:
        from importlib.metadata import version

        litert_version = version("ai-edge-litert")
    except Exception:  # noqa: BLE001 - metadata is best effort
        litert_version = getattr(ai_edge_litert, "__version__", "unknown")
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return dict(
        date=datetime.datetime.now().isoformat(timespec="seconds"),
        machine=dict(
            cpu=machine_info.cpu_model(),
            arch=platform.machine(),
            cores=os.cpu_count(),
            flags=[
                f for f in machine_info.KERNEL_FLAGS if f in machine_info.cpu_flags()
            ],
            os=platform.platform(),
            loadavg_at_start=load,
        ),
        versions=dict(
            python=platform.python_version(),
            numpy=np.__version__,
            tensorflow=tf.__version__,
            keras=keras.__version__,
            ai_edge_litert=litert_version,
            sttn_keras=sttn_keras.__version__,
            git_commit=machine_info.git_commit(),
        ),
        sttn_optimized_kernel=runtime.native_library_info()["optimized_kernel"],
        supported_kernels=list(runtime.supported_kernels()),
        clock_ghz=_clock_ghz(),
        threads=1,
        rounds=rounds,
        round_budget_s=budget_s,
        quick=quick,
        timing=(
            "invoke() only, input set beforehand; per round each variant runs "
            "`reps` invokes (shuffled order), round value = median invoke; "
            "reported ms = median over rounds; ratio = median over rounds of "
            "baseline / sttn opt of the same round; cpu_ms/cpu_ratio: the same "
            "with process CPU time (robust to preemption on a shared machine)"
        ),
    )


def render(meta: dict, rows: list[dict]) -> str:
    """The Markdown report."""
    m = meta["machine"]
    v = meta["versions"]
    lines = [
        "# sttn kernels vs TFLite builtins",
        "",
        f"{meta['date']}; {m['cpu']} ({m['arch']}, {m['cores']} cores, "
        f"{', '.join(m['flags'])}); Python {v['python']}, TensorFlow {v['tensorflow']}, "
        f"Keras {v['keras']}, ai-edge-litert {v['ai_edge_litert']}, sttn-keras "
        f"{v['sttn_keras']} ({v['git_commit']}); `sttn opt` runs the "
        f"`{meta['sttn_optimized_kernel']}` path.",
        "",
        f"**1 thread for every variant** (a per-core comparison). "
        f"`invoke()` only, inputs set beforehand, warmed up; {meta['rounds']} rounds, "
        "variants interleaved in a shuffled order each round; milliseconds are medians "
        "over rounds; a ratio is the median over rounds of baseline time / `sttn opt` "
        "time in the same round (> 1: ours is faster). "
        "The sttn graph is `SttnTernarize -> Sttn op` (the BatchNormalization before "
        "the layer is folded into the ternarize thresholds), so **ternarizing the "
        "input is included**. The float/int8 graphs run the same architecture "
        "(BN as MUL/ADD + the float or int8 layer; int8 with float32 input/output, "
        "so QUANTIZE/DEQUANTIZE are included). `sttn ref` (the plain-loop oracle) "
        "only on the smaller shapes.",
        "",
    ]
    if meta["quick"]:
        lines += [
            "**Quick mode** (few shapes and rounds: a smoke test, not a result).",
            "",
        ]
    header = (
        ["layer", "MMAC"]
        + [f"{n} (ms)" for n in VARIANTS]
        + [f"{n} / ours" for n in BASELINES]
    )
    lines += ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for r in rows:
        cells = [r["case"], f"{r['macs'] / 1e6:.1f}"]
        for n in VARIANTS:
            cells.append(f"{r['ms'][n]:.3f}" if n in r["ms"] else "-")
        for n in BASELINES:
            cells.append(f"**{r['ratio'][n]:.2f}x**" if n in r["ratio"] else "-")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "The same ratios measured with process CPU time instead of wall-clock "
        "time (less sensitive to other load on a shared machine):",
        "",
        "| layer | " + " | ".join(f"{n} / ours" for n in BASELINES) + " |",
        "|---|" + "---:|" * len(BASELINES),
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | "
            + " | ".join(
                f"{r['cpu_ratio'][n]:.2f}x" if n in r["cpu_ratio"] else "-"
                for n in BASELINES
            )
            + " |"
        )
    lines += [
        "",
        "`sttn opt` throughput (multiply-accumulates per second, ternarize included):",
        "",
    ]
    lines += [f"* {r['case']}: {r['sttn_opt_gmacs']:.1f} GMAC/s" for r in rows]
    isas = [
        n
        for n in ["sttn opt"] + [f"sttn {k}" for k in ("avx2", "popcnt", "portable")]
        if any(n in r.get("gmacs", {}) for r in rows)
    ]
    bounds = meta.get("mca_bounds", {})
    clock = meta.get("clock_ghz")
    lines += [
        "",
        "Every ISA path of this CPU, GMAC/s (ternarize included); "
        + (
            f"bound = llvm-mca trit-MACs/cycle of the micro-kernel's inner loop x "
            f"{clock:.2f} GHz (/proc/cpuinfo):"
            if clock
            else "no clock reading:"
        ),
        "",
        "| layer | " + " | ".join(isas) + " |",
        "|---|" + "---:|" * len(isas),
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | "
            + " | ".join(
                f"{r['gmacs'][n]:.1f}" if n in r.get("gmacs", {}) else "-" for n in isas
            )
            + " |"
        )
    for isa in ("avx512", "avx2"):
        if isa in bounds and clock:
            macs, cpu = bounds[isa]
            name = "sttn opt" if meta["sttn_optimized_kernel"] == isa else f"sttn {isa}"
            best = max(
                (r["gmacs"].get(name, 0.0) for r in rows if r["kind"] == "conv"),
                default=0.0,
            )
            lines.append(
                f"\n`{isa}` bound: {macs:.0f} MACs/cycle ({cpu} model) x "
                f"{clock:.2f} GHz = {macs * clock:.0f} GMAC/s; best conv layer "
                f"{best:.0f} GMAC/s = {100 * best / (macs * clock):.0f}% of it."
            )
    lines += [
        "",
        "Ratio spread (p25-p75 of the per-round ratios) and timed graphs are "
        "in `kernels.json`.",
    ]
    return "\n".join(lines) + "\n"


def run(
    rounds: int = 15,
    budget_s: float = 0.05,
    out: str = "benchmarks/results",
    quick: bool = False,
    ref_max_mmac: float = 40.0,
    only: str | None = None,
) -> dict:
    """Runs the benchmark, prints the table and writes ``kernels.{md,json}``.

    Args:
        rounds: interleaved rounds per case.
        budget_s: approximate seconds per variant per round.
        out: output folder.
        quick: only the cases marked ``quick``, for a smoke test.
        ref_max_mmac: run ``sttn ref`` only up to this many million MACs.
        only: run only cases whose name contains this substring.

    Returns:
        ``{"meta": ..., "rows": [...]}`` as written to ``kernels.json``.
    """
    cases = [
        c for c in CASES if (c.quick or not quick) and (only is None or only in c.name)
    ]
    meta = metadata(rounds, budget_s, quick)
    meta["mca_bounds"] = _mca_bounds(out)
    rows = []
    for case in cases:
        row = bench_case(case, rounds, budget_s, ref_max_mmac)
        rows.append(row)
        summary = ", ".join(
            f"{n} {row['ms'][n]:.3f} ms" for n in VARIANTS if n in row["ms"]
        )
        print(f"{case.name}: {summary}", flush=True)
    result = dict(meta=meta, rows=rows)
    table = render(meta, rows)
    print("\n" + table)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "kernels.md"), "w") as f:
        f.write(table)
    with open(os.path.join(out, "kernels.json"), "w") as f:
        json.dump(result, f, indent=2)
    return result


def main(argv=None):
    """Command line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="two small cases, 3 rounds: a < 60 s smoke test",
    )
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        help="seconds per variant per round (default 0.05, quick 0.01)",
    )
    parser.add_argument("--ref-max-mmac", type=float, default=40.0)
    parser.add_argument(
        "--only", default=None, help="substring of the case names to run"
    )
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 15)
    budget = args.budget or (0.01 if args.quick else 0.05)
    run(rounds, budget, args.out, args.quick, args.ref_max_mmac, args.only)


if __name__ == "__main__":
    sys.exit(main())
