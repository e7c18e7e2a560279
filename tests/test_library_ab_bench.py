"""benchmarks/library_ab.py: two builds of the native library in one process
(here the same build twice, on a committed model with a packed chain), its
table, its per-round times and its argument checks. The timing itself is
what the script is for; nothing here depends on it."""

import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import library_ab  # noqa: E402

from sttn_keras.export import native_library  # noqa: E402

MODEL = os.path.join(
    ROOT, "tests", "fuzz", "corpus", "models", "exported_packed_chain_trit2.tflite"
)


def test_runs_both_libraries_and_writes_table_and_times(tmp_path):
    lib = native_library.library_path()
    out = tmp_path / "ab.md"
    argv = [lib, lib, "--model", MODEL, "--threads", "2,1", "--rounds", "2"]
    argv += ["--block", "2", "--pause", "0", "--out", str(out)]
    assert library_ab.main(argv) == 0
    text = out.read_text()
    assert "| threads | A ms | B ms | A / B (p25-p75) |" in text
    assert "A: 1 -> 2 threads" in text and "B: 1 -> 2 threads" in text
    raw = json.loads((tmp_path / "ab.json").read_text())
    assert sorted(raw["seconds"]) == ["A1", "A2", "B1", "B2"]
    assert all(len(v) == 2 and min(v) > 0 for v in raw["seconds"].values())


def test_table_ratios_are_medians_of_per_round_ratios():
    times = {("A", 1): [4.0, 6.0, 8.0], ("B", 1): [2.0, 2.0, 2.0]}
    times.update({("A", 2): [2.0, 3.0, 4.0], ("B", 2): [1.0, 1.0, 1.0]})
    text = "\n".join(library_ab.table(times, ["A", "B"], [1, 2]))
    assert "| 1 | 6000.000 | 2000.000 | **3.000**" in text
    assert "A: 1 -> 2 threads 2.000x" in text and "B: 1 -> 2 threads 2.000x" in text


def test_bad_arguments_are_named(capsys):
    lib = native_library.library_path()
    with pytest.raises(SystemExit):
        library_ab.main([lib, lib, "--threads", "0,1"])
    assert (
        "--threads must be positive integers, received '0,1'" in capsys.readouterr().err
    )


def test_idle_fraction_is_a_fraction():
    assert 0.0 <= library_ab._cpu_idle_fraction(0.05) <= 1.0
