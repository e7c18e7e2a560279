"""benchmarks/e2e.py's table: the AVX2 column beside the best path (issue 16,
part 5), from synthetic results (the timing itself is `make bench`'s)."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import e2e  # noqa: E402

META = {
    "rounds": 3,
    "date": "2026-12-03",
    "cpu": "test cpu",
    "cores": 2,
    "ai_edge_litert": "2.3.0",
    "sttn_optimized_kernel": "avx512",
    "commit": "abc",
    "xnnpack_simd": "AVX-512",
}


def _row(threads, avx2):
    row = {
        "threads": threads,
        "sttn_ms": 2.0,
        "float32_ms": 6.0,
        "int8_ms": 4.0,
        "float32_over_sttn": 3.0,
        "int8_over_sttn": 2.0,
    }
    if avx2:
        row.update(
            {
                "sttn_avx2_ms": 3.0,
                "float32_over_sttn_avx2": 2.0,
                "int8_over_sttn_avx2": 4.0 / 3.0,
            }
        )
    return row


def test_avx2_column_is_labelled_with_the_baselines_simd():
    res = [{"description": "m", "bytes": {"sttn": 1, "float32": 4, "int8": 2}}]
    res[0]["rows"] = [_row(1, True), _row(2, True)]
    md = e2e.to_markdown(res, META)
    assert "sttn avx2 ms | float32 / sttn avx2 | int8 / sttn avx2 |" in md
    assert '`Interpreter(kernel="avx2")`' in md and "use AVX-512 here" in md
    assert "| m | 2 | 2.000 | 6.000 | 4.000 | **3.00x** | **2.00x** | 3.000 |" in md
    assert "**1.33x** |" in md


def test_no_avx2_column_where_it_is_the_best_path():
    res = [{"description": "m", "bytes": {"sttn": 1, "float32": 4, "int8": 2}}]
    res[0]["rows"] = [_row(1, False)]
    md = e2e.to_markdown(
        res, {**META, "sttn_optimized_kernel": "avx2", "xnnpack_simd": "AVX2"}
    )
    assert "sttn avx2" not in md and "(AVX2 kernels on this CPU)" in md
    assert md.splitlines()[4].count("|") == 8  # the 7-column table
