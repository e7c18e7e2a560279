"""Packaging for sttn-keras.

The Python package ``sttn_keras`` lives in ``sttn_keras/``; its export
subpackage ``sttn_keras.export`` lives in the top-level ``export/`` folder next
to the C++ kernels it drives. The kernels are compiled into one plain shared
library (``sttn_keras/export/_sttn_ops*.so``, loaded with ctypes, not a Python
extension module) by setuptools' ``build_ext``: ``pip install .`` and
``make setup`` both build it, with the system C++ compiler (g++ >= 10 or
clang >= 12, C++17).
"""

import importlib.util
import os
import re
import runpy

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
# The supported ai-edge-litert range, defined once in export/runtime_versions.py
# (standard library only, so it runs here before anything is installed).
LITERT_REQUIREMENT = runpy.run_path(
    os.path.join(HERE, "export", "runtime_versions.py")
)["LITERT_REQUIREMENT"]


def _native_build():
    """export/native_build.py, loaded by path: the package is not installed yet."""
    spec = importlib.util.spec_from_file_location(
        "_sttn_native_build", os.path.join(HERE, "export", "native_build.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildNativeLibrary(build_ext):
    """Builds the kernels as a plain shared library with hidden visibility."""

    def get_export_symbols(self, ext):
        # Not a CPython extension: there is no PyInit_ symbol to export.
        return []

    def build_extension(self, ext):
        # A ctypes library needs no PyInit; setuptools would otherwise insist.
        # The sources are compiled one per CPU at a time (setuptools compiles
        # an extension's sources one after the other): `make setup` builds
        # this library on every fresh checkout, and on the 2-core CI machine
        # the serial -O3 build left one core idle (issue 17).
        compile_serially = self.compiler.compile
        jobs = max(1, min(len(ext.sources), os.cpu_count() or 1))

        def compile_in_parallel(sources, *args, **kwargs):
            if jobs == 1 or len(sources) < 2:
                return compile_serially(sources, *args, **kwargs)
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(jobs) as pool:
                parts = pool.map(
                    lambda source: compile_serially([source], *args, **kwargs), sources
                )
                return [obj for part in parts for obj in part]

        self.compiler.compile = compile_in_parallel
        try:
            super().build_extension(ext)
        finally:
            self.compiler.compile = compile_serially


# Sources and flags: export/native_build.json, the list BUILD, the Android
# CMake and the tests use too.
nb = _native_build()
native = Extension(
    "sttn_keras.export._sttn_ops",
    sources=nb.sources("shared_library", root=HERE),
    include_dirs=[HERE],
    language="c++",
    extra_compile_args=nb.release_copts() + nb.copts(),
    # Export only the sttn_* C API (see export/host/exports.map).
    extra_link_args=[*nb.linkopts(), "-Wl,--version-script=" + nb.version_script(HERE)],
)

with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
    long_description = f.read()


def _version():
    """``__version__`` of sttn_keras/__init__.py, its one home (not imported:
    the package needs numpy, which a fresh build environment may lack)."""
    with open(os.path.join(HERE, "sttn_keras", "__init__.py"), encoding="utf-8") as f:
        match = re.search(r'^__version__ = "([^"]+)"$', f.read(), re.M)
    if match is None:
        raise RuntimeError("sttn_keras/__init__.py does not define __version__")
    return match.group(1)


setup(
    name="sttn-keras",
    version=_version(),
    description=(
        "Soft Threshold Ternary Networks for Keras 3, exported to TFLite "
        "with native ternary custom ops"
    ),
    long_description=long_description,
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=["sttn_keras", "sttn_keras.tfmot", "sttn_keras.export"],
    package_dir={"sttn_keras": "sttn_keras", "sttn_keras.export": "export"},
    package_data={"sttn_keras.export": ["native_build.json"]},
    ext_modules=[native],
    cmdclass={"build_ext": BuildNativeLibrary},
    install_requires=[
        "numpy>=1.26",
        "flatbuffers>=24.3.25",
        # The host layer adapts our opaque-API kernels to the classic
        # TfLiteRegistration structs; every release of this range is tested
        # (tests/test_litert_versions.py) and the layout is probed at load time.
        LITERT_REQUIREMENT,
    ],
    extras_require={
        # Training and export. Deployment (sttn_keras.export.Interpreter)
        # needs neither.
        "train": ["keras>=3.10,<4", "tensorflow-cpu>=2.18", "absl-py>=1.4"],
        # sttn_keras.tfmot: train with tf_keras (Keras 2) and TF-MOT, export
        # through Keras 3. tf-keras requires the `tensorflow` distribution
        # (not tensorflow-cpu); TF-MOT 0.8.1 requires absl-py<2, hence the
        # train extra's absl-py>=1.4 (it needs only absl.app/flags/logging).
        "tfmot": [
            "tensorflow-model-optimization>=0.8.1",
            "tf-keras>=2.16",
            "keras>=3.10,<4",
        ],
    },
    entry_points={
        "console_scripts": [
            "sttn-export=sttn_keras.export.cli:main",
            "sttn-benchmark=sttn_keras.export.benchmark_cli:main",
        ],
    },
)
