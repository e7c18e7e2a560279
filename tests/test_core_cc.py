"""Builds and runs the C++ unit test of the TFLite-free core with sanitizers.

``tests/cc/core_test.cc`` links only ``export/core/*.cc`` and the FlexBuffer
reader; it is compiled with ``-fsanitize=address,undefined`` so a stray read,
overflow or UB in the math fails the test. Skipped when no C++ compiler is
installed.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _compiler() -> str | None:
    for name in (os.environ.get("CXX"), "g++", "clang++"):
        if name and shutil.which(name):
            return name
    return None


@pytest.mark.parametrize("opt", ("-O1", "-O3"))
def test_core_cc_with_sanitizers(tmp_path, opt):
    cxx = _compiler()
    if cxx is None:
        pytest.skip("no C++ compiler (g++ or clang++) on PATH")
    sources = sorted(glob.glob(os.path.join(REPO, "export", "core", "*.cc")))
    sources += [
        os.path.join(REPO, "export", "tflite", "flexbuffer_map.cc"),
        os.path.join(REPO, "tests", "cc", "core_test.cc"),
    ]
    binary = tmp_path / "core_test"
    cmd = [cxx, "-std=c++17", opt, "-g", "-fno-omit-frame-pointer",
           "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
           "-Wall", "-Wextra", "-Werror", "-I", REPO, *sources, "-o", str(binary)]
    build = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-4000:]
    env = {**os.environ, "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
    run = subprocess.run([str(binary)], capture_output=True, text=True, timeout=600,
                         env=env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    assert "0 failures" in run.stdout, run.stdout
