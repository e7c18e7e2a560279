"""Tests of android_demo/ that run on these machines (no phone, no NDK).

What runs where:

* The app's JNI library and sttn_benchmark_model are built by the app's own
  CMake (android_demo/native/CMakeLists.txt) for the host and for aarch64.
  No installable package exports the TFLite C API they call, so they are
  linked against a TEST DOUBLE of it written by us
  (android_demo/test_double/): it parses a real .tflite for its ops and
  input/output tensors, resolves custom ops by name against what was
  registered, and records thread counts and registrations, but it runs NO
  op (Invoke writes ``mean(input) + j``). These tests therefore check the
  JNI layer's behaviour (registration, threads, size checks, errors as Java
  exceptions, no leaks), not TFLite's or the kernels' numerics.
* The app's plain-Java classes (preprocessing, top-k) run on the JVM, and the
  preprocessing of the bundled images is compared bit for bit with the
  demo's Python preprocessing.
* aarch64: every native source compiles with
  ``aarch64-linux-gnu-g++ -std=c++17 -O2 -Wall -Werror``, links, and the
  benchmark tool runs under qemu.

Each test skips with the reason when a tool is missing; ``make setup``
installs them (javac, cmake, g++-aarch64-linux-gnu, qemu-user-static).
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from sttn_keras.export import op_format
from tests.native import abs_sources, native_build

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "android_demo")
NATIVE = os.path.join(DEMO, "native")
JAVA_SRC = os.path.join(DEMO, "app", "src", "main", "java", "org", "sttnkeras", "demo")
JVMTEST_SRC = os.path.join(DEMO, "jvmtest", "org", "sttnkeras", "demo")
IMAGES = os.path.join(DEMO, "app", "src", "main", "assets", "images")
BUILD = os.path.join(ROOT, "build", "android_test")
STTN_OPS = list(op_format.ALL_OPS)
WARNINGS = "-O2 -Wall -Werror"
# The host build only drives the JNI layer and the tool against the test
# double: no optimisation needed (the aarch64 build checks -O2 warnings).
HOST_FLAGS = "-O0 -Wall -Werror"


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} not found (make setup installs it)")
    return path


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd, check=False, capture_output=True, text=True, timeout=300, **kw
    )


def _jdk_include_dirs() -> list[str]:
    javac = os.path.realpath(_need("javac"))
    include = os.path.join(os.path.dirname(os.path.dirname(javac)), "include")
    if not os.path.exists(os.path.join(include, "jni.h")):
        pytest.skip(f"no jni.h under {include} (install default-jdk-headless)")
    return [include, os.path.join(include, "linux")]


def _cmake_build(name: str, flags: str, extra: list[str]) -> str:
    """Configures and builds android_demo/native with the test double (incremental)."""
    _need("cmake")
    build = os.path.join(BUILD, name)
    configure = [
        "cmake",
        "-S",
        NATIVE,
        "-B",
        build,
        "-DSTTN_USE_TFLITE_DOUBLE=ON",
        "-DSTTN_JNI_INCLUDE_DIRS=" + ";".join(_jdk_include_dirs()),
        f"-DCMAKE_CXX_FLAGS={flags}",
        "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON",
        *extra,
    ]
    r = _run(configure)
    assert r.returncode == 0, r.stdout + r.stderr
    r = _run(["cmake", "--build", build, "-j2"])
    assert r.returncode == 0, r.stdout + r.stderr
    return build


@pytest.fixture(scope="module")
def host_build():
    _need("g++")
    return _cmake_build("host", HOST_FLAGS, [])


@pytest.fixture(scope="module")
def aarch64_build():
    cxx = _need("aarch64-linux-gnu-g++")
    return _cmake_build(
        "aarch64",
        WARNINGS,
        [
            "-DCMAKE_SYSTEM_NAME=Linux",
            "-DCMAKE_SYSTEM_PROCESSOR=aarch64",
            f"-DCMAKE_CXX_COMPILER={cxx}",
        ],
    )


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Real .tflite files (flatbuffers written by tests/tflite_builder.py)."""
    from tests.tflite_builder import ModelBuilder

    def model(op_names, in_dtype=np.float32, in_shape=(1, 28, 28, 1)):
        b = ModelBuilder()
        x = b.input("image", list(in_shape), in_dtype)
        t = b.intermediate("t", [1, 2], np.int32)
        y = b.output("logits", [1, 10], np.float32)
        b.op(op_names[0], [x], [t], {"version": 1})
        b.op(op_names[1], [t], [y], {"version": 1})
        return b.build()

    d = tmp_path_factory.mktemp("android_models")
    (d / "sttn_ops.tflite").write_bytes(model(["SttnTernarize", "SttnFullyConnected"]))
    (d / "unknown_op.tflite").write_bytes(model(["SttnTernarize", "NotAnSttnOp"]))
    (d / "int_input.tflite").write_bytes(
        model(["SttnConv2D", "SttnFullyConnected"], np.int32, (1, 4))
    )
    return d


