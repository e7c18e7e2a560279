"""Executed instructions per inference on CPUs we do not have, counted under QEMU.

Timing under emulation means nothing, but the number of guest instructions a
program executes under QEMU's user-mode emulation is exact and repeatable,
and comparable between our kernels and XNNPACK on the same instruction set.
For each model of ``benchmarks/e2e.py`` (same builders and ``.tflite``
cache), the three forms (``sttn``: our ``Interpreter``, ``float32`` and
``int8``: the stock ai-edge-litert interpreter with XNNPACK) run in one
guest Python per (target, model), 1 thread, batch 1:

* ``aarch64/cortex-a76``: ``qemu-aarch64 -cpu cortex-a76`` (ARMv8.2 with
  dotprod: XNNPACK's int8 uses SDOT), an aarch64 Python 3.11 from Debian's
  arm64 packages, numpy and ai-edge-litert from PyPI's aarch64 wheels, our
  library cross-compiled (``tests/qemu_user.py``);
* ``aarch64/max:sme=off``: ``-cpu max,sme=off`` (QEMU 7.2's every feature
  but SME: i8mm, SVE2, bf16; XNNPACK may pick its i8mm kernels). With SME
  (plain ``max``) XNNPACK runs KleidiAI's SME matmuls, whose outer-product
  instructions each do a whole tile's work: a different class of core.
  Options of ``-cpu`` are written with ``:`` for ``,`` in a target;
* ``x86_64/Haswell``: ``qemu-x86_64 -cpu Haswell`` (AVX2 + FMA, no AVX-512):
  this venv's Python, our library built for x86-64; both we and XNNPACK take
  AVX2 paths even on an AVX-512 host.

Counting: our TCG plugin (``tests/qemu/insn_count.c``) adds each translated
block's instruction count inline every time the block runs; the guest marks
a checkpoint after the first inference and after ``--runs``, so
instructions per inference = (count after ``runs`` - count after 1) /
(``runs`` - 1): start-up, model loading and XNNPACK's weight packing cancel.
Per block the counts are attributed to a file and symbol from the guest's
``/proc/self/maps`` and the files' symbol tables: our library (built with
``-g``) by source file (GEMM, depthwise, ternarize, ...), ai-edge-litert's
by XNNPACK micro-kernel family (``xnn_*gemm``, ``igemm``, ``dwconv``, ...),
the rest as runtime and Python glue.

What an instruction count leaves out: caches, memory bandwidth, pipeline
width and latencies (an SDOT and an integer add each count 1), branch
prediction, and the emulated CPU's real frequency. It says what the code
asks the core to do, not how fast a core does it.

Usage (after ``make setup``; downloads and builds are cached in
``.venv/qemu/``, models in ``artifacts/e2e/``)::

    python benchmarks/isa_cost.py [--models mobilenet_v2,resnet18]
        [--targets aarch64/cortex-a76,x86_64/Haswell,aarch64/max:sme=off]
        [--runs 3] [--out benchmarks/results] [--keep]

Writes ``isa_cost.md`` and ``isa_cost.json`` in ``--out``.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from benchmarks import e2e  # noqa: E402
from tests import qemu_user  # noqa: E402

FORMS = e2e.FORMS  # sttn, float32, int8
DEFAULT_TARGETS = ("aarch64/cortex-a76", "x86_64/Haswell", "aarch64/max:sme=off")
NM = {"aarch64": "aarch64-linux-gnu-nm", "x86_64": "nm"}
GUEST = os.path.join(REPO, "tests", "qemu", "guest_run.py")

# Our library, by the source file a function is defined in.
OUR_SOURCES = (
    (r"^ternary_gemm", "sttn: ternary GEMM (conv, FC)"),
    (r"^depthwise_float", "sttn: depthwise, float input"),
    (r"^depthwise", "sttn: depthwise, ternary input"),
    (r"^ternarize", "sttn: SttnTernarize"),
    (r"^float_in", "sttn: conv/FC, float input"),
    (r"^threadpool", "sttn: thread pool"),
)
# XNNPACK micro-kernels by family (their names: xnn_<type>_<family>_...).
XNN_FAMILIES = (
    (r"_igemm", "XNNPACK: conv kxk (igemm)"),
    (r"_gemm", "XNNPACK: conv 1x1 / FC (gemm)"),
    (r"_dwconv", "XNNPACK: depthwise (dwconv)"),
    (r"_(vadd|vbinary|vaddc|vmul|vsub)", "XNNPACK: elementwise"),
    (
        r"_(gavgpool|rdsum|rsum|raddstore|reduce|avgpool|maxpool|argmaxpool)",
        "XNNPACK: pool/mean",
    ),
    (r"_(vcvt|qs8_vcvt|qu8_vcvt|f32_qs8|qd8|quantize|vquant)", "XNNPACK: (de)quantize"),
    (r"_(vclamp|vrelu|vlrelu|vhswish)", "XNNPACK: activation"),
    (r"(pack|packw|pad|copy|transpose)", "XNNPACK: pack/copy"),
)


# The categories' op kinds, for instructions per multiply-accumulate.
CONV_CATEGORIES = (
    "sttn: ternary GEMM (conv, FC)",
    "sttn: conv/FC, float input",
    "XNNPACK: conv kxk (igemm)",
    "XNNPACK: conv 1x1 / FC (gemm)",
)
DEPTHWISE_CATEGORIES = (
    "sttn: depthwise, ternary input",
    "sttn: depthwise, float input",
    "XNNPACK: depthwise (dwconv)",
)


def macs_by_kind(float32_tflite: bytes) -> dict[str, int]:
    """Multiply-accumulates per inference of the float32 model's CONV_2D
    (1x1 and kxk), DEPTHWISE_CONV_2D and FULLY_CONNECTED ops."""
    from sttn_keras.export import inspect_tflite

    model = inspect_tflite.read_model(float32_tflite)
    names = inspect_tflite._builtin_names()
    graph = model.subgraphs[0]
    out: dict[str, int] = collections.defaultdict(int)
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        name = names.get(max(code.builtinCode, code.deprecatedBuiltinCode))
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        w = [int(v) for v in graph.tensors[op.inputs[1]].shape]
        y = [int(v) for v in graph.tensors[op.outputs[0]].shape]
        if name == "DEPTHWISE_CONV_2D":
            out["depthwise"] += int(np.prod(y)) * w[1] * w[2]
        elif name == "FULLY_CONNECTED":
            out["fc"] += int(np.prod(y[:-1])) * int(np.prod(w))
        else:
            kind = "conv 1x1" if w[1] * w[2] == 1 else "conv kxk"
            out[kind] += int(np.prod(y[:-1])) * int(np.prod(w))
    return dict(out)


def category(file: str, symbol: str, source: str) -> str:
    """The row of the per-op table an executed block belongs to."""
    if file.startswith("_sttn_ops"):
        for pattern, name in OUR_SOURCES:
            if re.search(pattern, source):
                return name
        return "sttn: op glue (TFLite API, prepare)"
    if file.startswith("libpywrap_litert") or file.startswith("libLiteRt"):
        if symbol.startswith("xnn_") or "xnnpack" in symbol.lower():
            if symbol.startswith("xnn_"):
                for pattern, name in XNN_FAMILIES:
                    if re.search(pattern, symbol):
                        return name
            return "XNNPACK: other (operators, runtime)"
        if re.search(
            r"tflite::(ops::builtin|optimized_ops|reference_ops|optimized_integer_ops"
            r"|reference_integer_ops|MultiplyByQuantizedMultiplier)|ruy::|gemmlowp::",
            symbol,
        ):
            return "TFLite builtin kernels (not XNNPACK)"
        return "TFLite interpreter"
    return "Python, numpy, libc, ld.so"


# ---------------------------------------------------------------------------


def _input(name: str) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.normal(size=(1,) + tuple(e2e.MODELS[name][0])).astype("float32")


def count_model(
    target: str, name: str, files: dict[str, bytes], runs: int, work: str
) -> dict:
    """Counts of the three forms of one model on one target."""
    arch, cpu = target.split("/")
    wdir = os.path.join(work, re.sub(r"[^\w.-]", "_", f"{arch}-{cpu}-{name}"))
    cpu = cpu.replace(":", ",")  # QEMU's -cpu NAME,PROP=VALUE
    site = os.path.join(wdir, "site")
    qemu_user.installed_layout(site)
    x_path = os.path.join(wdir, "x.npy")
    np.save(x_path, _input(name))
    jobs = []
    for form in FORMS:
        path = os.path.join(wdir, f"{form}.tflite")
        with open(path, "wb") as f:
            f.write(files[form])
        jobs.append(
            {
                "model": path,
                "form": "sttn" if form == "sttn" else "stock",
                "kernel": "optimized",
                "threads": 1,
                "inputs": [x_path],
                "runs": runs,
                "output": os.path.join(wdir, f"{form}.y.npy"),
            }
        )
    spec = os.path.join(wdir, "jobs.json")
    maps = os.path.join(wdir, "maps")
    with open(spec, "w") as f:
        json.dump({"maps": maps, "jobs": jobs}, f)
    counts = os.path.join(wdir, "counts")
    start = time.time()
    r = qemu_user.run_guest(arch, cpu, GUEST, [spec], site, counts=counts)
    if r.returncode != 0 or "GUEST_OK" not in r.stdout:
        raise RuntimeError(
            f"{target} {name}: the guest failed ({r.returncode}):\n{r.stderr[-3000:]}"
        )
    checkpoints = qemu_user.read_counts(counts)
    with open(maps) as f:
        sym = qemu_user.Symbolizer(f.read(), NM[arch])
    result = {"seconds": round(time.time() - start, 1), "forms": {}}
    for k, form in enumerate(FORMS):
        total, blocks = qemu_user.difference(checkpoints[2 * k], checkpoints[2 * k + 1])
        per_cat: dict[str, float] = collections.defaultdict(float)
        per_sym: dict[str, float] = collections.defaultdict(float)
        for addr, n in blocks.items():
            file, symbol, source = sym.lookup(addr)
            per_cat[category(file, symbol, source)] += n / (runs - 1)
            per_sym[f"{file}: {symbol}"] += n / (runs - 1)
        top = sorted(per_sym.items(), key=lambda kv: -kv[1])[:12]
        result["forms"][form] = {
            "per_inference": total / (runs - 1),
            "categories": dict(sorted(per_cat.items(), key=lambda kv: -kv[1])),
            "top_symbols": dict(top),
            "output": np.load(os.path.join(wdir, f"{form}.y.npy")).tolist(),
        }
    return result


def _host_outputs(name: str, files: dict[str, bytes]) -> np.ndarray:
    """The STTN model's output on this host (our library, best path)."""
    from sttn_keras.export import Interpreter

    return Interpreter(files["sttn"], num_threads=1).predict(_input(name))


