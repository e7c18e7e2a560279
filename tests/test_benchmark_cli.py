"""``sttn-benchmark`` (export/benchmark_cli.py) on a small exported model."""

from __future__ import annotations

import os
import re

import pytest

from tests.helpers import small_conv_tflite

benchmark_cli = pytest.importorskip("sttn_keras.export.benchmark_cli")


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    data = small_conv_tflite()
    path = tmp_path_factory.mktemp("bench") / "conv.tflite"
    path.write_bytes(data)
    return str(path)


def test_prints_init_latency_and_per_op(model_path, capsys):
    assert (
        benchmark_cli.run(
            [
                model_path,
                "--num_runs",
                "7",
                "--warmup_runs",
                "1",
                "--num_threads",
                "2",
                "--batch",
                "3",
                "--per_op",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "input: [3, 8, 8, 4] int32; threads: 2" in out
    assert re.search(r"init: [0-9.]+ ms", out)
    m = re.search(r"latency over 7 runs: median ([0-9.]+) ms, mean ([0-9.]+) ms", out)
    assert m and float(m.group(1)) > 0
    # The one sttn op, invoked once per run, from the kernels' counters.
    assert re.search(r"SttnConv2D\s+1\s+[0-9.]+", out), out


def test_every_supported_kernel_runs(model_path, capsys):
    from sttn_keras.export import runtime

    for kernel in runtime.supported_kernels():
        assert (
            benchmark_cli.run([model_path, "--num_runs", "2", "--kernel", kernel]) == 0
        )
    assert capsys.readouterr().out.count("latency over 2 runs") == len(
        runtime.supported_kernels()
    )


def test_bad_file_and_bad_arguments(tmp_path, model_path, capsys):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a model at all")
    assert benchmark_cli.run([str(bad)]) == 1
    assert "TFL3" in capsys.readouterr().err
    assert benchmark_cli.run([os.path.join(str(tmp_path), "missing.tflite")]) == 1
    with pytest.raises(SystemExit) as e:
        benchmark_cli.run([model_path, "--num_runs", "0"])
    assert e.value.code == 2
    assert (
        "--num_runs must be a positive integer, received 0" in capsys.readouterr().err
    )
