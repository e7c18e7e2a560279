"""The accuracy benchmark end to end on subsets (accuracy.py --quick)."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = os.environ.get("STTN_DATA_DIR", "")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (DATA_DIR and os.path.isdir(os.path.join(DATA_DIR, "fashion-mnist"))),
        reason="needs the local data copies in $STTN_DATA_DIR (offline machines)",
    ),
]


def test_quick_benchmark_writes_sane_results(tmp_path):
    out = tmp_path / "results"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "benchmarks", "accuracy.py"),
            "--quick",
            # Fashion-MNIST only: the CIFAR-10 path is the same training code
            # on datasets.load_cifar10_jpeg (tests/test_datasets.py); it cost
            # this test half of its three minutes on the 2-core machine.
            "--datasets",
            "fashion_mnist",
            "--out",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]

    report = json.loads((out / "accuracy.json").read_text())
    assert report["quick"] is True
    assert set(report["datasets"]) == {"fashion_mnist"}
    for ds in report["datasets"].values():
        cfg = ds["config"]
        runs = ds["runs"]
        assert len(runs) == 3 * len(cfg["seeds"])
        for run in runs:
            assert len(run["test_acc_per_epoch"]) == cfg["epochs"]
            assert 0.0 <= run["test_acc"] <= 1.0
            # The final accuracy before BN recalibration is recomputed from
            # the model's predictions: it must agree with the last per-epoch
            # validation accuracy. The headline number is after it.
            assert run["test_acc_no_recal"] == pytest.approx(
                run["test_acc_per_epoch"][-1], abs=2e-3
            )
            assert 0.0 <= run["test_acc_no_recal"] <= 1.0
            assert run["recal_max_abs_mean_change"] > 0
            if run["variant"] == "float":
                assert run["zero_trit_fraction"] is None
            else:
                # Ternary kernels really have zeros, and not only zeros.
                assert 0.05 < run["zero_trit_fraction"] < 0.95
        summary = ds["summary"]
        assert set(summary) == {"float", "TWN", "STTN"}
        assert set(ds["summary_no_recal"]) == {"float", "TWN", "STTN"}
        # Same architecture: STTN has one extra latent kernel per ternary layer.
        params = {r["variant"]: r["trainable_params"] for r in runs}
        assert params["float"] == params["TWN"] < params["STTN"]
    fm = report["datasets"]["fashion_mnist"]
    # Even two epochs on 2048 images learn something (chance is 10%).
    assert fm["summary"]["float"]["mean"] > 0.4
    assert fm["summary"]["TWN"]["mean"] > 0.25
    assert fm["summary"]["STTN"]["mean"] > 0.25
    assert "checks" in fm and len(fm["config"]["seeds"]) == 2

    markdown = (out / "accuracy.md").read_text()
    assert "--quick" in markdown and "not a result" in markdown
    # One table with BN recalibration, one without.
    assert markdown.count("| Fashion-MNIST |") == 2
    assert "Without BatchNorm recalibration" in markdown

    png = (out / "accuracy.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
