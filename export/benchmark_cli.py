"""``sttn-benchmark``: latency of a ``.tflite`` model with sttn ops on this machine.

The host counterpart of TFLite's ``benchmark_model`` (and of
``android_demo``'s ``sttn_benchmark_model`` for phones)::

    sttn-benchmark model.tflite --num_threads 2 --num_runs 50 --per_op

Prints the initialisation time, the median and mean latency of ``invoke()``
(batch as in the model, random normal input) and, with ``--per_op``, where
the time goes: each sttn op from the kernels' own counters, builtin ops by
type (timed alone, cut out of the graph, and scaled to the rest of the
measured time).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sttn-benchmark",
        description="Latency of a .tflite model with sttn custom ops (host CPU).",
    )
    p.add_argument("model", help="path of the .tflite file")
    p.add_argument(
        "--num_threads",
        type=int,
        default=1,
        help="threads for the sttn kernels and the builtin ops (default 1)",
    )
    p.add_argument(
        "--num_runs", type=int, default=50, help="timed invokes (default 50)"
    )
    p.add_argument(
        "--warmup_runs", type=int, default=5, help="untimed invokes first (default 5)"
    )
    p.add_argument(
        "--kernel",
        default="optimized",
        help="sttn kernel type: optimized, reference or an ISA path "
        "(see sttn_keras.export.runtime.supported_kernels())",
    )
    p.add_argument(
        "--batch",
        type=int,
        default=None,
        help="batch size for a model with a dynamic batch (default: the model's, or 1)",
    )
    p.add_argument(
        "--per_op", action="store_true", help="print a per-op time breakdown"
    )
    return p


def _positive(parser, name, value):
    if value < 1:
        parser.error(f"--{name} must be a positive integer, received {value}")


def run(argv=None) -> int:
    """Entry point of ``sttn-benchmark``; returns the exit status.

    Example:

    >>> run(["model.tflite", "--num_runs", "20"])
    model: model.tflite
    input: [1, 28, 28, 1] float32; threads: 1; kernels: optimized (...)
    init: ... ms
    latency over 20 runs: median ... ms, mean ... ms, min ... ms, max ... ms
    0
    """
    parser = _parser()
    args = parser.parse_args(argv)
    for name in ("num_threads", "num_runs"):
        _positive(parser, name, getattr(args, name))
    if args.warmup_runs < 0:
        parser.error(f"--warmup_runs must be >= 0, received {args.warmup_runs}")
    from . import inspect_tflite, runtime

    t0 = time.perf_counter()
    try:
        interp = runtime.Interpreter(
            args.model, num_threads=args.num_threads, kernel=args.kernel
        )
    except (OSError, ValueError, RuntimeError) as e:
        print(f"sttn-benchmark: {e}", file=sys.stderr)
        return 1
    init_ms = (time.perf_counter() - t0) * 1e3
    detail = interp.input_details[0]
    shape = list(detail["shape_signature"])
    if shape and shape[0] == -1:
        shape[0] = args.batch or 1
    elif args.batch:
        shape[0] = args.batch
    shape = [1 if d < 0 else int(d) for d in shape]
    x = np.random.default_rng(0).normal(size=shape).astype(detail["dtype"])
    interp.set_input(x)
    for _ in range(args.warmup_runs):
        interp.invoke()
    times = []
    with runtime.OpProfile() as prof:
        for _ in range(args.num_runs):
            start = time.perf_counter()
            interp.invoke()
            times.append((time.perf_counter() - start) * 1e3)
    median, mean = float(np.median(times)), float(np.mean(times))
    print(f"model: {args.model}")
    print(
        f"input: {shape} {np.dtype(detail['dtype']).name}; threads: {args.num_threads}; "
        f"kernels: {args.kernel} ({runtime.optimized_kernel()} "
        "is this CPU's best path)"
    )
    print(f"init: {init_ms:.1f} ms")
    print(
        f"latency over {args.num_runs} runs: median {median:.3f} ms, mean {mean:.3f} ms, "
        f"min {min(times):.3f} ms, max {max(times):.3f} ms"
    )
    if args.per_op:
        total = mean
        sttn_ops = {
            k: (v["invocations"] // args.num_runs, v["ms"] / args.num_runs)
            for k, v in prof.results().items()
        }
        sttn_ms = sum(ms for _, ms in sttn_ops.values())
        from ai_edge_litert import interpreter as litert

        alone: dict[str, list] = {}
        for name, _, one in inspect_tflite.single_op_models(args.model):
            try:
                it = litert.Interpreter(model_content=one, num_threads=args.num_threads)
                it.allocate_tensors()
                for d in it.get_input_details():
                    it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
                it.invoke()
                start = time.perf_counter()
                for _ in range(5):
                    it.invoke()
                ms = (time.perf_counter() - start) * 1e3 / 5
            except (RuntimeError, ValueError):
                ms = 0.0  # an op that cannot run alone (dynamic shapes): no share
            entry = alone.setdefault(name, [0, 0.0])
            entry[0] += 1
            entry[1] += ms
        rest = max(total - sttn_ms, 0.0)
        alone_total = sum(ms for _, ms in alone.values())
        rows = [(k, n, ms) for k, (n, ms) in sttn_ops.items()]
        rows += [
            (k, n, rest * ms / alone_total if alone_total else 0.0)
            for k, (n, ms) in alone.items()
        ]
        print(
            f"\nper op (mean {total:.3f} ms per invoke; sttn ops from the kernels' "
            "counters, builtins split by their isolated times):"
        )
        print(f"{'op':<28}{'count':>6}{'ms':>10}{'share':>8}")
        for k, n, ms in sorted(rows, key=lambda r: -r[2]):
            print(f"{k:<28}{n:>6}{ms:>10.3f}{100 * ms / total:>7.1f}%")
    return 0


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
