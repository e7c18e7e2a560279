"""BUILD builds and tests with Bazel, offline (Debian's bazel-bootstrap 4.2.3).

``bazel test //:core_test //:_sttn_ops.so`` builds the GoogleTest kernel test
and the shared library and runs the test; then the library Bazel built is
compared with the one ``setup.py`` built (same exported symbols, same ops and
op format through ctypes), and ``bazel query`` checks that the targets compile
exactly the sources of ``export/native_build.json``. ``make setup`` installs
Bazel and GoogleTest and writes ``build/bazel/offline.bazelrc``; the Bazel
server is shut down at the end of the module.
"""

from __future__ import annotations

import ast
import ctypes
import glob
import os
import shutil
import subprocess

import pytest

from tests.native import ROOT, native_build

pytestmark = pytest.mark.slow

# Cold (empty cache) builds take about a minute on 2 busy cores.
TIMEOUT = 900


def _bazel(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(
        ["bazel", *args],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    if check:
        assert r.returncode == 0, (
            f"bazel {' '.join(args)}:\n{r.stdout[-4000:]}\n{r.stderr[-6000:]}"
        )
    return r


@pytest.fixture(scope="module")
def bazel():
    if shutil.which("bazel") is None:
        pytest.skip(
            "bazel not installed (make setup installs Debian's bazel-bootstrap)"
        )
    # The checkout's offline overrides (.bazelrc imports them): make setup
    # writes them; rewritten here if the checkout moved.
    r = subprocess.run(
        ["make", "-s", "build/bazel/offline.bazelrc"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    yield _bazel
    _bazel("shutdown", check=False)


@pytest.fixture(scope="module")
def built(bazel):
    """Builds both targets and runs the test, in one Bazel invocation."""
    r = bazel("test", "//:core_test", "//:_sttn_ops.so")
    assert "1 test passes" in r.stdout + r.stderr, r.stdout + r.stderr
    return os.path.join(ROOT, "build", "bazel-bin")


def test_bazel_test_runs_googletest_over_every_isa(built):
    log = os.path.join(ROOT, "build", "bazel-testlogs", "core_test", "test.log")
    with open(log) as f:
        text = f.read()
    assert "[  PASSED  ]" in text and "[  FAILED  ]" not in text, text[-3000:]
    isas = ("portable", "popcnt") if os.uname().machine == "x86_64" else ("portable",)
    for isa in isas:
        assert f"IsaTest.DepthwiseMatchesReference/{isa} (" in text, text[-3000:]


def _exported(path: str) -> set[str]:
    r = subprocess.run(
        ["nm", "-D", "--defined-only", path],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return {line.split()[-1] for line in r.stdout.splitlines() if line.strip()}


def _ops(lib: ctypes.CDLL) -> tuple[int, list[str]]:
    lib.sttn_tflite_op_name.restype = ctypes.c_char_p
    lib.sttn_tflite_op_name.argtypes = [ctypes.c_int]
    count = lib.sttn_tflite_num_ops()
    names = [lib.sttn_tflite_op_name(i).decode() for i in range(count)]
    return lib.sttn_op_format_version(), names


def test_bazel_shared_library_matches_the_setup_py_one(built):
    ours = os.path.join(built, "_sttn_ops.so")
    assert os.path.exists(ours), ours
    installed = sorted(glob.glob(os.path.join(ROOT, "export", "_sttn_ops*.so")))
    if not installed:
        pytest.skip("no setup.py build of export/_sttn_ops*.so (make setup builds it)")
    exported = _exported(ours)
    # The version script applied: only the sttn_* C API leaves the library.
    assert exported and all(s.startswith("sttn_") for s in exported), sorted(exported)
    assert exported == _exported(installed[0])
    version, names = _ops(ctypes.CDLL(ours))
    assert (version, names) == _ops(ctypes.CDLL(installed[0]))
    assert "SttnConv2D" in names


def _query_sources(bazel, target: str) -> list[str]:
    r = bazel("query", f'kind("source file", deps({target}))', "--output=label")
    found = []
    for label in r.stdout.split():
        if label.startswith("//:") and label.endswith(".cc"):
            found.append(label[len("//:") :])
    return sorted(found)


def test_bazel_targets_compile_the_manifest_sources(bazel):
    assert _query_sources(bazel, "//:core_test") == sorted(
        native_build.sources("core_test")
    )
    assert _query_sources(bazel, "//:_sttn_ops.so") == sorted(
        native_build.sources("shared_library")
    )


def test_bazel_targets_use_the_manifest_flags(bazel):
    r = bazel("query", "//:all", "--output=build")
    rules = r.stdout.split("\n\n")

    def rule(name: str) -> str:
        for text in rules:
            if f'name = "{name}"' in text:
                return text
        raise AssertionError(f"no rule {name} in:\n{r.stdout[:3000]}")

    def copts(text: str) -> list[str]:
        line = next(x for x in text.splitlines() if x.strip().startswith("copts ="))
        return ast.literal_eval(line.split("=", 1)[1].strip().rstrip(","))

    for name in ("sttn_core", "sttn_flexbuffer", "sttn_tflite_ops", "sttn_host"):
        assert copts(rule(name)) == native_build.copts(), name
    assert copts(rule("core_test")) == native_build.copts(library=False)
