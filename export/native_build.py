"""The native build's sources and flags, from ``export/native_build.json``.

One list for every build of the C++ kernels: ``setup.py`` (the Python
package's shared library), the tests that compile them with g++ and the
aarch64 cross compiler, ``BUILD`` (through ``third_party/repositories.bzl``)
and the Android app's CMake (``android_demo/native/CMakeLists.txt``), which
read the JSON file themselves. Patterns are relative to the repository root
and ``*`` matches within one folder, as in Bazel's ``glob`` and CMake's
``file(GLOB)``.

Only a checkout has the sources: ``setup.py`` loads this module by path, before
the package is installed, so it imports nothing but the standard library.

Example:

>>> from sttn_keras.export import native_build
>>> native_build.sources("core_test")[-1]
'tests/cc/core_test.cc'
>>> "-ffp-contract=off" in native_build.copts()
True
"""

from __future__ import annotations

import glob
import json
import os

__all__ = ["copts", "linkopts", "load", "release_copts", "sources", "version_script"]

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = os.path.join(HERE, "native_build.json")
# The checkout: export/ is a top-level folder of the repository.
ROOT = os.path.dirname(HERE)
# Build targets of the manifest (each lists "libraries", maybe "srcs").
TARGETS = ("shared_library", "core_test", "android_kernels", "fuzz")


def load(path: str = MANIFEST) -> dict:
    """Returns the parsed manifest.

    Example:

    >>> from sttn_keras.export import native_build
    >>> sorted(native_build.load()["libraries"])
    ['core', 'flexbuffer', 'host', 'tflite_ops']
    """
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _expand(patterns: list[str], root: str, what: str) -> list[str]:
    found = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern, root_dir=root))
        if not matches:
            raise FileNotFoundError(
                f"{os.path.relpath(MANIFEST, ROOT)}: {what} pattern {pattern!r} "
                f"matches no file under {root}"
            )
        found.extend(m for m in matches if m not in found)
    return found


def _target(manifest: dict, target: str) -> dict:
    if target not in TARGETS:
        raise ValueError(
            f"Received an invalid value for `target`, expected one of {TARGETS}. "
            f"Received: target={target!r}"
        )
    return manifest[target]


def sources(target: str, root: str = ROOT) -> list[str]:
    """The ``.cc`` files of a build target, relative to ``root``, in link order.

    Args:
        target: ``"shared_library"`` (the library ``export/runtime.py`` loads),
            ``"core_test"`` (the C++ unit test and what it links),
            ``"android_kernels"`` (the kernels the Android app compiles) or
            ``"fuzz"`` (the libFuzzer targets of ``tests/fuzz`` and what they
            link).
        root: the repository root the patterns are relative to.

    Returns:
        Relative paths: each library's sorted matches, then the target's own
        sources.

    Raises:
        ValueError: an unknown target.
        FileNotFoundError: a pattern that matches no file.

    Example:

    >>> from sttn_keras.export import native_build
    >>> "export/host/opaque_api.cc" in native_build.sources("shared_library")
    True
    >>> "export/host/opaque_api.cc" in native_build.sources("android_kernels")
    False
    """
    manifest = load()
    spec = _target(manifest, target)
    found = []
    for name in spec["libraries"]:
        library = manifest["libraries"][name]
        found += _expand(library["srcs"], root, f"library {name!r} srcs")
    found += _expand(spec.get("srcs", []), root, f"target {target!r} srcs")
    return found


def copts(library: bool = True) -> list[str]:
    """Compiler flags of every build (no optimization level, no sanitizer).

    Args:
        library: add the flags of the kernel and runtime sources
            (``library_copts``: no exceptions, hidden visibility). Test
            programs, which link GoogleTest, use ``library=False``.

    Example:

    >>> from sttn_keras.export import native_build
    >>> native_build.copts(library=False)[0]
    '-std=c++17'
    >>> "-fvisibility=hidden" in native_build.copts()
    True
    """
    manifest = load()
    return list(manifest["copts"]) + (
        list(manifest["library_copts"]) if library else []
    )


def release_copts() -> list[str]:
    """The optimization flags of the package's build (``setup.py``).

    Example:

    >>> from sttn_keras.export import native_build
    >>> native_build.release_copts()
    ['-O3']
    """
    return list(load()["release_copts"])


def linkopts() -> list[str]:
    """Linker flags of every program and library (threads).

    Example:

    >>> from sttn_keras.export import native_build
    >>> native_build.linkopts()
    ['-pthread']
    """
    return list(load()["linkopts"])


def version_script(root: str = ROOT) -> str:
    """Absolute path of the shared library's linker version script.

    Example:

    >>> from sttn_keras.export import native_build
    >>> native_build.version_script().endswith("export/host/exports.map")
    True
    """
    return os.path.join(root, load()["shared_library"]["version_script"])