@pytest.fixture(scope="module")
def java_classes(tmp_path_factory):
    """The app's plain-Java classes (all but MainActivity) + the JVM tests."""
    _need("javac")
    _need("java")
    out = tmp_path_factory.mktemp("android_classes")
    sources = [
        p
        for p in glob.glob(os.path.join(JAVA_SRC, "*.java"))
        if not p.endswith("MainActivity.java")
    ]
    sources += glob.glob(os.path.join(JVMTEST_SRC, "*.java"))
    r = _run(
        ["javac", "--release", "8", "-Xlint:all", "-Werror", "-d", str(out), *sources]
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return out


def test_app_java_has_no_android_imports_outside_the_activity():
    for path in glob.glob(os.path.join(JAVA_SRC, "*.java")):
        if path.endswith("MainActivity.java"):
            continue
        with open(path) as f:
            assert not re.search(r"^import android\.", f.read(), re.MULTILINE), path


def test_cmake_compiles_the_manifests_kernel_sources_with_its_flags(host_build):
    """android_demo/native/CMakeLists.txt reads export/native_build.json: it
    compiles exactly the "android_kernels" sources (the Python package's
    kernels but the host layer), each with the manifest's flags."""
    with open(os.path.join(host_build, "compile_commands.json")) as f:
        commands = {os.path.realpath(e["file"]): e["command"] for e in json.load(f)}
    kernels = {os.path.realpath(p) for p in abs_sources("android_kernels")}
    export = os.path.realpath(os.path.join(ROOT, "export"))
    compiled = {p for p in commands if p.startswith(export + os.sep)}
    # opaque_api.cc is part of the TFLite test double, not of the kernels.
    compiled.discard(os.path.realpath(os.path.join(export, "host", "opaque_api.cc")))
    assert kernels and compiled == kernels, (
        sorted(kernels - compiled),
        sorted(compiled - kernels),
    )
    flags = native_build.copts()
    for path in kernels:
        words = commands[path].split()
        assert all(flag in words for flag in flags), (path, flags, commands[path])


def test_jni_layer_on_the_jvm_against_the_test_double(host_build, models, java_classes):
    """Registration of every sttn op by name, thread count, size checks,
    runtime errors as Java exceptions, no leaks (android_demo/jvmtest)."""
    r = _run(
        [
            "java",
            "-Xcheck:jni",
            "-cp",
            str(java_classes),
            f"-Dsttn.jni.library={os.path.join(host_build, 'libsttn_jni.so')}",
            "org.sttnkeras.demo.JvmTests",
            "jni",
            str(models),
            os.path.join(host_build, "libtflite_c_api_double.so"),
        ]
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("OK"), r.stdout
    assert "WARNING" not in r.stderr, r.stderr  # -Xcheck:jni findings


def test_java_units(java_classes):
    r = _run(["java", "-cp", str(java_classes), "org.sttnkeras.demo.JvmTests", "units"])
    assert r.returncode == 0, r.stdout + r.stderr


def test_preprocessing_matches_the_demo_bit_for_bit(java_classes, tmp_path):
    """The app's Java preprocessing of the bundled PNGs equals
    sttn_keras.demo's preprocessing of the same Fashion-MNIST test images,
    bit for bit (both are one IEEE float32 division by 255)."""
    out = tmp_path / "java.f32"
    r = _run(
        [
            "java",
            "-cp",
            str(java_classes),
            "org.sttnkeras.demo.JvmTests",
            "preprocess",
            IMAGES,
            str(out),
        ]
    )
    assert r.returncode == 0, r.stdout + r.stderr
    with open(os.path.join(IMAGES, "labels.csv")) as f:
        rows = [line.strip().split(",") for line in f if not line.startswith("file")]
    java = np.fromfile(out, dtype="<f4").reshape(len(rows), 28, 28, 1)

    from sttn_keras import demo

    try:
        (_, _), (xt, yt) = demo._load(train_subset=1)  # The demo's own preprocessing.
    except Exception as e:  # noqa: BLE001 (no STTN_DATA_DIR and no network)
        pytest.skip(f"Fashion-MNIST is not available here: {e}")
    for k, (name, label, index) in enumerate(rows):
        assert int(yt[int(index)]) == int(label), name
        python = xt[int(index)]
        assert python.dtype == np.float32
        np.testing.assert_array_equal(
            java[k].view(np.uint32), python.view(np.uint32), err_msg=name
        )


def _benchmark(cmd_prefix, build, *args):
    return _run([*cmd_prefix, os.path.join(build, "sttn_benchmark_model"), *args])


def _check_benchmark(cmd_prefix, build, model):
    r = _benchmark(
        cmd_prefix,
        build,
        f"--graph={model}",
        "--num_threads=2",
        "--num_runs=7",
        "--warmup_runs=1",
        "--per_op",
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^init: [0-9.]+ ms", r.stdout, re.MULTILINE), r.stdout
    assert re.search(
        r"^latency: median [0-9.]+ ms, mean [0-9.]+ ms", r.stdout, re.MULTILINE
    ), r.stdout
    assert "runs: 7 (after 1 warmup)" in r.stdout
    # Every sttn operator's Invoke was wrapped for the per-op breakdown.
    assert f"{len(STTN_OPS)} operators wrapped" in r.stdout, r.stdout


def test_benchmark_tool_on_the_host(host_build, models):
    _check_benchmark([], host_build, models / "sttn_ops.tflite")
    r = _benchmark([], host_build, f"--graph={models / 'unknown_op.tflite'}")
    assert r.returncode == 1 and "unresolved custom op: NotAnSttnOp" in r.stderr, (
        r.stderr
    )
    r = _benchmark([], host_build, "--graph=/nonexistent.tflite")
    assert r.returncode == 1 and "cannot open --graph '/nonexistent.tflite'" in r.stderr
    r = _benchmark(
        [], host_build, f"--graph={models / 'sttn_ops.tflite'}", "--num_runs=0"
    )
    assert (
        r.returncode == 2
        and "--num_runs must be an integer >= 1; received '0'" in r.stderr
    )
    r = _benchmark([], host_build, "--graph=x", "--bogus")
    assert r.returncode == 2 and "unknown argument '--bogus'" in r.stderr


def test_per_op_timing_wraps_and_times_an_operator(host_build):
    r = _run([os.path.join(host_build, "op_timing_test")])
    assert r.returncode == 0, r.stdout + r.stderr


def test_aarch64_build_with_werror_and_16k_pages(aarch64_build):
    """All native sources (kernels, JNI layer, benchmark, test double) compile
    and link for aarch64 with -std=c++17 -O2 -Wall -Werror; the shared
    library's LOAD segments are 16 KB aligned."""
    with open(os.path.join(aarch64_build, "compile_commands.json")) as f:
        commands = json.load(f)
    for e in commands:
        assert "aarch64-linux-gnu-g++" in e["command"] and "-Werror" in e["command"]
        assert "-std=c++17" in e["command"], e["command"]
    for binary in ("libsttn_jni.so", "sttn_benchmark_model"):
        path = os.path.join(aarch64_build, binary)
        with open(path, "rb") as f:
            header = f.read(20)
        assert (
            header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == 183
        ), f"{binary} is not an aarch64 ELF"
    readelf = shutil.which("readelf") or shutil.which("aarch64-linux-gnu-readelf")
    if readelf:
        r = _run([readelf, "-lW", os.path.join(aarch64_build, "libsttn_jni.so")])
        aligns = re.findall(r"^\s*LOAD\s.*\s(0x[0-9a-f]+)\s*$", r.stdout, re.MULTILINE)
        assert aligns and all(int(a, 16) >= 16384 for a in aligns), r.stdout


def test_aarch64_benchmark_tool_under_qemu(aarch64_build, models):
    qemu = _need("qemu-aarch64-static")
    sysroot = "/usr/aarch64-linux-gnu"
    if not os.path.isdir(sysroot):
        pytest.skip(f"no aarch64 sysroot at {sysroot}")
    _check_benchmark([qemu, "-L", sysroot], aarch64_build, models / "sttn_ops.tflite")


def test_offline_debug_apk_of_the_java_code(tmp_path):
    """Manifest and resources link, every app class (MainActivity included)
    compiles against android.jar, dexes, and the APK signs and verifies
    (android_demo/tools/offline_apk.sh). The APK has no native library and no
    models (no NDK here), so this checks the Java side only; Android Studio
    builds the real one."""
    for tool in ("aapt2", "aapt", "zipalign", "apksigner", "keytool", "zip", "javac"):
        _need(tool)
    framework_res = "/usr/share/android-framework-res/framework-res.apk"
    jars = os.path.join(ROOT, ".venv", "android-sdk")
    android_jar = os.environ.get("STTN_ANDROID_JAR", os.path.join(jars, "android.jar"))
    d8_jar = os.environ.get("STTN_D8_JAR", os.path.join(jars, "d8.jar"))
    for path in (framework_res, android_jar, d8_jar):
        if not os.path.exists(path):
            pytest.skip(f"{path} not found (make setup provides it)")
    r = _run(
        [
            os.path.join(DEMO, "tools", "offline_apk.sh"),
            str(tmp_path / "apk"),
            android_jar,
            d8_jar,
            framework_res,
        ]
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Verified using v2 scheme (APK Signature Scheme v2): true" in r.stdout, (
        r.stdout
    )
    apk = tmp_path / "apk" / "sttn-demo-debug.apk"
    badging = _run(["aapt", "dump", "badging", str(apk)]).stdout
    assert "package: name='org.sttnkeras.demo'" in badging, badging
    assert "sdkVersion:'24'" in badging
    assert "launchable-activity: name='org.sttnkeras.demo.MainActivity'" in badging, (
        badging
    )
    import zipfile

    names = set(zipfile.ZipFile(apk).namelist())
    assert "classes.dex" in names and "assets/images/labels.csv" in names


def test_make_assets_copies_the_demo_models_or_says_what_to_run(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_assets", os.path.join(DEMO, "tools", "make_assets.py")
    )
    make_assets = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_assets)
    src, dest = tmp_path / "demo", tmp_path / "assets"
    src.mkdir()
    (src / "fmnist_sttn.tflite").write_bytes(b"sttn")
    with pytest.raises(SystemExit, match="fmnist_float32.tflite not found.*make demo"):
        make_assets.copy_models(str(src), str(dest))
    (src / "fmnist_float32.tflite").write_bytes(b"float")
    make_assets.copy_models(str(src), str(dest))
    assert (dest / "fmnist_sttn.tflite").read_bytes() == b"sttn"
    assert (dest / "fmnist_float32.tflite").read_bytes() == b"float"
