"""The supported TFLite runtimes: the ai-edge-litert range and the tf.lite fallback.

``export/runtime_versions.py`` defines the range once. Here:

* setup.py, README and requirements-dev.txt agree with it;
* a version outside it, and a runtime layout the host layer's probe refuses,
  raise ``UnsupportedRuntimeError`` naming the installed version and the
  range (no crash);
* TensorFlow's ``tf.lite`` interpreter runs the spot checks (``runtime=
  "tflite"``, ``STTN_RUNTIME``, and the automatic fallback when ai-edge-litert
  is not importable);
* slow: each claimed release, installed from PyPI into its own virtual
  environment (``.venv/litert-X.Y.Z``, only numpy and that wheel, so neither
  the dev runtime nor TensorFlow can leak in), runs the spot checks through
  the installed layout of the package. ``make test`` runs the oldest and the
  newest (``CI_LITERT_VERSIONS``); ``STTN_LITERT_VERSIONS=all`` runs every
  release of ``TESTED_LITERT_VERSIONS``, or give a comma-separated list.

Spot checks: a few cells of the kernel grid (tests/test_kernels.py), on data
for which float32 is exact, so outputs are compared bit for bit against the
NumPy oracle, on the reference and the optimized kernel, with 1 and 3 threads.
"""

from __future__ import annotations

import ctypes
import glob
import importlib.util
import json
import os
import re
import runpy
import shutil
import subprocess
import sys
import textwrap
import time
import venv
import warnings

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from tests import helpers  # noqa: E402
from tests import ternary_reference as ref  # noqa: E402
from tests import tflite_builder as tb  # noqa: E402

runtime = pytest.importorskip("sttn_keras.export.runtime")
runtime_choice = pytest.importorskip("sttn_keras.export.runtime_choice")
native_library = pytest.importorskip("sttn_keras.export.native_library")
interpreter = pytest.importorskip("sttn_keras.export.interpreter")
rv = pytest.importorskip("sttn_keras.export.runtime_versions")


# ---------------------------------------------------------------------------
# Spot checks: (name, model bytes, input, expected output).


def _trits(rng, shape):
    return rng.integers(-1, 2, shape).astype(np.int8)


_affine = helpers.dyadic_affine
_exact = helpers.exact_floats


def spot_checks() -> list[tuple[str, bytes, np.ndarray, np.ndarray]]:
    """A few kernel-grid cells: every op family, ternary and float inputs,
    both weight encodings, strides, padding, depth multiplier, batches."""
    rng = np.random.default_rng(20261130)
    cases = []

    c = 33
    lo = rng.normal(-0.5, 0.3, c).astype(np.float32)
    hi = lo + np.abs(rng.normal(1.0, 0.3, c)).astype(np.float32)
    th = np.stack([lo, hi, rng.choice([-1.0, 1.0], c)]).astype(np.float32)
    x = _exact(rng, (2, 2, 3, c))
    cases.append(
        (
            "ternarize",
            tb.ternarize_model(c, th, rank=4, spatial=(2, 3)),
            x,
            ref.pack_activations(ref.ternarize(x, th)),
        )
    )

    for name, cin, cout, k, s, pad, float_in, enc in (
        ("conv2d_ternary_in", 33, 6, 3, 2, "SAME", False, None),
        ("conv2d_float_in_base3", 31, 5, 3, 1, "VALID", True, "base3"),
    ):
        wt = _trits(rng, (cout, k, k, cin))
        scale, bias = _affine(rng, cout)
        x = _exact(rng, (2, 7, 6, cin)) if float_in else _trits(rng, (2, 7, 6, cin))
        model = tb.conv_model(
            "conv2d",
            in_channels=cin,
            out_channels=cout,
            kernel=(k, k),
            strides=(s, s),
            padding=pad,
            activation="RELU",
            weights_packed=(
                ref.pack_trits_base3(wt) if enc else ref.pack_trits_file(wt)
            ),
            scale=scale,
            bias=bias,
            input_hw=(7, 6),
            float_in=float_in,
            weight_encoding=enc,
        )
        expected = ref.affine(ref.conv2d(x, wt, (s, s), pad), scale, bias, "RELU")
        cases.append(
            (name, model, x if float_in else ref.pack_activations(x), expected)
        )

    cin, mult = 65, 2
    wt = _trits(rng, (3, 3, cin * mult))
    scale, bias = _affine(rng, cin * mult)
    x = _trits(rng, (1, 6, 7, cin))
    model = tb.conv_model(
        "depthwise",
        in_channels=cin,
        out_channels=cin * mult,
        kernel=(3, 3),
        strides=(1, 1),
        padding="SAME",
        activation="NONE",
        weights_packed=ref.pack_trits_file(wt),
        scale=scale,
        bias=bias,
        input_hw=(6, 7),
        depth_multiplier=mult,
    )
    cases.append(
        (
            "depthwise_ternary_in",
            model,
            ref.pack_activations(x),
            ref.affine(
                ref.depthwise_conv2d(x, wt, mult, (1, 1), "SAME"), scale, bias, "NONE"
            ),
        )
    )

    for name, cin, cout, float_in in (
        ("fc_ternary_in", 100, 9, False),
        ("fc_float_in", 65, 7, True),
    ):
        wt = _trits(rng, (cout, cin))
        scale, bias = _affine(rng, cout)
        x = _exact(rng, (3, cin)) if float_in else _trits(rng, (3, cin))
        model = tb.fc_model(
            in_channels=cin,
            out_channels=cout,
            activation="RELU",
            weights_packed=ref.pack_trits_file(wt),
            scale=scale,
            bias=bias,
            float_in=float_in,
        )
        cases.append(
            (
                name,
                model,
                x if float_in else ref.pack_activations(x),
                ref.affine(ref.fully_connected(x, wt), scale, bias, "RELU"),
            )
        )
    return cases


