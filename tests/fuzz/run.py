"""``make fuzz``: every libFuzzer target, then the whole-model fuzzer.

    python -m tests.fuzz.run --seconds 60            # per target and for models
    python -m tests.fuzz.run --seconds 600 --model-cases 50000 --report benchmarks/results/fuzz.md

Each libFuzzer target starts from its committed seeds and regression inputs
(``tests/fuzz/corpus/<target>``, ``tests/fuzz/regressions/<target>``) in a
working copy under ``build/fuzz/work/`` (the committed corpus is not
modified) and writes crash/timeout/OOM inputs to
``build/fuzz/work/<target>/artifacts``. The model fuzzer runs under the
ASan+UBSan build of the library. Exit status 1 when anything was found in
our code; the summary (executions, findings) goes to
``build/fuzz/summary.json`` and, with ``--report``, to a Markdown table.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from tests.fuzz import libfuzzer  # noqa: E402

WORK = os.path.join(ROOT, "build", "fuzz", "work")


def run_libfuzzer(seconds: int, only: list[str] | None) -> list[dict]:
    cxx = libfuzzer.clang()
    if cxx is None:
        raise SystemExit(
            "clang++ with libFuzzer not found: `make fuzz` installs it (Debian "
            "clang and libclang-rt-dev)"
        )
    binaries = libfuzzer.build(cxx)
    results = []
    for name, binary in binaries.items():
        if only and name not in only:
            continue
        work = os.path.join(WORK, name)
        corpus = os.path.join(work, "corpus")
        os.makedirs(corpus, exist_ok=True)
        for folder in ("corpus", "regressions"):
            for path in glob.glob(os.path.join(libfuzzer.FUZZ_DIR, folder, name, "*")):
                shutil.copy(path, corpus)
        t0 = time.monotonic()
        r = libfuzzer.run(
            binary, [corpus], seconds=seconds, workdir=os.path.join(work, "artifacts")
        )
        r.update(target=name, seconds=round(time.monotonic() - t0, 1))
        print(
            f"{name}: {r['executions']:,} executions in {r['seconds']} s, "
            f"{len(r['crashes'])} crash/timeout/oom inputs",
            flush=True,
        )
        if r["crashes"]:
            print(r["log"][-3000:])
        results.append(r)
    return results


def run_models(seconds: float | None, cases: int | None, seed: int) -> dict:
    out = os.path.join(WORK, "models")
    cmd = [
        sys.executable,
        "-m",
        "tests.fuzz.model_fuzz",
        "--asan",
        "--seed",
        str(seed),
        "--out",
        out,
        "--json",
        os.path.join(out, "result.json"),
    ]
    cmd += ["--cases", str(cases)] if cases else ["--seconds", str(seconds)]
    os.makedirs(out, exist_ok=True)
    subprocess.run(cmd, cwd=ROOT, check=False, stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "result.json")) as f:
        result = json.load(f)
    ours = [x for x in result["findings"] if x["ours"] is not False]
    print(
        f"models: {result['cases']:,} cases in {result['seconds']} s "
        f"({result['ok']:,} ran, {result['rejected']:,} rejected with an error), "
        f"{len(ours)} findings in our code, "
        f"{len(result['findings']) - len(ours)} in LiteRT/XNNPACK",
        flush=True,
    )
    for x in result["findings"]:
        print(
            f"  {x['kind']} ours={x['ours']} {x['path']} ({x['seed']}, {x['mutations']})"
        )
    return result


def report(path: str, targets: list[dict], models: dict | None) -> None:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if "model name" in ln)
    except (OSError, StopIteration):
        pass
    lines = [
        "# Fuzzing: the long run",
        "",
        f"Written by `python -m tests.fuzz.run --report` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{cpu}, under `nice -n 10` on a shared 2-core machine). libFuzzer targets: "
        "clang `-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all`; "
        "whole models: `Interpreter` over the g++ ASan+UBSan build of the library, "
        "a forked child per batch of cases.",
        "",
        "| target | executions | seconds | crashes / hangs / sanitizer reports |",
        "|---|---:|---:|---:|",
    ]
    total = 0
    for t in targets:
        total += t["executions"]
        lines.append(
            f"| {t['target']} | {t['executions']:,} | {t['seconds']} | {len(t['crashes'])} |"
        )
    lines.append(f"| **libFuzzer total** | **{total:,}** | | |")
    if models:
        ours = [x for x in models["findings"] if x["ours"] is not False]
        lines.append(
            f"| whole models (`tests/fuzz/model_fuzz.py`) | {models['cases']:,} cases "
            f"({models['ok']:,} ran, {models['rejected']:,} rejected) | {models['seconds']} "
            f"| {len(ours)} in our code |"
        )
        other = [x for x in models["findings"] if x["ours"] is False]
        if other:
            lines += ["", "Outside our code (LiteRT / XNNPACK), not counted above:", ""]
            for x in other:
                lines.append(
                    f"- {x['kind']}: case {x['case']} (seed {x['seed']}, mutations "
                    f"{', '.join(x['mutations'])})"
                )
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=int, default=60, help="per libFuzzer target")
    p.add_argument("--targets", nargs="*", help="only these libFuzzer targets")
    p.add_argument("--model-seconds", type=float, help="default: --seconds")
    p.add_argument("--model-cases", type=int, help="instead of --model-seconds")
    p.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    p.add_argument("--no-models", action="store_true")
    p.add_argument("--report", help="write the Markdown summary here")
    args = p.parse_args()
    targets = run_libfuzzer(args.seconds, args.targets)
    models = None
    if not args.no_models:
        models = run_models(
            args.model_seconds or args.seconds, args.model_cases, args.seed
        )
    summary = {"targets": targets, "models": models}
    os.makedirs(WORK, exist_ok=True)
    with open(os.path.join(os.path.dirname(WORK), "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    if args.report:
        report(args.report, targets, models)
    bad = any(t["crashes"] for t in targets) or (
        models is not None and any(x["ours"] is not False for x in models["findings"])
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