def _m(v: float) -> str:
    return f"{v / 1e6:.1f} M"


def to_markdown(results: dict, meta: dict) -> str:
    lines = [
        "# Executed instructions per inference (QEMU user mode)",
        "",
        f"Generated by `benchmarks/isa_cost.py` on {meta['date']} "
        f"({meta['seconds']:.0f} s). 1 thread, batch 1; "
        f"(count after {meta['runs']} inferences - count after 1) / "
        f"{meta['runs'] - 1}. STTN: our `Interpreter` (optimized kernels; "
        "the layers kept float run as TFLite builtins with XNNPACK); float32 "
        "and int8: the stock ai-edge-litert "
        f"{qemu_user.LITERT_VERSION} interpreter with XNNPACK. QEMU "
        f"{meta['qemu']}.",
        "",
        "| model | target | STTN | float32 | int8 | STTN/float32 | STTN/int8 |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, per_target in results.items():
        for target, r in per_target.items():
            f = {k: v["per_inference"] for k, v in r["forms"].items()}
            lines.append(
                f"| {name} | {target} | {_m(f['sttn'])} | {_m(f['float32'])} | "
                f"{_m(f['int8'])} | {f['sttn'] / f['float32']:.2f} | "
                f"{f['sttn'] / f['int8']:.2f} |"
            )
    lines += [
        "",
        "Per multiply-accumulate (MACs of the float32 model's ops; convs "
        "include the fully connected layer and the float stem, which the "
        "STTN model runs on XNNPACK too):",
        "",
        "| model | target | form | conv+FC instr/MAC | depthwise instr/MAC "
        "| outside convs and depthwise |",
        "|---|---|---|---:|---:|---:|",
    ]
    for name, per_target in results.items():
        macs = meta["macs"][name]
        conv = sum(v for k, v in macs.items() if k != "depthwise")
        dw = macs.get("depthwise", 0)
        for target, r in per_target.items():
            for form in FORMS:
                c = r["forms"][form]["categories"]
                ci = sum(c.get(k, 0.0) for k in CONV_CATEGORIES)
                di = sum(c.get(k, 0.0) for k in DEPTHWISE_CATEGORIES)
                rest = r["forms"][form]["per_inference"] - ci - di
                dws = f"{di / dw:.3f}" if dw else "-"
                lines.append(
                    f"| {name} | {target} | {form} | {ci / conv:.3f} | {dws} | "
                    f"{_m(rest)} |"
                )
    lines += [
        "",
        "MACs per inference: "
        + "; ".join(
            f"{name}: "
            + ", ".join(
                f"{k} {v / 1e6:.1f} M" for k, v in sorted(meta["macs"][name].items())
            )
            for name in results
        )
        + ".",
    ]
    lines += [
        "",
        "Per op type (M instructions per inference): our library by the "
        "source file of each function, ai-edge-litert by XNNPACK "
        "micro-kernel family; rows under 0.05 M in every column are left out.",
    ]
    for name, per_target in results.items():
        for target, r in per_target.items():
            cats = sorted(
                {c for form in r["forms"].values() for c in form["categories"]}
            )
            lines += [
                "",
                f"### {name}, {target}",
                "",
                "| | STTN | float32 | int8 |",
                "|---|---:|---:|---:|",
            ]
            rows = []
            for c in cats:
                vals = [r["forms"][f]["categories"].get(c, 0.0) for f in FORMS]
                if max(vals) >= 5e4:
                    rows.append((c, vals))
            rows.sort(key=lambda cv: -max(cv[1]))
            for c, vals in rows:
                lines.append(
                    f"| {c} | " + " | ".join(f"{v / 1e6:.2f}" for v in vals) + " |"
                )
            parity = r.get("sttn_vs_host_max_abs")
            if parity is not None:
                lines += [
                    "",
                    f"STTN output against this host's (x86-64 best path): max |diff| "
                    f"{parity:.3g}.",
                ]
    lines += [
        "",
        "What the count leaves out: caches and memory bandwidth (a 1x1 conv "
        "streaming a 112x112x96 activation costs the same count as one in L1), "
        "instruction latencies and issue width (an SDOT, a `cnt` and a scalar "
        "add each count 1), branch prediction and frequency. It measures the "
        "work the code asks of the core, not its time.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mobilenet_v2,resnet18")
    parser.add_argument("--targets", default=",".join(DEFAULT_TARGETS))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2, help="guests at a time")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the other models' and targets' results of --out/isa_cost.json",
    )
    parser.add_argument("--cache", default=os.path.join(REPO, "artifacts", "e2e"))
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"))
    args = parser.parse_args(argv)
    if args.runs < 2:
        parser.error(f"--runs must be at least 2. Received: --runs={args.runs}")
    models = [m for m in args.models.split(",") if m]
    targets = [t for t in args.targets.split(",") if t]
    for t in targets:
        arch = t.split("/")[0]
        if arch not in qemu_user.QEMU or "/" not in t:
            parser.error(f"targets are aarch64/CPU or x86_64/CPU. Received: {t!r}")
        why = qemu_user.missing_tools(arch)
        if why:
            print(f"cannot count {t}: {why}", file=sys.stderr)
            return 2
    start = time.time()
    files = {m: e2e.build_models(m, args.cache, args.rebuild) for m in models}
    # Build what the guests share once, before they run in parallel.
    for arch in sorted({t.split("/")[0] for t in targets}):
        qemu_user.library(arch)
        if arch == "aarch64":
            qemu_user.aarch64_root()
    qemu_user.plugin()
    results: dict[str, dict] = {m: {} for m in models}
    hosts: dict[str, np.ndarray] = {}
    qemu = subprocess.run(
        [qemu_user.QEMU["aarch64"], "--version"], capture_output=True, text=True
    ).stdout.split("\n")[0]
    meta = {
        "macs": {m: macs_by_kind(files[m]["float32"]) for m in models},
        "runs": args.runs,
        "qemu": qemu.replace("qemu-aarch64 version ", ""),
        "litert": qemu_user.LITERT_VERSION,
    }

    def write() -> str:
        """The tables of what is done so far (rewritten after each guest)."""
        meta["date"] = datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"
        )
        meta["seconds"] = time.time() - start
        done = {m: dict(r) for m, r in results.items() if r}
        macs = {m: meta["macs"][m] for m in done}
        path = os.path.join(args.out, "isa_cost.json")
        if args.keep and os.path.exists(path):
            # The other (model, target) results of the file stay.
            with open(path) as f:
                old = json.load(f)
            for m, per_target in old["results"].items():
                for t, r in per_target.items():
                    done.setdefault(m, {}).setdefault(t, r)
                macs.setdefault(m, old["meta"]["macs"][m])
        md = to_markdown(done, {**meta, "macs": macs})
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "isa_cost.md"), "w") as f:
            f.write(md)
        with open(path, "w") as f:
            json.dump({"meta": {**meta, "macs": macs}, "results": done}, f, indent=1)
        return md

    with tempfile.TemporaryDirectory() as work:
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            # Target-major: the first target's table is complete first.
            futures = {
                (m, t): pool.submit(count_model, t, m, files[m], args.runs, work)
                for t in targets
                for m in models
            }
            for (m, t), fut in futures.items():
                r = fut.result()
                if m not in hosts:
                    hosts[m] = _host_outputs(m, files[m])
                y = np.asarray(r["forms"]["sttn"].pop("output"))
                r["sttn_vs_host_max_abs"] = float(np.max(np.abs(y - hosts[m])))
                for form in FORMS:
                    r["forms"][form].pop("output", None)
                results[m][t] = r
                f = r["forms"]
                print(
                    f"{m:13s} {t:20s} "
                    + "  ".join(f"{k} {_m(f[k]['per_inference']):>9s}" for k in FORMS)
                    + f"  ({r['seconds']:.0f} s)",
                    flush=True,
                )
                write()
    print(write())
    return 0


if __name__ == "__main__":
    sys.exit(main())