SPOT_KERNELS = ("reference", "optimized")
SPOT_THREADS = (1, 3)


def _run_spot_checks(runtime_name: str | None) -> int:
    n = 0
    for name, model, x, expected in spot_checks():
        for kernel in SPOT_KERNELS:
            for threads in SPOT_THREADS:
                interp = runtime.Interpreter(
                    model, kernel=kernel, num_threads=threads, runtime=runtime_name
                )
                y = interp.predict(x)
                assert y.shape == expected.shape, name
                np.testing.assert_array_equal(
                    y, expected, err_msg=f"{name}/{kernel}/{threads}"
                )
                n += 1
    return n


# ---------------------------------------------------------------------------
# One range, everywhere.


def _setup_kwargs() -> dict:
    """setup.py's setup() arguments, captured without building anything."""
    import setuptools

    captured = {}
    original = setuptools.setup
    setuptools.setup = lambda **kwargs: captured.update(kwargs)
    try:
        runpy.run_path(os.path.join(REPO, "setup.py"), run_name="__setup__")
    finally:
        setuptools.setup = original
    return captured


def test_setup_py_requires_the_runtime_range():
    requires = _setup_kwargs()["install_requires"]
    litert = [r for r in requires if re.match(r"ai[-_]edge[-_]litert", r)]
    assert litert == [runtime.LITERT_REQUIREMENT] == [rv.LITERT_REQUIREMENT]
    assert "==" not in rv.LITERT_REQUIREMENT
    # The installed metadata (make setup) says the same.
    import importlib.metadata

    from packaging.requirements import Requirement

    installed = [
        Requirement(r)
        for r in importlib.metadata.requires("sttn-keras") or []
        if Requirement(r).name == rv.LITERT_DISTRIBUTION
    ]
    assert [r.specifier for r in installed] == [
        Requirement(rv.LITERT_REQUIREMENT).specifier
    ], ("the installed metadata is stale: rerun `make setup`", installed)


def test_docs_and_dev_pin_agree_with_the_range():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    assert rv.LITERT_SPECIFIER in readme
    assert "ai-edge-litert==2.3.0" not in readme.replace("`", "")
    with open(os.path.join(REPO, "requirements-dev.txt"), encoding="utf-8") as f:
        dev = re.search(r"^ai-edge-litert==(\S+)", f.read(), re.M).group(1)
    # The dev/benchmark pin is a tested release of the range.
    assert dev in rv.TESTED_LITERT_VERSIONS and rv.litert_version_supported(dev)
    for v in rv.TESTED_LITERT_VERSIONS:
        assert rv.litert_version_supported(v), v
    assert rv.CI_LITERT_VERSIONS == (
        rv.LITERT_MIN_VERSION,
        max(rv.TESTED_LITERT_VERSIONS, key=lambda v: rv.parse_release(v)[0]),
    )


