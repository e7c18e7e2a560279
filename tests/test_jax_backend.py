"""The layer and quantizer tests again, under Keras 3's JAX backend.

The backend is fixed at import time, so the rerun happens in a subprocess.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def test_layers_and_quantizers_pass_under_jax():
    pytest.importorskip(
        "jax", reason="JAX is not installed (requirements-dev.txt installs it)"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(HERE / "test_layers.py"),
            str(HERE / "test_quantizers.py"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=HERE.parent,
    )
    tail = (result.stdout + result.stderr)[-4000:]
    assert result.returncode == 0, tail
    assert " passed" in result.stdout and "failed" not in result.stdout, tail
