"""Builds and runs the C++ unit test of the TFLite-free core, with sanitizers.

``tests/cc/core_test.cc`` (GoogleTest) links only the ``core_test`` sources of
``export/native_build.json`` (the core and the FlexBuffer reader); it is
compiled with ``-fsanitize=address,undefined`` so a stray read, overflow or UB
in the math fails the test, and cross-compiled for aarch64 and run under qemu.
Sources and flags come from the manifest (``tests/native.py``), as for
``setup.py``, ``BUILD`` and the Android CMake. Skipped when no C++ compiler is
installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.native import ROOT as REPO
from tests.native import abs_sources, compile_objects, gtest_libs, link, native_build


def _compiler() -> str | None:
    for name in (os.environ.get("CXX"), "g++", "clang++"):
        if name and shutil.which(name):
            return name
    return None


def _host_compiler_and_gtest() -> tuple[str, list[str]]:
    """The host C++ compiler and its GoogleTest link flags, or a skip saying
    which is missing."""
    cxx = _compiler()
    if cxx is None:
        pytest.skip("no C++ compiler (g++ or clang++) on PATH")
    libs, why = gtest_libs(cxx, native=True)
    if libs is None:
        pytest.skip(why)
    return cxx, libs


def _check_gtest_run(run: subprocess.CompletedProcess, isas: tuple[str, ...]) -> None:
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert "[  PASSED  ]" in run.stdout and "[  FAILED  ]" not in run.stdout, (
        run.stdout[-4000:]
    )
    # Every ISA path this CPU runs was exercised (the per-ISA suites' names).
    for isa in isas:
        assert f"IsaTest.Conv2DTernaryMatchesReference/{isa} (" in run.stdout, (
            run.stdout[-4000:]
        )


# -g1: line tables (file:line in every sanitizer report) without the
# variable locations of -g, whose var-tracking passes took 28 of the 102 CPU s
# that g++ -O3 with these sanitizers spends on the AVX2 table kernels.
SANITIZE = [
    "-g1",
    "-fno-omit-frame-pointer",
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
]
# The GoogleTest program itself (tests/cc/core_test.cc) is compiled once per
# compiler at -O0: its many TEST bodies take several times longer to optimize
# than the kernels, whose optimization levels are what the variants vary.
_TEST_OBJECTS: dict[tuple, list[str]] = {}
TEST_DIR = os.path.join(REPO, "tests", "cc") + os.sep


def _program(
    cxx: str,
    opt: str,
    extra: list[str],
    libs: list[str],
    out,
    prebuilt: dict[str, str] | None = None,
) -> str:
    """core_test: the kernels at ``opt``, the tests at -O0, linked with
    ``libs``. ``prebuilt`` maps kernel sources to objects already built
    (with ``opt`` and ``extra``), which are linked instead of compiled."""
    sources = abs_sources("core_test")
    kernels = [s for s in sources if not s.startswith(TEST_DIR)]
    tests = [s for s in sources if s.startswith(TEST_DIR)]
    flags = [*native_build.copts(library=False), *extra, "-Werror"]
    key = (cxx, tuple(flags))
    prebuilt = prebuilt or {}
    units = [(k, [opt, *flags]) for k in kernels if k not in prebuilt]
    if key not in _TEST_OBJECTS:
        units += [(t, ["-O0", *flags]) for t in tests]
    objects = compile_objects(cxx, units, str(out / "obj"))
    if key not in _TEST_OBJECTS:
        # Kept beside the first binary, for the other variants of this session.
        compiled = len(units) - len(tests)
        _TEST_OBJECTS[key] = objects[compiled:]
        objects = objects[:compiled]
    objects += [prebuilt[k] for k in kernels if k in prebuilt]
    binary = str(out / "core_test")
    link(cxx, [*objects, *_TEST_OBJECTS[key]], [*extra, *libs], binary)
    return binary


@pytest.mark.parametrize("opt", ("-O1", "-O3"))
def test_core_cc_with_sanitizers(tmp_path, opt):
    cxx, libs = _host_compiler_and_gtest()
    prebuilt = None
    if opt == "-O1":
        # The kernels of the ASan+UBSan library build (tests/fuzz/
        # model_fuzz.py; built once per run, shared with the fuzz smoke test
        # and test_full_library_under_sanitizers_in_the_runtime): -O1, these
        # sanitizers, -g1, -Werror, plus the library's own flags (-fPIC,
        # hidden visibility, no exceptions). Compiling them here again cost
        # about 30 CPU s of `make test`.
        from tests.fuzz.model_fuzz import asan_objects

        prebuilt = asan_objects(cxx)
    binary = _program(cxx, opt, SANITIZE, libs, tmp_path, prebuilt)
    env = {
        **os.environ,
        "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
        "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
    }
    run = subprocess.run(
        [binary], check=False, capture_output=True, text=True, timeout=600, env=env
    )
    x86 = os.uname().machine == "x86_64"
    _check_gtest_run(run, ("portable", "popcnt") if x86 else ())


def test_thread_pool_under_thread_sanitizer(tmp_path):
    """The pool's own test (tests/cc/threadpool_test.cc) linked with the pool
    alone, built with -fsanitize=thread: a data race in its lock-free
    hand-off of jobs fails the test (a few seconds to build, unlike the
    whole core under TSan)."""
    cxx, libs = _host_compiler_and_gtest()
    pool = os.path.join(REPO, "export", "core", "threadpool.cc")
    test = os.path.join(TEST_DIR, "threadpool_test.cc")
    assert pool in abs_sources("core_test") and test in abs_sources("core_test")
    flags = [*native_build.copts(library=False), "-O1", "-g", "-Werror"]
    tsan = ["-fsanitize=thread"]
    objects = compile_objects(
        cxx, [(pool, [*flags, *tsan]), (test, [*flags, *tsan])], str(tmp_path / "obj")
    )
    binary = str(tmp_path / "threadpool_test")
    link(cxx, objects, [*tsan, *libs], binary)
    run = subprocess.run(
        [binary],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TSAN_OPTIONS": "halt_on_error=1:exitcode=66"},
    )
    out = run.stdout[-4000:] + run.stderr[-4000:]
    assert run.returncode == 0, out
    assert "ThreadSanitizer" not in run.stderr, out
    assert "[  PASSED  ] 2 tests." in run.stdout, out


AARCH64_CXX = "aarch64-linux-gnu-g++"
QEMU = "qemu-aarch64-static"


def test_core_cc_on_aarch64_under_qemu(tmp_path):
    """Cross-compiles the core test for aarch64 (NEON micro-kernels included)
    with -Wall -Werror and runs it under qemu-user: the NEON and portable
    paths must match the reference kernels bit for bit. ``make setup``
    installs g++-aarch64-linux-gnu and qemu-user-static from Debian."""
    if shutil.which(AARCH64_CXX) is None or shutil.which(QEMU) is None:
        pytest.skip(f"{AARCH64_CXX} or {QEMU} not installed (make setup installs them)")
    # GoogleTest for aarch64: built from Debian's sources, cached in build/.
    libs, why = gtest_libs(AARCH64_CXX, native=False)
    if libs is None:
        pytest.skip(why)
    binary = _program(AARCH64_CXX, "-O2", [], libs, tmp_path)
    run = subprocess.run(
        [QEMU, "-L", "/usr/aarch64-linux-gnu", binary],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    _check_gtest_run(run, ("portable", "neon"))


def test_whole_library_compiles_for_aarch64():
    """Every native source (core, op glue, host layer) builds for aarch64 with
    -Wall -Werror at the aarch64 wheel's release flags, and links into the
    shared library with its version script. This is the library
    tests/test_qemu_aarch64.py runs under qemu (``qemu_user.library``,
    cached per source hash under .venv/qemu/ with a file lock): built once
    per run for both tests instead of twice (about 25 CPU s). The Android
    app's sources are built for aarch64 at the app's -O2 -Wall -Werror by
    tests/test_android.py."""
    if shutil.which(AARCH64_CXX) is None:
        pytest.skip(f"{AARCH64_CXX} not installed (make setup installs it)")
    from tests import qemu_user

    lib = qemu_user.library("aarch64")
    assert os.path.getsize(lib) > 0, lib


@pytest.mark.slow
def test_full_library_under_sanitizers_in_the_runtime(tmp_path):
    """Builds core + glue + host layer with ASan/UBSan and reruns the kernel
    grid and bad-model tests inside ai-edge-litert with that library
    (``STTN_OPS_LIBRARY``, sanitizer runtimes preloaded)."""
    cxx = _compiler()
    if cxx is None or "g++" not in cxx:
        pytest.skip("needs g++ (for -print-file-name of the sanitizer runtimes)")
    # The same build as the whole-model fuzzer's (tests/fuzz/model_fuzz.py),
    # cached in build/fuzz/asan/ and built once per source change, one object
    # per source (the -O1 variant above links the core's objects from it).
    from tests.fuzz.model_fuzz import asan_library

    lib = asan_library(cxx)
    preload = []
    for name in ("libasan.so", "libubsan.so"):
        path = subprocess.run(
            [cxx, f"-print-file-name={name}"], capture_output=True, text=True
        ).stdout.strip()
        if not os.path.isabs(path):
            pytest.skip(f"{name} not found")
        preload.append(path)
    env = {
        **os.environ,
        "STTN_OPS_LIBRARY": str(lib),
        "LD_PRELOAD": " ".join(preload),
        "ASAN_OPTIONS": "detect_leaks=0",
        "UBSAN_OPTIONS": "halt_on_error=1",
    }
    import sys

    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-m",
            "not slow",
            os.path.join(REPO, "tests", "test_kernels.py"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        cwd=REPO,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert " passed" in run.stdout