@pytest.mark.parametrize(
    "version,supported",
    [
        ("1.0.1", False),
        ("1.1.0", False),
        ("1.1.1rc1", False),
        ("1.1.1", True),
        ("2.0.3", True),
        ("2.3.0", True),
        ("2.3.1", True),
        ("2.3.0rc1", True),
        ("2.4.0.dev20261101", False),
        ("2.4", False),
        ("2.4.0", False),
        ("3.0.0", False),
        ("unknown", False),
        ("", False),
    ],
)
def test_litert_version_supported(version, supported):
    assert rv.litert_version_supported(version) is supported
    # The same answer as pip's reading of the specifier.
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        parsed = Version(version)
    except InvalidVersion:
        return
    assert (
        SpecifierSet(rv.LITERT_SPECIFIER).contains(parsed, prereleases=True)
        is supported
    )


# ---------------------------------------------------------------------------
# Refusals: a clear error, never a crash.


def _small_model():
    name, model, x, expected = spot_checks()[1]
    return model, x, expected


@pytest.mark.parametrize("version", ["1.1.0", "2.4.0", "2.4.0.dev20261101", "unknown"])
def test_out_of_range_litert_is_refused(monkeypatch, version):
    monkeypatch.setattr(
        runtime_choice, "_installed_litert_version", lambda module: version
    )
    model, *_ = _small_model()
    with pytest.raises(runtime.UnsupportedRuntimeError) as info:
        runtime.Interpreter(model, runtime="litert")
    message = str(info.value)
    assert f"ai-edge-litert {version} is installed" in message
    assert rv.LITERT_REQUIREMENT in message
    assert isinstance(info.value, RuntimeError)


class _ProbeOnFakeResolver:
    """The native library, but sttn_host_register probes a fake resolver
    object (zeroed memory, or a plausible vtable pointer over wrong members)
    instead of the runtime's: an op resolver layout nobody ships."""

    def __init__(self, lib, fill):
        self._lib = lib
        self.fake = (ctypes.c_ubyte * 512)()
        fill(self.fake)

    def __getattr__(self, name):
        return getattr(self._lib, name)

    def sttn_host_register(self, _address, kernel, error, size):
        return self._lib.sttn_host_register(
            ctypes.addressof(self.fake), kernel, error, size
        )


def _zeroed(buf):
    pass


def _wrong_members(buf):
    # A non-null aligned "vtable" pointer, then 0xff bytes where the bool flag,
    # vectors and hash tables should be.
    ctypes.memmove(buf, (ctypes.c_uint64 * 1)(ctypes.addressof(buf) + 256), 8)
    for i in range(8, 256):
        buf[i] = 0xFF


@pytest.mark.parametrize(
    "fill,member",
    [(_zeroed, "vtable pointer"), (_wrong_members, "may_directly_contain")],
)
def test_unrecognised_resolver_layout_is_refused(monkeypatch, fill, member):
    fake = _ProbeOnFakeResolver(native_library.library(), fill)
    monkeypatch.setattr(interpreter, "library", lambda: fake)
    model, *_ = _small_model()
    with pytest.raises(runtime.UnsupportedRuntimeError) as info:
        runtime.Interpreter(model, runtime="litert")
    message = str(info.value)
    version = runtime.installed_runtime("litert").version
    assert f"layout of ai-edge-litert {version}" in message
    assert member in message and rv.LITERT_REQUIREMENT in message
    # The tf.lite fallback is refused the same way ("otherwise a clear message").
    if importlib.util.find_spec("tensorflow") is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(runtime.UnsupportedRuntimeError) as info:
                runtime.Interpreter(model, runtime="tflite")
        tf_version = runtime.installed_runtime("tflite").version
        assert f"layout of tensorflow {tf_version} (tf.lite)" in str(info.value)
        assert member in str(info.value)


def test_prepare_time_layout_mismatch_is_an_unsupported_runtime_error(monkeypatch):
    # What Python looks for is the text the built library reports from its
    # per-Prepare layout check (host_registration.cc, CheckRuntimeLayout).
    with open(runtime.native_library_info()["path"], "rb") as f:
        assert native_library.LAYOUT_MISMATCH_MARKER.encode() in f.read()
    model, x, expected = _small_model()
    interp = runtime.Interpreter(model, runtime="litert")
    np.testing.assert_array_equal(interp.predict(x), expected)

    def refuse():
        raise RuntimeError(
            "SttnConv2D: the TFLite runtime's TfLiteContext/TfLiteTensor "
            f"{native_library.LAYOUT_MISMATCH_MARKER} (...); refusing to run. "
            "Node number 0 (SttnConv2D) failed to prepare."
        )

    monkeypatch.setattr(interp.runtime_interpreter, "allocate_tensors", refuse)
    with pytest.raises(runtime.UnsupportedRuntimeError) as info:
        interp.predict(np.concatenate([x, x]))  # a new batch: resize, allocate
    message = str(info.value)
    assert "ai-edge-litert " in message and rv.LITERT_REQUIREMENT in message


