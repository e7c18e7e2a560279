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
    cmd = [cxx, "-std=c++17", opt, "-g", "-fno-omit-frame-pointer", "-pthread",
           "-ffp-contract=off", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
           "-Wall", "-Wextra", "-Werror", "-I", REPO, *sources, "-o", str(binary)]
    build = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-4000:]
    env = {**os.environ, "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
    run = subprocess.run([str(binary)], capture_output=True, text=True, timeout=600,
                         env=env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    assert "0 failures" in run.stdout, run.stdout
    # Every ISA path this CPU runs was exercised (x86-64: at least these).
    if os.uname().machine == "x86_64":
        assert "portable" in run.stdout and "popcnt" in run.stdout, run.stdout


AARCH64_CXX = "aarch64-linux-gnu-g++"
QEMU = "qemu-aarch64-static"


def test_core_cc_on_aarch64_under_qemu(tmp_path):
    """Cross-compiles the core test for aarch64 (NEON micro-kernels included)
    with -Wall -Werror and runs it under qemu-user: the NEON and portable
    paths must match the reference kernels bit for bit. ``make setup``
    installs g++-aarch64-linux-gnu and qemu-user-static from Debian."""
    if shutil.which(AARCH64_CXX) is None or shutil.which(QEMU) is None:
        pytest.skip(f"{AARCH64_CXX} or {QEMU} not installed (make setup installs them)")
    sources = sorted(glob.glob(os.path.join(REPO, "export", "core", "*.cc")))
    sources += [os.path.join(REPO, "export", "tflite", "flexbuffer_map.cc"),
                os.path.join(REPO, "tests", "cc", "core_test.cc")]
    binary = tmp_path / "core_test_aarch64"
    build = subprocess.run(
        [AARCH64_CXX, "-std=c++17", "-O2", "-pthread", "-ffp-contract=off", "-Wall",
         "-Wextra", "-Werror", "-I", REPO, *sources, "-o", str(binary)],
        capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-4000:]
    run = subprocess.run([QEMU, "-L", "/usr/aarch64-linux-gnu", str(binary)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "0 failures" in run.stdout, run.stdout
    assert "neon" in run.stdout, run.stdout


def test_whole_library_compiles_for_aarch64(tmp_path):
    """Every native source (core, op glue, host layer) builds for aarch64 with
    -Wall -Werror, as the Android app and the aarch64 wheel compile them."""
    if shutil.which(AARCH64_CXX) is None:
        pytest.skip(f"{AARCH64_CXX} not installed (make setup installs it)")
    sources = []
    for folder in ("core", "tflite", "host"):
        sources += sorted(glob.glob(os.path.join(REPO, "export", folder, "*.cc")))
    lib = tmp_path / "libsttn_ops_aarch64.so"
    build = subprocess.run(
        [AARCH64_CXX, "-std=c++17", "-O2", "-fPIC", "-shared", "-pthread",
         "-fvisibility=hidden", "-fno-exceptions", "-ffp-contract=off", "-Wall", "-Wextra",
         "-Werror", "-I", REPO, *sources, "-o", str(lib)],
        capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-4000:]


@pytest.mark.slow
def test_full_library_under_sanitizers_in_the_runtime(tmp_path):
    """Builds core + glue + host layer with ASan/UBSan and reruns the kernel
    grid and bad-model tests inside ai-edge-litert with that library
    (``STTN_OPS_LIBRARY``, sanitizer runtimes preloaded)."""
    cxx = _compiler()
    if cxx is None or "g++" not in cxx:
        pytest.skip("needs g++ (for -print-file-name of the sanitizer runtimes)")
    sources = []
    for folder in ("core", "tflite", "host"):
        sources += sorted(glob.glob(os.path.join(REPO, "export", folder, "*.cc")))
    lib = tmp_path / "sttn_ops_asan.so"
    cmd = [cxx, "-std=c++17", "-O1", "-g", "-fno-omit-frame-pointer", "-fPIC", "-shared",
           "-pthread", "-ffp-contract=off",
           "-fvisibility=hidden", "-fno-exceptions", "-fsanitize=address,undefined",
           "-fno-sanitize-recover=all", "-I", REPO, *sources,
           "-Wl,--version-script=" + os.path.join(REPO, "export", "host", "exports.map"),
           "-o", str(lib)]
    build = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-4000:]
    preload = []
    for name in ("libasan.so", "libubsan.so"):
        path = subprocess.run([cxx, f"-print-file-name={name}"], capture_output=True,
                              text=True).stdout.strip()
        if not os.path.isabs(path):
            pytest.skip(f"{name} not found")
        preload.append(path)
    env = {**os.environ, "STTN_OPS_LIBRARY": str(lib), "LD_PRELOAD": " ".join(preload),
           "ASAN_OPTIONS": "detect_leaks=0", "UBSAN_OPTIONS": "halt_on_error=1"}
    import sys
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow",
         os.path.join(REPO, "tests", "test_kernels.py")],
        capture_output=True, text=True, timeout=900, env=env, cwd=REPO)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert " passed" in run.stdout
