"""Smoke test of benchmarks/kernels.py (sttn kernels vs TFLite builtins)."""

import json
import math
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_quick_kernel_benchmark_writes_positive_finite_results(tmp_path):
    out = tmp_path / "results"
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "benchmarks", "kernels.py"),
            "--quick",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    md = (out / "kernels.md").read_text()
    result = json.loads((out / "kernels.json").read_text())

    meta = result["meta"]
    assert meta["threads"] == 1 and meta["quick"] is True
    assert meta["versions"]["ai_edge_litert"] and meta["machine"]["cpu"]
    rows = result["rows"]
    assert len(rows) >= 2
    for row in rows:
        assert row["case"] in md
        # Ours, both interpreters for both baselines, and the oracle on these
        # small shapes; every time and ratio is a positive finite number.
        for name in (
            "sttn opt",
            "sttn ref",
            "f32 xnnpack",
            "f32 builtin",
            "int8 xnnpack",
            "int8 builtin",
        ):
            for key in ("ms", "cpu_ms"):
                assert math.isfinite(row[key][name]) and row[key][name] > 0, (row, name)
            if name != "sttn opt":
                for key in ("ratio", "cpu_ratio"):
                    assert math.isfinite(row[key][name]) and row[key][name] > 0
        # The timed sttn graph includes the ternarize op; the xnnpack
        # variants really ran under the delegate, the builtin ones did not.
        assert row["ops"]["sttn opt"][0] == "SttnTernarize"
        assert "DELEGATE" in row["ops"]["f32 xnnpack"]
        assert "DELEGATE" not in row["ops"]["f32 builtin"]
        assert "QUANTIZE" in row["ops"]["int8 builtin"]
