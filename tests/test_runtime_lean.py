"""The deployment runtime stays lean, and its renamed names keep working for a release.

* With TensorFlow and Keras installed (the dev venv), a fresh process that
  imports the runtime (``Interpreter``, ``runtime``, ``inspect_tflite``,
  ``op_format``), runs a model on it and runs ``sttn-benchmark`` (``--help``
  and on the model) imports neither, and no TensorFlow line is printed.
  Keras, imported afterwards in the same process, still finds the sttn classes
  (registered when Keras's import completes).
* The one-name-per-concept renames (``runtime=`` for ``backend=``,
  ``Interpreter.kernel`` for ``kernel_path``, ...) keep their old names for
  one release, each with a ``DeprecationWarning``; the C function
  ``sttn_optimized_popcount_path`` stays exported beside its new name
  ``sttn_optimized_kernel``.

The model is built with ``tests/tflite_builder`` (no TensorFlow needed).
* Whichever sttn module imports Keras first, the sttn classes end up
  registered with it.

Cost: five subprocesses, one importing Keras (on its JAX backend), about
12 s in all on the 2-core machine; the in-process tests well under a second.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
import warnings

import pytest

from tests.helpers import small_conv_tflite

runtime = pytest.importorskip("sttn_keras.export.runtime")

# Start-up lines TensorFlow prints when it loads (absl, cpu_feature_guard, oneDNN).
TF_LOG_MARKERS = ("cpu_feature_guard", "oneDNN", "tensorflow/", "TensorFlow binary")
HEAVY = ("tensorflow", "keras", "tf_keras", "jax", "torch")


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    data = small_conv_tflite()
    path = tmp_path_factory.mktemp("lean") / "conv.tflite"
    path.write_bytes(data)
    return str(path)


def _env():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.pop("STTN_RUNTIME", None)
    return env


_CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np

    def heavy():
        return sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})

    import sttn_keras as sttn
    from sttn_keras.export import Interpreter, inspect_tflite, op_format, runtime
    from sttn_keras.export import benchmark_cli

    path = sys.argv[1]
    interp = Interpreter(path)
    assert interp.runtime.name == "litert", interp.runtime
    x = np.zeros((2, 8, 8, 4), np.int32)  # packed trits, all zero
    y = interp.predict(x)
    assert y.shape == (2, 8, 8, 6), y.shape
    assert inspect_tflite.op_histogram(path)["SttnConv2D"] == 1
    assert op_format.OP_FORMAT_VERSION == sttn.export.OP_FORMAT_VERSION
    try:
        benchmark_cli.run(["--help"])
    except SystemExit as e:
        assert e.code == 0, e.code
    code = benchmark_cli.run([path, "--num_runs", "3", "--warmup_runs", "1", "--per_op"])
    assert code == 0
    print("HEAVY", heavy())
    """
).format(heavy=HEAVY)


@pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is None
    or importlib.util.find_spec("keras") is None,
    reason="TensorFlow and Keras are not installed: nothing that could leak in",
)
def test_runtime_imports_neither_tensorflow_nor_keras(model_path):
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, model_path],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    heavy_line = [line for line in proc.stdout.splitlines() if line.startswith("HEAVY")]
    assert heavy_line == ["HEAVY []"], heavy_line
    assert (
        "usage: sttn-benchmark" in proc.stdout and "latency over 3 runs" in proc.stdout
    )
    output = proc.stdout + proc.stderr
    assert not [m for m in TF_LOG_MARKERS if m in output], output[-3000:]


def _console_script():
    here = os.path.join(os.path.dirname(sys.executable), "sttn-benchmark")
    return here if os.path.exists(here) else shutil.which("sttn-benchmark")


