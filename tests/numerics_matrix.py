"""``make test-numerics``: the tests that train or compare through a ternary
threshold, rerun under other float numerics on this one machine.

Each configuration is one pytest run (under ``nice -n 10``, one process) of
the same selection with environment switches (read by TensorFlow or by
tests/conftest.py):

* ``default``: this machine's defaults (oneDNN on, XLA where Keras picks it,
  the optimized sttn kernels);
* ``onednn-off``: ``TF_ENABLE_ONEDNN_OPTS=0`` (TensorFlow's own CPU kernels);
* ``no-jit``: ``STTN_TEST_JIT_COMPILE=0`` (Keras compiles without XLA);
* ``reference-kernels``: ``STTN_TEST_KERNEL=reference`` (Interpreter's
  default kernel: the reference loops, whose float-input sums run in
  another order than the optimized kernels);
* ``portable-kernels``: ``STTN_TEST_KERNEL=portable``.

A test that passes in one configuration and fails in another asserts one
machine's rounding. The table (pass/fail per test and configuration, with
the failing assertion) is printed and written to
``benchmarks/results/numerics.md``.

    python tests/numerics_matrix.py                        # the default selection
    python tests/numerics_matrix.py --configs default onednn-off -- tests/test_tfmot.py
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CONFIGS = {
    "default": {},
    "onednn-off": {"TF_ENABLE_ONEDNN_OPTS": "0"},
    "no-jit": {"STTN_TEST_JIT_COMPILE": "0"},
    "reference-kernels": {"STTN_TEST_KERNEL": "reference"},
    "portable-kernels": {"STTN_TEST_KERNEL": "portable"},
}

# Tests that train, or compare outputs through a ternary threshold with a
# float tolerance (grep of the suite for fit(, assert_allclose after a
# ternary layer, argmax agreement and accuracy bounds).
SELECTION = [
    "tests/test_tfmot.py::test_fashion_mnist_train_convert_export",
    "tests/test_recalibration_fmnist.py",
    "tests/test_fmnist_e2e.py",
    "tests/test_export_size.py",
    "tests/test_export.py",
    "tests/test_applications.py",
    "tests/test_training.py",
    "tests/test_recalibration.py",
    "tests/test_convert.py",
    "tests/test_distribute.py",
]


def run_config(name: str, tests: list[str], out_dir: str) -> dict[str, str]:
    xml = os.path.join(out_dir, f"{name}.xml")
    env = {**os.environ, **CONFIGS[name], "TF_CPP_MIN_LOG_LEVEL": "2"}
    cmd = [
        "nice",
        "-n",
        "10",
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
        f"--junitxml={xml}",
        *tests,
    ]
    t0 = time.monotonic()
    subprocess.run(cmd, cwd=ROOT, env=env, check=False, capture_output=True)
    print(f"{name}: {time.monotonic() - t0:.0f} s", flush=True)
    results = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        test = f"{case.get('classname')}::{case.get('name')}"
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        if failure is not None:
            message = (failure.get("message") or "").splitlines()
            results[test] = "FAIL: " + (message[0][:120] if message else "")
        elif case.find("skipped") is not None:
            results[test] = "skip"
        else:
            results[test] = "pass"
    return results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument(
        "--out", default=os.path.join(ROOT, "benchmarks", "results", "numerics.md")
    )
    p.add_argument("tests", nargs="*", help="pytest selection (default: SELECTION)")
    args = p.parse_args()
    tests = args.tests or SELECTION
    work = os.path.join(ROOT, "build", "numerics")
    os.makedirs(work, exist_ok=True)
    table = {name: run_config(name, tests, work) for name in args.configs}
    names = sorted({t for r in table.values() for t in r})
    lines = [
        "# Numerics matrix",
        "",
        f"`python tests/numerics_matrix.py` ({time.strftime('%Y-%m-%d', time.gmtime())}): "
        "each column reruns the selection under other float numerics "
        "(tests/numerics_matrix.py explains the switches).",
        "",
        "| test | " + " | ".join(args.configs) + " |",
        "|---|" + "---|" * len(args.configs),
    ]
    varies = 0
    for t in names:
        cells = [table[c].get(t, "-") for c in args.configs]
        if len({c.split(":")[0] for c in cells}) > 1:
            varies += 1
        if all(c in ("pass", "skip") for c in cells):
            continue
        lines.append(f"| {t} | " + " | ".join(cells) + " |")
    passed_everywhere = sum(
        all(table[c].get(t) in ("pass", "skip") for c in args.configs) for t in names
    )
    lines += [
        "",
        f"{len(names)} tests; {passed_everywhere} pass (or skip) in every configuration "
        f"(not listed); {varies} change outcome with the numerics.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    with open(args.out, "w") as f:
        f.write(text)
    return 0 if passed_everywhere == len(names) else 1


if __name__ == "__main__":
    sys.exit(main())
