"""Executed instructions of the ternary GEMM per layer of a whole model.

Builds ``gemm_layers.cc`` (MobileNetV2's 34 ``SttnConv2D`` shapes at 224x224,
batch 1: 1x1 convs with 16-960 input channels, packed outputs where the model
has them; or ``--shapes resnet``: ResNet-like 3x3 convs) against the core
sources of a source tree, runs it under QEMU user mode with the counting
plugin ``tests/qemu/insn_count.c`` (built and cached by ``tests/qemu_user.py``)
and reports the instructions each layer executes
per call (1 thread), exact and free of the noise of a shared machine:

* ``avx2``: ``qemu-x86_64 -cpu Haswell`` (the AVX2 micro-kernel);
* ``neon``: the harness cross-compiled with ``aarch64-linux-gnu-g++`` and run
  by ``qemu-aarch64 -cpu max`` (the NEON micro-kernel).

``--baseline DIR`` runs the same harness against the core of another tree
(e.g. ``git archive <commit> | tar -x -C DIR``) for a before/after table;
the layers' output checksums must agree (bit-identical results). Instruction
counts leave out caches, memory bandwidth and how many instructions retire
per cycle; the wall-clock medians printed by the harness itself are not
used here.

Needs g++, Debian's dynamic ``qemu-user`` (7.2, for ``-plugin``) and, for
neon, ``g++-aarch64-linux-gnu``. Usage::

    python benchmarks/gemm_layers/run.py [--isa avx2,neon] [--baseline DIR]
                                         [--shapes mobilenet_v2] [--out benchmarks/results]

Writes ``gemm_layers_<shapes>.md`` and ``.json`` in ``--out``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
ISAS = {
    # name: (Isa enum value, compiler, qemu command)
    "avx2": (2, "g++", ["qemu-x86_64", "-cpu", "Haswell"]),
    "neon": (4, "aarch64-linux-gnu-g++", ["qemu-aarch64", "-cpu", "max"]),
}
sys.path.insert(0, REPO)
from tests import qemu_user  # noqa: E402  (the counting plugin)

sys.path.insert(0, os.path.dirname(HERE))
import machine_info  # noqa: E402  (benchmarks/machine_info.py)

FLAGS = ["-O3", "-std=c++17", "-ffp-contract=off", "-pthread"]


def build(tree: str, compiler: str, out: str) -> str:
    sources = sorted(
        os.path.join(tree, "export", "core", f)
        for f in os.listdir(os.path.join(tree, "export", "core"))
        if f.endswith(".cc")
    )
    static = [] if compiler == "g++" else ["-static"]
    cmd = [compiler, *FLAGS, *static, "-I", tree, *sources]
    # The tree's own harness where it has one (the core API it calls may
    # differ between trees), else this one.
    harness = os.path.join(tree, "benchmarks", "gemm_layers", "gemm_layers.cc")
    if not os.path.exists(harness):
        harness = os.path.join(HERE, "gemm_layers.cc")
    cmd += [harness, "-o", out]
    subprocess.run(cmd, check=True)
    return out


def count(binary: str, isa: str, shapes: str, reps: int = 2, method: int = 0) -> dict:
    """{layer: (name, instructions per call, checksum)}; ``method``: the
    GEMM method (0 auto, 1 popcount, 2 table where the layer fits)."""
    enum, _, qemu = ISAS[isa]
    env = {**os.environ, "ISA": str(enum), "SHAPES": shapes, "METHOD": str(method)}
    with tempfile.TemporaryDirectory() as tmp:
        counts = os.path.join(tmp, "counts.txt")
        run = subprocess.run(
            [*qemu, "-plugin", f"{qemu_user.plugin()},out={counts}", binary, "1"]
            + [str(reps)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        # Two checkpoints per layer, in the order the harness prints them,
        # then the one at exit.
        totals = [total for total, _ in qemu_user.read_counts(counts)[:-1]]
    layers = [
        m
        for m in (
            re.match(r"L(\d+) (.*?) [\d.]+ ms .* h=(\w+)", line)
            for line in run.stdout.splitlines()
        )
        if m
    ]
    if len(totals) != 2 * len(layers):
        raise SystemExit(
            f"[{isa}] {len(totals)} checkpoints for {len(layers)} layers: "
            "the harness and the plugin disagree"
        )
    out = {}
    for k, m in enumerate(layers):
        per_call = (totals[2 * k + 1] - totals[2 * k]) / reps
        out[int(m.group(1))] = (m.group(2), per_call, m.group(3))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--isa", default="avx2,neon")
    parser.add_argument("--baseline", help="a source tree to compare against")
    parser.add_argument(
        "--shapes", default="mobilenet_v2", choices=("mobilenet_v2", "resnet")
    )
    parser.add_argument(
        "--methods",
        action="store_true",
        help="compare this tree's popcount and table methods per layer "
        "(instead of trees)",
    )
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"))
    args = parser.parse_args(argv)
    # label: (tree, GEMM method)
    trees = {"after": (REPO, 0)}
    if args.baseline:
        trees = {"before": (os.path.abspath(args.baseline), 0), **trees}
    if args.methods:
        trees = {"popcount": (REPO, 1), "table": (REPO, 2)}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for isa in args.isa.split(","):
            _, compiler, qemu = ISAS[isa]
            if shutil.which(compiler) is None or shutil.which(qemu[0]) is None:
                print(f"[{isa}] skipped: {compiler} or {qemu[0]} not installed")
                continue
            for label, (tree, method) in trees.items():
                binary = build(tree, compiler, os.path.join(tmp, f"{isa}_{label}"))
                results.setdefault(isa, {})[label] = count(
                    binary, isa, args.shapes, method=method
                )
                print(f"[{isa}] {label}: counted", flush=True)
    commit = machine_info.git_commit()
    lines = [
        f"Executed instructions per call of the ternary GEMM, {args.shapes} layer shapes, "
        f"batch 1, 1 thread (QEMU user mode with a counting plugin; "
        f"{datetime.date.today().isoformat()}, commit {commit}). "
        "`benchmarks/gemm_layers/run.py`. Counts leave out caches, memory bandwidth and "
        "instructions per cycle.",
    ]
    for isa, by in results.items():
        labels = list(by)
        lines += ["", f"**{isa}** (M instructions per call)", ""]
        head = "| layer | " + " | ".join(labels)
        rule = "|---|" + "---:|" * len(labels)
        if len(labels) == 2:
            head += f" | {labels[0]} / {labels[1]}"
            rule += "---:|"
        lines += [head + " |", rule]
        first = by[labels[0]]
        totals = [0.0] * len(labels)
        for i in sorted(first):
            row = [by[lab][i][1] for lab in labels]
            if len({by[lab][i][2] for lab in labels}) != 1:
                raise SystemExit(f"[{isa}] layer {i}: outputs differ between the trees")
            totals = [t + r for t, r in zip(totals, row)]
            cells = " | ".join(f"{r / 1e6:.3f}" for r in row)
            ratio = f" | {row[0] / row[1]:.2f}x" if len(row) == 2 else ""
            lines.append(f"| L{i:02d} {first[i][0]} | {cells}{ratio} |")
        cells = " | ".join(f"**{t / 1e6:.2f}**" for t in totals)
        ratio = f" | **{totals[0] / totals[1]:.2f}x**" if len(totals) == 2 else ""
        lines.append(f"| total | {cells}{ratio} |")
    md = "\n".join(lines) + "\n"
    print(md)
    os.makedirs(args.out, exist_ok=True)
    name = f"gemm_layers_{args.shapes}" + ("_methods" if args.methods else "")
    with open(os.path.join(args.out, name + ".md"), "w") as f:
        f.write(md)
    with open(os.path.join(args.out, name + ".json"), "w") as f:
        json.dump(
            {"commit": commit, "shapes": args.shapes, "results": results}, f, indent=1
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
