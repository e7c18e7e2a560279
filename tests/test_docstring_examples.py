"""Every example in a public docstring runs (``>>>`` lines are doctests).

The library's modules and the test oracles are walked and their doctests run
with a few shared names, so examples read like user code:

* ``model``: a small STTN model (``sttn_keras.models.small_cnn``, 28x28x1);
* ``x`` / ``images``: a float32 batch of 4 inputs for it;
* ``data``: ``model`` exported to ``.tflite`` bytes;
* the working directory holds ``model.tflite`` and ``m.keras`` (that model)
  and is a fresh temporary directory, so examples may write files;
* the data set examples read the local copies (``STTN_DATA_DIR``, or
  ``../shared/data`` beside the checkout).

No example may be skipped (``+SKIP``): an example that cannot run is written
as prose or as a code block instead.
"""

from __future__ import annotations

import doctest
import importlib
import io
import os
import pkgutil
import re

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Modules whose docstrings are examples for users, plus the test oracles
# (their examples document the format).
EXTRA_MODULES = ("tests.ternary_reference", "tests.tflite_builder")


def _library_modules():
    # sttn_keras.export is mapped onto export/ by the editable install, so
    # each package is listed from its own __path__.
    import sttn_keras.export

    names = ["sttn_keras", "sttn_keras.export"]
    for package in (sttn_keras, sttn_keras.export):
        # Subpackages too (sttn_keras.tfmot.*); private names (_sttn_ops.so,
        # _tf_keras) are not walked.
        prefix = package.__name__ + "."
        # Renamed modules' old paths (deprecated aliases of one release)
        # are the new modules themselves: walked under their new names only.
        renamed = {prefix + old for old in package._RENAMED}
        for info in pkgutil.walk_packages(package.__path__, prefix):
            if info.name in renamed:
                continue
            if not any(part.startswith("_") for part in info.name.split(".")):
                names.append(info.name)
    return sorted(set(names)) + list(EXTRA_MODULES)


MODULES = _library_modules()


@pytest.fixture(scope="module")
def shared_names(tmp_path_factory):
    import keras

    import sttn_keras as sttn

    keras.utils.set_random_seed(0)
    model = sttn.models.small_cnn(input_shape=(28, 28, 1), num_classes=10)
    images = np.random.default_rng(0).normal(size=(4, 28, 28, 1)).astype("float32")
    home = tmp_path_factory.mktemp("doctest_home")
    data = sttn.export.to_tflite(model, str(home / "model.tflite"))
    model.save(str(home / "m.keras"))
    names = {
        "model": model,
        "x": images,
        "images": images,
        "data": data,
        "np": np,
        "keras": keras,
        "sttn": sttn,
    }
    return home, names


def test_the_walk_finds_the_library():
    assert {
        "sttn_keras.export.keras_to_tflite",
        "sttn_keras.layers",
        "sttn_keras.export.runtime",
    } <= set(MODULES)
    # The deprecated old paths are the same modules: not run twice.
    assert "sttn_keras.export.converter" not in MODULES
    assert "sttn_keras.convert" not in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, shared_names, monkeypatch):
    home, names = shared_names
    if name == "sttn_keras.datasets" and not os.environ.get("STTN_DATA_DIR"):
        shared = os.path.join(ROOT, "..", "shared", "data")
        if not os.path.isdir(shared):
            pytest.skip(
                "the data set examples read the local copies (STTN_DATA_DIR "
                "or ../shared/data), and neither is here"
            )
        monkeypatch.setenv("STTN_DATA_DIR", shared)
    module = importlib.import_module(name)
    monkeypatch.chdir(home)
    finder = doctest.DocTestFinder(exclude_empty=True)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    runner = doctest.DocTestRunner(optionflags=flags)
    out = io.StringIO()
    examples = 0
    for test in finder.find(module, name):
        if test.filename and not os.path.abspath(test.filename).startswith(ROOT):
            continue  # a name imported from Keras or numpy
        test.globs = {**names, **test.globs}
        examples += len(test.examples)
        runner.run(test, out=out.write)
    assert runner.failures == 0, out.getvalue()[-6000:]


def _docstrings_with_skips():
    pattern = re.compile(r"doctest:\s*\+SKIP")
    found = []
    for folder in ("sttn_keras", "export"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, folder)):
            for f in files:
                if f.endswith(".py"):
                    path = os.path.join(dirpath, f)
                    with open(path, encoding="utf-8") as fh:
                        for i, line in enumerate(fh, 1):
                            if pattern.search(line):
                                found.append(f"{os.path.relpath(path, ROOT)}:{i}")
    return found


def test_no_example_is_skipped():
    assert _docstrings_with_skips() == []
