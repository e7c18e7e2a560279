"""Our Python runtime on aarch64: the ``Interpreter`` under qemu-aarch64.

An aarch64 Python 3.11 (Debian's arm64 packages) with numpy and the
``ai-edge-litert`` aarch64 wheel from PyPI, and our library cross-compiled
with ``aarch64-linux-gnu-g++`` (``tests/qemu_user.py``; all cached under
``.venv/qemu/``, about 45 MB, built on the first run), runs the spot-check
models of ``tests/test_litert_versions.py`` (every op family, ternary and
float inputs, strides, padding, depth multiplier, batches) through
``sttn_keras.export.Interpreter`` on the reference, portable, NEON and
optimized kernels with 1 and 3 threads, under ``qemu-aarch64 -cpu
cortex-a76``. Their inputs are exact in float32, so the outputs must equal
the NumPy oracle and this host's (x86-64) outputs bit for bit.

Cost: about 30-60 s on the 2-core CI machine once the cache exists (the
first run adds the downloads and a cross-compile of about a minute).
Skipped, with the reason, where qemu-user, the cross compiler or apt's
arm64 architecture is missing (``make setup`` installs them).

Also: the instruction-counting plugin of ``benchmarks/isa_cost.py`` counts
exactly, under qemu-aarch64 and qemu-x86_64 (about 1 s).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from tests import qemu_user

KERNELS = ("reference", "portable", "neon", "optimized")
THREADS = (1, 3)


def test_interpreter_on_aarch64_matches_x86(tmp_path):
    why = qemu_user.missing_tools("aarch64")
    if why:
        pytest.skip(why)
    from sttn_keras.export import Interpreter
    from tests.test_litert_versions import spot_checks

    site = str(tmp_path / "site")
    qemu_user.installed_layout(site)
    cases = spot_checks()
    jobs, expected = [], {}
    for name, model, x, want in cases:
        (tmp_path / f"{name}.tflite").write_bytes(model)
        np.save(tmp_path / f"{name}.x.npy", x)
        host = Interpreter(model, kernel="optimized").predict(x)
        np.testing.assert_array_equal(host, want, err_msg=f"x86-64 {name}")
        for kernel in KERNELS:
            for threads in THREADS:
                out = str(tmp_path / f"{name}.{kernel}.{threads}.npy")
                expected[out] = (f"{name}/{kernel}/{threads}", host)
                jobs.append(
                    {
                        "model": str(tmp_path / f"{name}.tflite"),
                        "form": "sttn",
                        "kernel": kernel,
                        "threads": threads,
                        "inputs": [str(tmp_path / f"{name}.x.npy")],
                        "runs": 1,
                        "output": out,
                    }
                )
    spec = tmp_path / "jobs.json"
    spec.write_text(json.dumps({"maps": None, "jobs": jobs}))
    guest = os.path.join(qemu_user.ROOT, "tests", "qemu", "guest_run.py")
    run = qemu_user.run_guest(
        "aarch64", "cortex-a76", guest, [str(spec)], site, timeout=600
    )
    assert run.returncode == 0 and f"GUEST_OK {len(jobs)}" in run.stdout, (
        run.stdout[-2000:] + run.stderr[-3000:]
    )
    for out, (label, host) in expected.items():
        np.testing.assert_array_equal(np.load(out), host, err_msg=label)


@pytest.mark.parametrize(
    "arch,cpu,cc",
    [
        ("aarch64", "cortex-a76", "aarch64-linux-gnu-gcc"),
        ("x86_64", "Haswell", "gcc"),
    ],
)
def test_counting_plugin_is_exact(tmp_path, arch, cpu, cc):
    """The counting plugin of benchmarks/isa_cost.py counts what runs between
    two checkpoints exactly: a two-instruction loop run 1000 and 3000 times
    (tests/qemu/count_loop.c, static) differs by 4000 instructions."""
    import shutil
    import subprocess

    if not os.path.exists(qemu_user.QEMU[arch]) or shutil.which(cc) is None:
        pytest.skip(f"{qemu_user.QEMU[arch]} or {cc} not installed (make setup)")
    binary = str(tmp_path / "count_loop")
    source = os.path.join(qemu_user.ROOT, "tests", "qemu", "count_loop.c")
    build = subprocess.run(
        [cc, "-static", "-O1", source, "-o", binary], capture_output=True, text=True
    )
    assert build.returncode == 0, build.stderr[-2000:]
    deltas = []
    for n in (1000, 3000):
        counts = str(tmp_path / f"counts-{n}")
        cmd = [qemu_user.QEMU[arch], "-cpu", cpu]
        cmd += ["-plugin", f"{qemu_user.plugin()},out={counts}", binary, str(n)]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr[-2000:]
        checkpoints = qemu_user.read_counts(counts)
        assert len(checkpoints) == 3  # two markers and the exit
        total, blocks = qemu_user.difference(checkpoints[0], checkpoints[1])
        assert total == sum(blocks.values())
        deltas.append(total)
    assert deltas[1] - deltas[0] == 2 * (3000 - 1000), deltas
