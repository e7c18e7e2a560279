"""Renamed modules keep their old import paths for one release (issue 19).

``sttn_keras.convert`` is now ``sttn_keras.float_to_sttn`` (float Keras model
-> STTN model), ``sttn_keras.export.converter`` is
``sttn_keras.export.keras_to_tflite`` (Keras model -> ``.tflite``) and
``sttn_keras.export.inspect_model`` is ``sttn_keras.export.inspect_tflite``
(it reads ``.tflite`` files). Each old path, imported or read as an
attribute, warns with a ``DeprecationWarning`` that points at the caller and
gives the new module itself (the same object, so every name matches).

Cost: imports the export pipeline (TensorFlow), a few seconds if nothing else
in the session has, and one subprocess without Keras (under a second); the
checks themselves take milliseconds.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import warnings

import pytest

RENAMED = [
    ("sttn_keras.convert", "sttn_keras.float_to_sttn"),
    ("sttn_keras.export.converter", "sttn_keras.export.keras_to_tflite"),
    ("sttn_keras.export.inspect_model", "sttn_keras.export.inspect_tflite"),
]
CALLER = "<code importing a renamed module>"


def _forget(old: str) -> None:
    """The next import of ``old`` runs its file again (and warns again)."""
    parent, _, child = old.rpartition(".")
    sys.modules.pop(old, None)
    vars(sys.modules[parent]).pop(child, None)


def _run(code: str) -> dict:
    names: dict = {}
    exec(compile(code, CALLER, "exec"), names)
    return names


def _one_warning(record, old: str, new: str) -> None:
    ours = [w for w in record if issubclass(w.category, DeprecationWarning)]
    assert len(ours) == 1, [str(w.message) for w in ours]
    message = str(ours[0].message)
    assert f"{old} is deprecated" in message and new in message, message
    assert ours[0].filename == CALLER, ours[0].filename  # points at the caller


@pytest.mark.parametrize("old, new", RENAMED)
@pytest.mark.parametrize(
    "statement",
    ["import {old} as got", "from {parent} import {child} as got", "got = {old}"],
)
def test_the_old_path_warns_and_gives_the_new_module(old, new, statement):
    module = importlib.import_module(new)
    parent, _, child = old.rpartition(".")
    _forget(old)
    code = f"import {parent}\n" + statement.format(old=old, parent=parent, child=child)
    with pytest.warns(DeprecationWarning) as record:
        got = _run(code)["got"]
    _one_warning(record, old, new)
    assert got is module
    public = getattr(module, "__all__", ())
    assert public and all(getattr(got, n) is getattr(module, n) for n in public)


def test_the_renamed_functions_keep_their_public_names():
    """What users call does not move: ``sttn.ternarize``, ``to_tflite``,
    ``op_histogram`` and ``ExportError`` under the packages."""
    import sttn_keras as sttn
    from sttn_keras.export import errors, folding, inspect_tflite, keras_to_tflite

    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        assert sttn.ternarize is sttn.float_to_sttn.ternarize
        assert sttn.export.to_tflite is keras_to_tflite.to_tflite
        assert sttn.export.op_histogram is inspect_tflite.op_histogram
        assert sttn.export.ExportError is errors.ExportError is folding.ExportError


def test_the_old_names_are_not_listed():
    """``dir()`` lists the new names only; the old ones still resolve."""
    for old, new in RENAMED:
        parent, _, child = old.rpartition(".")
        listed = dir(importlib.import_module(parent))
        assert new.rpartition(".")[2] in listed and child not in listed, listed


def test_a_user_script_sees_the_warning(tmp_path):
    """Under Python's default filters a DeprecationWarning shows only when it
    is attributed to ``__main__``: a script whose first import is an old path
    (before Keras, so the package's import hook wraps the loader) sees it at
    its own line. A fresh process; the runtime alias, so no Keras (< 1 s)."""
    script = tmp_path / "user_script.py"
    script.write_text("import sttn_keras.export.inspect_model\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"{script}:1: DeprecationWarning: sttn_keras.export.inspect_model " in (
        proc.stderr
    ), proc.stderr[-3000:]
