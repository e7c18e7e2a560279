"""Import time of the deployment runtime against the stock LiteRT interpreter.

Each row runs in ``--reps`` fresh Python processes (rounds interleaved
between the rows, so that load on a shared machine hits every row alike) and
reports the median. Rows:

* ``from sttn_keras.export import Interpreter``: the sttn runtime;
* ``from ai_edge_litert.interpreter import Interpreter``: the stock one;
* ``import sttn_keras`` and ``import sttn_keras.layers`` (the training side,
  which loads Keras and its backend) for reference;
* ``sttn-benchmark --help`` and ``sttn-benchmark model.tflite --num_runs 10``
  as whole processes (start-up included, beside ``python -c pass``), with
  whether TensorFlow's start-up lines appear on their stderr (run with
  ``TF_CPP_MIN_LOG_LEVEL`` unset, so that they would).

For the import rows the child times the statement itself
(``time.perf_counter`` and ``time.process_time`` around ``exec``) and reports
``len(sys.modules)`` and whether ``tensorflow`` / ``keras`` were imported;
for the process rows the parent reads the child's wall time and its user +
system CPU time (``getrusage(RUSAGE_CHILDREN)``). Module counts do not depend
on the machine's load; CPU time depends on it less than wall time does. The model for the ``sttn-benchmark`` row is
``sttn_keras.models.small_cnn`` exported once, in a separate process, to a
temporary folder (``--model PATH`` uses a given ``.tflite`` instead).

Usage::

    nice -n 10 python benchmarks/import_time.py [--reps 7] [--out benchmarks/results]

Writes ``import_time.md`` and ``import_time.json`` in ``--out`` (``--name``
another stem, ``--note`` a sentence for the header).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

IMPORTS = (
    ("sttn runtime", "from sttn_keras.export import Interpreter"),
    ("stock LiteRT", "from ai_edge_litert.interpreter import Interpreter"),
    ("sttn package", "import sttn_keras"),
    ("sttn training side", "import sttn_keras.layers"),
)
_CHILD = """
import json, sys, time
t, c = time.perf_counter(), time.process_time()
exec(compile(sys.argv[1], "<import>", "exec"))
dt, dc = time.perf_counter() - t, time.process_time() - c
print(json.dumps({"s": dt, "cpu_s": dc, "modules": len(sys.modules),
                  "tensorflow": "tensorflow" in sys.modules,
                  "keras": "keras" in sys.modules}))
"""
# Lines TensorFlow prints while it starts (absl / cpu_feature_guard / oneDNN).
_TF_LOG_MARKERS = ("cpu_feature_guard", "oneDNN", "tensorflow/", "TensorFlow binary")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # TensorFlow's lines would show
    return env


def _import_once(statement: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, statement],
        capture_output=True,
        text=True,
        env=_env(),
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["tf_log_lines"] = any(m in out.stderr for m in _TF_LOG_MARKERS)
    return result


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _process_once(argv: list[str]) -> dict:
    t, c = time.perf_counter(), _children_cpu()
    out = subprocess.run(argv, capture_output=True, text=True, env=_env(), check=True)
    return {
        "s": time.perf_counter() - t,
        "cpu_s": _children_cpu() - c,
        "tf_log_lines": any(m in out.stderr for m in _TF_LOG_MARKERS),
    }


def _build_model(folder: str) -> str:
    path = os.path.join(folder, "small_cnn.tflite")
    script = (
        "import sys, sttn_keras as sttn\n"
        "m = sttn.models.small_cnn(input_shape=(28, 28, 1), num_classes=10)\n"
        "sttn.export.to_tflite(m, sys.argv[1])\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([sys.executable, "-c", script, path], check=True, env=env)
    return path


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def measure(reps: int, model: str) -> list[dict]:
    cli = os.path.join(os.path.dirname(sys.executable), "sttn-benchmark")
    processes = (
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("sttn-benchmark --help", [cli, "--help"]),
        (
            "sttn-benchmark model.tflite --num_runs 10",
            [cli, model, "--num_runs", "10", "--warmup_runs", "2"],
        ),
    )
    samples: dict[str, list] = {label: [] for label, _ in IMPORTS + processes}
    for _ in range(reps):  # interleaved rounds
        for label, statement in IMPORTS:
            samples[label].append(_import_once(statement))
        for label, argv in processes:
            samples[label].append(_process_once(argv))
    rows = []
    whats = [(label, statement) for label, statement in IMPORTS] + [
        (label, "whole process: " + " ".join(os.path.basename(a) for a in argv))
        for label, argv in processes
    ]
    for label, what in whats:
        runs = samples[label]
        row = {
            "row": label,
            "what": what,
            "median_s": statistics.median(r["s"] for r in runs),
            "min_s": min(r["s"] for r in runs),
            "median_cpu_s": statistics.median(r["cpu_s"] for r in runs),
            "tf_log_lines": any(r["tf_log_lines"] for r in runs),
        }
        if "modules" in runs[-1]:
            row.update({k: runs[-1][k] for k in ("modules", "tensorflow", "keras")})
        rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| row | measured | median s | min s | median CPU s | modules | tensorflow "
        "| keras | TF log lines |",
        "|---|---|---:|---:|---:|---:|---|---|---|",
    ]
    yes_no = {True: "yes", False: "no", None: ""}
    for r in rows:
        lines.append(
            f"| {r['row']} | `{r['what']}` | {r['median_s']:.3f} | {r['min_s']:.3f} | "
            f"{r['median_cpu_s']:.3f} | "
            f"{r.get('modules', '')} | {yes_no[r.get('tensorflow')]} | "
            f"{yes_no[r.get('keras')]} | {yes_no[r['tf_log_lines']]} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reps", type=int, default=7, help="fresh processes per row")
    p.add_argument("--model", default=None, help="a .tflite for sttn-benchmark")
    p.add_argument("--out", default=os.path.join("benchmarks", "results"))
    p.add_argument("--name", default="import_time", help="file name, without suffix")
    p.add_argument("--note", default="", help="a sentence for the header")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or _build_model(tmp)
        rows = measure(args.reps, model)
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"
        ),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "reps": args.reps,
        "versions": {
            d: _version(d)
            for d in (
                "ai-edge-litert",
                "tensorflow",
                "tensorflow-cpu",
                "keras",
                "numpy",
                "sttn-keras",
            )
            if _version(d) != "not installed"
        },
    }
    text = (
        "# Import time: the sttn runtime against the stock LiteRT interpreter\n\n"
        f"{meta['date']}; Python {meta['python']} on {meta['machine']} "
        f"({meta['cpu_count']} CPUs); "
        + ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
        + f". Median and minimum of {args.reps} fresh processes per row, rounds "
        "interleaved; `CPU s`: user + system time of the import (or of the whole "
        "process); `modules` is `len(sys.modules)` after the import "
        "(the interpreter's own start-up modules included). Produced by "
        "`benchmarks/import_time.py`; the process rows are whole processes "
        "(interpreter start-up included), `TF log lines`: TensorFlow's start-up "
        "lines on stderr (`TF_CPP_MIN_LOG_LEVEL` unset). "
        + args.note
        + "\n\n"
        + table(rows)
        + "\n"
    )
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, args.name + ".md"), "w", encoding="utf-8") as f:
        f.write(text)
    with open(os.path.join(args.out, args.name + ".json"), "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
