"""Before/after of two builds of the native library, in one process.

A change to the kernels or the thread pool is judged by timing the same
``.tflite`` model through two builds of ``_sttn_ops*.so`` (say, ``main`` and a
branch) on these noisy shared machines. Timing them in two processes, minutes
apart, measures the neighbours as much as the change. Here both libraries are
loaded into one process (each ``ctypes.CDLL`` is ``RTLD_LOCAL`` and exports
only the C API, so each keeps its own kernels and thread pool), an
``Interpreter`` is built on each for every thread count, and rounds visit
every (library, threads) variant in a shuffled order. Each variant is timed
for a block of invokes after a pause of ``--pause`` seconds, so that the
previous variant's workers (ours and XNNPACK's) have gone idle: without the
pause one library's spinning workers would slow the other's first invokes.

Reported per library: median latency at each thread count, the scaling from
1 thread to the most threads (median of per-round ratios), and the
``A / B`` time ratio per thread count (median of per-round ratios, with the
25th and 75th percentiles). Outputs are checked equal between the two
libraries before timing.

Usage::

    python benchmarks/library_ab.py A.so B.so [--model artifacts/e2e/mobilenet_v2.sttn.tflite]
        [--threads 1,2] [--rounds 15] [--out benchmarks/results/library_ab.md]

Build the "before" library from a git worktree of the old commit with
``python setup.py build_ext --inplace``. The models of ``benchmarks/e2e.py``
are cached in ``artifacts/e2e/``.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import json
import os
import random
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "benchmarks"))

import machine_info  # noqa: E402

from sttn_keras.export import interpreter as interpreter_module  # noqa: E402
from sttn_keras.export import native_library  # noqa: E402


def load(path: str) -> ctypes.CDLL:
    """One build of the native library, declared as the runtime declares it."""
    lib = ctypes.CDLL(os.path.abspath(path))
    native_library._declare(lib)
    return lib


def interpreters(libs: dict, content: bytes, threads: list[int]) -> dict:
    """An Interpreter per (library tag, threads), each registering its own library."""
    out = {}
    original = interpreter_module.library
    try:
        for tag, lib in libs.items():
            interpreter_module.library = lambda lib=lib: lib
            for t in threads:
                out[(tag, t)] = interpreter_module.Interpreter(content, num_threads=t)
    finally:
        interpreter_module.library = original
    return out


def _cpu_idle_fraction(window: float) -> float:
    """Share of all cores' time idle over `window` seconds (Linux /proc/stat)."""

    def read() -> tuple[int, int]:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        return fields[3] + fields[4], sum(fields)  # idle + iowait, total

    idle0, total0 = read()
    time.sleep(window)
    idle1, total1 = read()
    return (idle1 - idle0) / max(1, total1 - total0)


def wait_for_idle_machine(limit: float, window: float = 0.25) -> bool:
    """Waits (up to `limit` seconds) until the other processes leave the cores idle."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if _cpu_idle_fraction(window) >= 0.95:
            return True
    return False


def measure(
    its: dict, x: np.ndarray, rounds: int, block: int, pause: float, idle_wait: float
) -> dict:
    times: dict = {k: [] for k in its}
    order = list(its)
    rng = random.Random(0)
    for _ in range(rounds):
        rng.shuffle(order)
        if idle_wait > 0 and not wait_for_idle_machine(idle_wait):
            print(f"the machine was not idle within {idle_wait} s; timing anyway")
        for k in order:
            time.sleep(pause)
            run = its[k]._interp.invoke
            for _ in range(3):
                run()
            ts = []
            for _ in range(block):
                t0 = time.perf_counter()
                run()
                ts.append(time.perf_counter() - t0)
            times[k].append(float(np.median(ts)))
    return times


def table(times: dict, tags: list[str], threads: list[int]) -> list[str]:
    lines = [
        "| threads | A ms | B ms | A / B (p25-p75) |",
        "|---:|---:|---:|---|",
    ]
    for t in threads:
        a = np.array(times[("A", t)])
        b = np.array(times[("B", t)])
        r = a / b
        lines.append(
            f"| {t} | {np.median(a) * 1e3:.3f} | {np.median(b) * 1e3:.3f} | "
            f"**{np.median(r):.3f}** ({np.percentile(r, 25):.3f}-"
            f"{np.percentile(r, 75):.3f}) |"
        )
    if len(threads) > 1:
        lo, hi = threads[0], threads[-1]
        for tag in tags:
            s = np.array(times[(tag, lo)]) / np.array(times[(tag, hi)])
            lines.append("")
            lines.append(
                f"{tag}: {lo} -> {hi} threads {np.median(s):.3f}x "
                f"(p25 {np.percentile(s, 25):.3f}, p75 {np.percentile(s, 75):.3f})"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("a", help="the 'before' library (.so)")
    p.add_argument("b", help="the 'after' library (.so)")
    p.add_argument(
        "--model",
        default=os.path.join(REPO, "artifacts", "e2e", "mobilenet_v2.sttn.tflite"),
    )
    p.add_argument("--threads", default="1,2")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--block", type=int, default=15, help="timed invokes per visit")
    p.add_argument(
        "--pause", type=float, default=0.05, help="seconds idle before a visit"
    )
    p.add_argument(
        "--idle-wait",
        type=float,
        default=0.0,
        help="before each round, wait up to this many seconds for the other "
        "processes to leave the cores idle (shared machines)",
    )
    p.add_argument(
        "--out",
        default=None,
        help="markdown file to write the table to (the per-round times go to "
        "the same name with .json)",
    )
    args = p.parse_args(argv)
    threads = sorted({int(t) for t in args.threads.split(",")})
    if not threads or threads[0] < 1:
        p.error(f"--threads must be positive integers, received {args.threads!r}")
    if args.rounds < 1 or args.block < 1:
        p.error(
            f"--rounds and --block must be >= 1, received {args.rounds}, {args.block}"
        )
    with open(args.model, "rb") as f:
        content = f.read()
    libs = {"A": load(args.a), "B": load(args.b)}
    its = interpreters(libs, content, threads)
    shape = its[("A", threads[0])]._inputs[0]["shape"]
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    reference = its[("A", threads[0])].predict(x)
    for key, it in its.items():
        if not np.array_equal(it.predict(x), reference):
            raise SystemExit(f"outputs differ between the libraries ({key})")
    times = measure(its, x, args.rounds, args.block, args.pause, args.idle_wait)
    head = [
        f"# Library A/B: {os.path.basename(args.model)}",
        "",
        f"{datetime.date.today().isoformat()}, {machine_info.cpu_model()} "
        f"({os.cpu_count()} cores), {args.rounds} rounds x {args.block} invokes, "
        f"commit {machine_info.git_commit()}. A = `{args.a}`, B = `{args.b}`. "
        "Medians; ratios are medians of per-round ratios.",
        "",
    ]
    text = "\n".join(head + table(times, ["A", "B"], threads)) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
        raw = {f"{tag}{t}": v for (tag, t), v in times.items()}
        with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
            json.dump(
                {"a": args.a, "b": args.b, "model": args.model, "seconds": raw}, f
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