# ---------------------------------------------------------------------------
# The tf.lite fallback (TensorFlow 2.21 in the dev venv).


def _tensorflow_or_skip():
    return pytest.importorskip(
        "tensorflow", reason="TensorFlow is not installed: no tf.lite fallback to test"
    )


@pytest.fixture
def quiet_tflite_deprecation():
    import warnings

    with warnings.catch_warnings():
        # TF 2.21 announces tf.lite.Interpreter's deletion on each construction.
        warnings.filterwarnings(
            "ignore",
            message=r".*tf\.lite\.Interpreter is deprecated",
            category=UserWarning,
        )
        warnings.filterwarnings("ignore", message=r".*Interpreter.*deprecated")
        yield


def test_tflite_runtime_runs_the_spot_checks(quiet_tflite_deprecation):
    tf = _tensorflow_or_skip()
    info = runtime.installed_runtime("tflite")
    assert info.name == "tflite" and info.version == tf.__version__
    assert info.description == f"tensorflow {tf.__version__} (tf.lite)"
    assert _run_spot_checks("tflite") == len(spot_checks()) * 4
    model, x, expected = _small_model()
    interp = runtime.Interpreter(model, runtime="tflite")
    assert (
        interp.runtime.name == "tflite"
        and "tensorflow" in type(interp.runtime_interpreter).__module__
    )
    np.testing.assert_array_equal(interp.predict(x), expected)


def test_without_litert_auto_falls_back_to_tflite(
    monkeypatch, quiet_tflite_deprecation
):
    _tensorflow_or_skip()
    monkeypatch.delenv("STTN_RUNTIME", raising=False)
    assert runtime.installed_runtime().name == "litert"
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)  # not importable
    assert runtime.installed_runtime().name == "tflite"
    model, x, expected = _small_model()
    interp = runtime.Interpreter(model)
    assert interp.runtime.name == "tflite"
    np.testing.assert_array_equal(interp.predict(x), expected)
    with pytest.raises(
        ImportError, match=re.escape(f"pip install '{rv.LITERT_REQUIREMENT}'")
    ):
        runtime.Interpreter(model, runtime="litert")


def test_without_any_runtime_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    model, *_ = _small_model()
    with pytest.raises(
        ImportError, match=r"neither ai-edge-litert nor TensorFlow"
    ) as e:
        runtime.Interpreter(model)
    assert rv.LITERT_REQUIREMENT in str(e.value)
    with pytest.raises(ImportError, match="TensorFlow is not installed"):
        runtime.Interpreter(model, runtime="tflite")


def test_runtime_choice_and_bad_values(monkeypatch, quiet_tflite_deprecation):
    _tensorflow_or_skip()
    model, *_ = _small_model()
    monkeypatch.setenv("STTN_RUNTIME", "tflite")
    assert runtime.Interpreter(model).runtime.name == "tflite"
    assert (
        runtime.Interpreter(model, runtime="litert").runtime.name == "litert"
    )  # argument wins
    monkeypatch.setenv("STTN_RUNTIME", "litert")
    assert runtime.Interpreter(model).runtime.name == "litert"
    monkeypatch.setenv("STTN_RUNTIME", "tensorflow")
    with pytest.raises(
        ValueError, match=r"STTN_RUNTIME.*Received: STTN_RUNTIME='tensorflow'"
    ):
        runtime.Interpreter(model)
    with pytest.raises(ValueError, match=r"`runtime`.*Received: runtime='tf'"):
        runtime.Interpreter(model, runtime="tf")


# ---------------------------------------------------------------------------
# Every claimed release, each in its own virtual environment.


def _versions_to_test() -> tuple[str, ...]:
    chosen = os.environ.get("STTN_LITERT_VERSIONS", "").strip()
    if not chosen:
        return rv.CI_LITERT_VERSIONS
    if chosen == "all":
        return rv.TESTED_LITERT_VERSIONS
    return tuple(v.strip() for v in chosen.split(",") if v.strip())


