"""Package-level behaviour: what `import sttn_keras` gives a user."""

import os
import subprocess
import sys
import textwrap


def test_load_model_after_plain_import(tmp_path):
    # Saving and loading in separate processes: the loader must find the
    # sttn classes after nothing but `import sttn_keras`.
    path = tmp_path / "m.keras"
    # Keras imported first: sttn_keras registers its classes at once.
    save = textwrap.dedent(f"""
        import keras, sttn_keras as sttn
        assert keras.saving.get_registered_object("sttn>TernaryDense") is not None
        m = keras.Sequential([keras.Input((4,)), sttn.layers.TernaryDense(3, kernel_quantizer="twn")])
        m.save({str(path)!r})
    """)
    # sttn_keras imported first (it imports no Keras): the classes are
    # registered when Keras's own import completes.
    load = textwrap.dedent(f"""
        import sys
        import sttn_keras
        assert "keras" not in sys.modules and "tensorflow" not in sys.modules
        import keras
        m = keras.models.load_model({str(path)!r})
        assert type(m.layers[0]).__name__ == "TernaryDense", m.layers
        assert type(m.layers[0].kernel_quantizer).__name__ == "HardThresholdTernary"
        print("LOADED")
    """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    for script in (save, load):
        result = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-3000:]
    assert "LOADED" in result.stdout


def test_public_names():
    import sttn_keras as sttn

    assert callable(sttn.ternarize) and callable(sttn.summary)
    for name in ("TernaryConv2D", "TernaryDense", "TernaryDepthwiseConv2D"):
        assert hasattr(sttn.layers, name)
    assert sttn.export.OP_FORMAT_VERSION == 2
    assert set(sttn.__all__) >= {
        "layers",
        "quantizers",
        "ternarize",
        "summary",
        "export",
    }


def test_installed_version_is_the_package_version():
    """setup.py reads ``__version__`` from sttn_keras/__init__.py (one home)."""
    from importlib import metadata

    import sttn_keras as sttn

    assert metadata.version("sttn-keras") == sttn.__version__


def test_export_errors_are_importable_from_the_package():
    """ExportError lives in export/errors.py; the package and folding (its
    home before) give the same class."""
    from sttn_keras.export import ExportError, errors, folding

    assert ExportError is errors.ExportError is folding.ExportError
    assert issubclass(ExportError, ValueError)
    assert ExportError.__module__ == "sttn_keras.export.errors"
