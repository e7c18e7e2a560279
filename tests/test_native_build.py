"""export/native_build.json is the one list of native sources and flags.

Fast checks (no compiler): the manifest covers every C++ file of the native
library exactly once, its reader rejects bad input clearly, and the other
builds (setup.py, BUILD, the Android CMake) read it instead of spelling
sources or flags out. That they compile what it says is checked where they
run: tests/test_bazel.py (``bazel query``), tests/test_android.py (CMake's
compile commands), tests/test_core_cc.py, and ``make setup`` (setup.py).
"""

from __future__ import annotations

import glob
import os
import re

import pytest

from tests.native import ROOT, native_build

FOLDERS = ("export/core", "export/tflite", "export/host")


def _manifest_files(kind: str) -> list[str]:
    manifest = native_build.load()
    found = []
    for name, library in manifest["libraries"].items():
        for pattern in library[kind]:
            matches = glob.glob(pattern, root_dir=ROOT)
            assert matches, f"library {name}: {kind} {pattern!r} matches nothing"
            found += matches
    return found


@pytest.mark.parametrize("kind, ext", [("srcs", ".cc"), ("hdrs", ".h")])
def test_libraries_cover_every_native_file_exactly_once(kind, ext):
    listed = _manifest_files(kind)
    on_disk = []
    for folder in FOLDERS:
        on_disk += glob.glob(f"{folder}/*{ext}", root_dir=ROOT)
    duplicates = sorted({p for p in listed if listed.count(p) > 1})
    assert not duplicates, f"in two libraries of the manifest: {duplicates}"
    assert sorted(listed) == sorted(on_disk), (
        f"not in export/native_build.json: {sorted(set(on_disk) - set(listed))}; "
        f"listed but absent: {sorted(set(listed) - set(on_disk))}"
    )


def test_targets_and_their_sources():
    library = native_build.sources("shared_library")
    assert len(set(library)) == len(library), library
    assert set(native_build.sources("android_kernels")) < set(library)
    core_test = native_build.sources("core_test")
    assert core_test[-2:] == ["tests/cc/threadpool_test.cc", "tests/cc/core_test.cc"]
    assert set(core_test[:-2]) < set(library)
    assert os.path.exists(native_build.version_script())


def test_bad_target_and_empty_pattern_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"`target`.*Received: target='wheel'"):
        native_build.sources("wheel")
    with pytest.raises(FileNotFoundError, match=r"pattern 'export/core/\*\.cc'"):
        native_build.sources("core_test", root=str(tmp_path))


def test_copts_split_library_and_test_flags():
    manifest = native_build.load()
    assert native_build.copts(library=False) == manifest["copts"]
    assert native_build.copts() == manifest["copts"] + manifest["library_copts"]
    # Tests link GoogleTest (built with exceptions): no -fno-exceptions there.
    assert "-fno-exceptions" not in native_build.copts(library=False)


def _read(path: str) -> str:
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


# A compiler flag or a C++ source written out as a string literal.
_SPELLED = re.compile(r'"(-std=|-O\d|-W(?!l,)|-f[a-z]|-pthread)|[\w/*]+\.cc"')


def test_setup_py_and_build_spell_out_no_source_or_flag():
    for path in ("setup.py", "BUILD"):
        text = "\n".join(
            line
            for line in _read(path).splitlines()
            if not line.lstrip().startswith("#")
        )
        assert not _SPELLED.search(text), (path, _SPELLED.search(text))
    assert "native_build" in _read("setup.py")
    assert 'load("@sttn_native_build//:defs.bzl", "NATIVE_BUILD")' in _read("BUILD")


def test_android_cmake_reads_the_manifest():
    text = _read("android_demo/native/CMakeLists.txt")
    assert "export/native_build.json" in text
    code = "\n".join(line.split("#")[0] for line in text.splitlines())
    # (export/host/opaque_api.cc is named: it belongs to the TFLite test double.)
    assert not re.search(r"export/(core|tflite)/", code), (
        "android_demo/native/CMakeLists.txt names kernel sources itself"
    )
    for flag in native_build.copts(library=False):
        assert flag not in code, f"CMakeLists.txt spells out {flag}"