def _litert_venv(version: str) -> str:
    """``.venv/litert-<version>``: a venv holding numpy and that wheel only,
    reused while its stamp matches. Returns its python."""
    env_dir = os.path.join(REPO, ".venv", f"litert-{version}")
    py = os.path.join(env_dir, "bin", "python")
    stamp = os.path.join(env_dir, ".sttn-installed")
    want = {
        "ai-edge-litert": version,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
    }
    try:
        with open(stamp) as f:
            if json.load(f) == want and os.path.exists(py):
                return py
    except (OSError, ValueError):
        pass
    shutil.rmtree(env_dir, ignore_errors=True)
    venv.EnvBuilder(with_pip=False, clear=True).create(env_dir)
    # The dev venv's pip installs into it (no pip bootstrap); --no-deps keeps
    # the wheel's optional extras (tqdm, protobuf, ...) out: the interpreter
    # module imports only numpy.
    pip = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            py,
            "install",
            "-q",
            "--no-deps",
            "--disable-pip-version-check",
            f"numpy=={np.__version__}",
            f"ai-edge-litert=={version}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert pip.returncode == 0, (
        f"pip could not install ai-edge-litert=={version} from PyPI: "
        f"{pip.stderr[-1500:]}"
    )
    with open(stamp, "w") as f:
        json.dump(want, f)
    return py


def _installed_layout(site) -> None:
    """The files a wheel installs (sttn_keras/, sttn_keras/export/ with the
    built library), so an import of TensorFlow or Keras anywhere on the
    runtime's import path fails in the test venv."""
    (site / "sttn_keras" / "export").mkdir(parents=True)
    for src in glob.glob(os.path.join(REPO, "sttn_keras", "*.py")):
        shutil.copy(src, site / "sttn_keras")
    for src in glob.glob(os.path.join(REPO, "export", "*.py")):
        shutil.copy(src, site / "sttn_keras" / "export")
    shutil.copy(runtime.native_library_info()["path"], site / "sttn_keras" / "export")


_CHILD = textwrap.dedent("""
    import importlib.util, json, os, sys
    import numpy as np
    version, cases_dir = sys.argv[1], sys.argv[2]
    import ai_edge_litert
    assert ai_edge_litert.__version__ == version, ai_edge_litert.__version__
    assert ai_edge_litert.__file__.startswith(sys.prefix), ai_edge_litert.__file__
    assert importlib.util.find_spec("tensorflow") is None
    assert importlib.util.find_spec("keras") is None
    import sttn_keras as sttn
    from sttn_keras.export import runtime
    info = runtime.installed_runtime()
    assert (info.name, info.version) == ("litert", version), info
    names = json.load(open(os.path.join(cases_dir, "cases.json")))
    data = np.load(os.path.join(cases_dir, "cases.npz"))
    n = 0
    for name in names:
        model = open(os.path.join(cases_dir, name + ".tflite"), "rb").read()
        for kernel in {kernels!r}:
            for threads in {threads!r}:
                interp = sttn.export.Interpreter(model, kernel=kernel,
                                                 num_threads=threads)
                assert interp.registered_ops == runtime.registered_ops()
                y = interp.predict(data[name + "/x"])
                np.testing.assert_array_equal(y, data[name + "/y"],
                                              err_msg=name + "/" + kernel)
                n += 1
    assert "tensorflow" not in sys.modules and "keras" not in sys.modules
    print("SPOT_OK", version, n)
""").format(kernels=SPOT_KERNELS, threads=SPOT_THREADS)


@pytest.mark.slow
@pytest.mark.parametrize("version", _versions_to_test())
def test_litert_release_runs_the_spot_checks(tmp_path, version):
    assert rv.litert_version_supported(version), (
        f"{version} is outside the claimed range {rv.LITERT_SPECIFIER}"
    )
    start = time.time()
    py = _litert_venv(version)
    site = tmp_path / "site"
    _installed_layout(site)
    cases = spot_checks()
    arrays = {}
    for name, model, x, expected in cases:
        (tmp_path / f"{name}.tflite").write_bytes(model)
        arrays[f"{name}/x"], arrays[f"{name}/y"] = x, expected
    np.savez(tmp_path / "cases.npz", **arrays)
    (tmp_path / "cases.json").write_text(json.dumps([c[0] for c in cases]))
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "STTN_RUNTIME", "STTN_OPS_LIBRARY")
    }
    env["PYTHONPATH"] = str(site)
    proc = subprocess.run(
        [py, "-c", _CHILD, version, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(site),
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    expected_runs = len(cases) * len(SPOT_KERNELS) * len(SPOT_THREADS)
    assert f"SPOT_OK {version} {expected_runs}" in proc.stdout, proc.stdout
    assert time.time() - start < 120


def test_public_names():
    import sttn_keras as sttn

    assert sttn.export.UnsupportedRuntimeError is runtime.UnsupportedRuntimeError
    assert "UnsupportedRuntimeError" in dir(sttn.export)
