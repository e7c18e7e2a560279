"""Helpers of the tests that compile the C++ sources themselves.

``native_build`` is ``export/native_build.py`` loaded by path (importing it
through ``sttn_keras`` would import Keras): the one list of sources and flags
that ``setup.py``, ``BUILD`` and the Android CMake use too.

``gtest_libs`` gives the GoogleTest link flags for a compiler: Debian's
``libgtest-dev`` for the host compiler, or for a cross compiler the same
GoogleTest release built from Debian's sources (``/usr/src/googletest``,
package ``googletest``, a dependency of ``libgtest-dev``) once and cached
under ``build/gtest/<target triple>/``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GTEST_SRC = "/usr/src/googletest/googletest"

_spec = importlib.util.spec_from_file_location(
    "_sttn_native_build", os.path.join(ROOT, "export", "native_build.py")
)
native_build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(native_build)


def abs_sources(target: str) -> list[str]:
    """``native_build.sources(target)`` as absolute paths."""
    return [os.path.join(ROOT, p) for p in native_build.sources(target)]


def _triple(cxx: str) -> str:
    return subprocess.run(
        [cxx, "-dumpmachine"], capture_output=True, text=True, check=True
    ).stdout.strip()


def gtest_libs(cxx: str, native: bool) -> tuple[list[str] | None, str]:
    """Compiler flags that link GoogleTest and its ``main``, or None and why.

    Args:
        cxx: the compiler the test is built with.
        native: True for the host compiler (Debian's prebuilt libgtest), False
            for a cross compiler (built here from ``/usr/src/googletest``).
    """
    if native:
        if not os.path.exists("/usr/include/gtest/gtest.h"):
            return None, "libgtest-dev is not installed (make setup installs it)"
        return ["-lgtest_main", "-lgtest", "-pthread"], ""
    if not os.path.exists(os.path.join(GTEST_SRC, "src", "gtest-all.cc")):
        return None, f"no GoogleTest sources in {GTEST_SRC} (make setup installs them)"
    triple = _triple(cxx)
    out = os.path.join(ROOT, "build", "gtest", triple)
    libs = [os.path.join(out, "libgtest_main.a"), os.path.join(out, "libgtest.a")]
    # The cache is valid for this compiler and this GoogleTest release.
    source_time = os.stat(os.path.join(GTEST_SRC, "src", "gtest.cc")).st_mtime
    key = f"{_version(cxx)}\n{source_time}\n"
    stamp = os.path.join(out, "stamp")
    fresh = False
    if os.path.exists(stamp):
        with open(stamp) as f:
            fresh = f.read() == key
    if not (fresh and all(os.path.exists(p) for p in libs)):
        os.makedirs(out, exist_ok=True)
        ar = cxx[: -len("g++")] + "ar" if cxx.endswith("g++") else "ar"
        for name in ("gtest-all", "gtest_main"):
            obj = os.path.join(out, name + ".o")
            cmd = [
                cxx,
                "-std=c++17",
                "-O1",
                "-pthread",
                "-I",
                GTEST_SRC + "/include",
                "-I",
                GTEST_SRC,
                "-c",
                os.path.join(GTEST_SRC, "src", name + ".cc"),
                "-o",
                obj,
            ]
            r = subprocess.run(
                cmd, check=False, capture_output=True, text=True, timeout=600
            )
            if r.returncode != 0:
                raise RuntimeError(
                    f"building GoogleTest for {triple} failed:\n" + r.stderr[-3000:]
                )
            lib = os.path.join(
                out, ("libgtest" if name == "gtest-all" else "libgtest_main") + ".a"
            )
            if os.path.exists(lib):
                os.remove(lib)
            subprocess.run([ar, "rcs", lib, obj], check=True, timeout=120)
        with open(stamp, "w") as f:
            f.write(key)
    return ["-isystem", GTEST_SRC + "/include", *libs, "-pthread"], ""


def _version(cxx: str) -> str:
    return subprocess.run(
        [cxx, "--version"], capture_output=True, text=True, check=True
    ).stdout.splitlines()[0]


def compile_objects(
    cxx: str, units: list[tuple[str, list[str]]], objdir: str, workers: int = 2
) -> list[str]:
    """Compiles each ``(source, flags)`` to ``objdir``, ``workers`` at a time
    (CI has two cores), and returns the object paths in order. A failure
    raises AssertionError with the compiler's message."""
    import concurrent.futures

    os.makedirs(objdir, exist_ok=True)

    def one(index: int, source: str, flags: list[str]) -> str:
        obj = os.path.join(objdir, f"{index:02d}_{os.path.basename(source)}.o")
        cmd = [cxx, *flags, "-I", ROOT, "-c", source, "-o", obj]
        r = subprocess.run(
            cmd, check=False, capture_output=True, text=True, timeout=600
        )
        assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stderr[-4000:]}"
        return obj

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(one, i, s, f) for i, (s, f) in enumerate(units)]
        return [f.result() for f in futures]


def link(cxx: str, objects: list[str], flags: list[str], out: str) -> None:
    """Links ``objects`` into ``out``; a failure raises AssertionError."""
    r = subprocess.run(
        [cxx, *objects, *flags, "-o", out],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-4000:]