@pytest.mark.skipif(
    _console_script() is None,
    reason="the sttn-benchmark console script is not installed",
)
def test_sttn_benchmark_prints_no_tensorflow_lines(model_path):
    script = _console_script()
    for argv in ([script, "--help"], [script, model_path, "--num_runs", "3"]):
        proc = subprocess.run(
            argv, capture_output=True, text=True, env=_env(), timeout=300
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        output = proc.stdout + proc.stderr
        assert not [m for m in TF_LOG_MARKERS if m in output], output[-3000:]
    assert "latency over 3 runs" in proc.stdout


def test_import_sttn_keras_is_cheap():
    # In a fresh process: the package and the export package import nothing
    # heavy until a name that needs it is used.
    code = textwrap.dedent(
        f"""
        import sys
        import sttn_keras, sttn_keras.export
        assert {{"layers", "ternarize", "export"}} <= set(dir(sttn_keras))
        assert {{"Interpreter", "to_tflite", "runtime"}} <= set(dir(sttn_keras.export))
        print(sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r}))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env()
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "[]", proc.stdout


# -- deprecated names ------------------------------------------------------------


def _deprecated(fn, old):
    with pytest.warns(DeprecationWarning, match=old) as record:
        value = fn()
    assert record[0].filename == __file__, record[0].filename  # points at the caller
    return value


def test_renamed_runtime_names_warn_and_still_work(model_path):
    interp = _deprecated(
        lambda: runtime.Interpreter(model_path, backend="litert"),
        r"Interpreter\(backend=\.\.\.\)",
    )
    assert interp.runtime.name == "litert"
    assert _deprecated(lambda: interp.backend, "Interpreter.backend") == "litert"
    assert (
        _deprecated(lambda: interp.litert_interpreter, "Interpreter.litert_interpreter")
        is interp.runtime_interpreter
    )
    assert _deprecated(lambda: interp.kernel_path, "Interpreter.kernel_path") == (
        interp.kernel
    )
    info = _deprecated(
        lambda: runtime.installed_runtime(backend="litert"),
        r"installed_runtime\(backend=\.\.\.\)",
    )
    assert _deprecated(lambda: info.backend, "RuntimeInfo.backend") == info.name
    assert _deprecated(lambda: runtime.BACKENDS, "BACKENDS") == runtime.RUNTIMES
    library = runtime.native_library_info()
    assert (
        _deprecated(lambda: library["optimized_popcount"], "optimized_popcount")
        == _deprecated(lambda: library.get("optimized_popcount"), "optimized_popcount")
        == library["optimized_kernel"]
        == runtime.optimized_kernel()
    )


def test_the_old_c_name_of_the_optimized_kernel_is_still_exported():
    """``sttn_optimized_popcount_path`` (renamed ``sttn_optimized_kernel``:
    "popcount" was stale for the depthwise and float paths) stays in the
    library's C API for one release, for callers other than our Python."""
    from sttn_keras.export import native_library

    old = native_library.library().sttn_optimized_popcount_path
    old.restype, old.argtypes = ctypes.c_char_p, []
    assert old().decode() == runtime.optimized_kernel()
    assert runtime.optimized_kernel() in runtime.supported_kernels()


def test_new_names_do_not_warn(model_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        interp = runtime.Interpreter(model_path, runtime="litert", kernel="reference")
        assert (interp.kernel, interp.runtime.name) == ("reference", "litert")
        assert interp.runtime_interpreter is not None
        assert runtime.installed_runtime(runtime="litert").name == "litert"
        assert runtime.native_library_info()["optimized_kernel"] in (
            runtime.supported_kernels()
        )
        assert "runtime='litert'" in repr(interp)
    with pytest.raises(ValueError, match=r"`runtime`.*Received: runtime='tf'"):
        runtime.Interpreter(model_path, runtime="tf")
    with pytest.raises(AttributeError, match="no attribute 'NOPE'"):
        runtime.NOPE  # noqa: B018


@pytest.mark.skipif(
    importlib.util.find_spec("keras") is None, reason="Keras is not installed"
)
def test_classes_register_whichever_sttn_module_imports_keras_first():
    # sttn_keras.quantizers imports Keras from inside its own import: the
    # classes (layers too) are registered once that import has completed.
    code = textwrap.dedent(
        """
        import warnings
        warnings.simplefilter("error", RuntimeWarning)
        import sttn_keras.quantizers
        import keras
        for name in ("sttn>TernaryConv2D", "sttn>HardThresholdTernary"):
            assert keras.saving.get_registered_object(name) is not None, name
        print("REGISTERED")
        """
    )
    env = {**_env(), "TF_CPP_MIN_LOG_LEVEL": "3"}
    if importlib.util.find_spec("jax") is not None:
        env["KERAS_BACKEND"] = "jax"  # the lighter backend to import
    proc = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "REGISTERED" in proc.stdout
