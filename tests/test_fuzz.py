"""Smoke run of the fuzzers (``make fuzz`` runs them for longer; README
"Fuzzing"). Seconds each, on the committed corpus:

* every libFuzzer target of ``tests/fuzz`` (clang, ``-fsanitize=fuzzer,
  address,undefined``) replays its seeds and regression inputs, then runs a
  fixed number of mutations with a fixed seed;
* the whole-model fuzzer runs a fixed set of mutated models through
  ``Interpreter`` under the ASan+UBSan build of the library, and replays the
  committed seed and regression models in every kernel type.

Any crash, hang, sanitizer report or failed oracle fails the test with the
fuzzer's log. Skipped (saying why) without clang's libFuzzer runtime or g++'s
sanitizer runtimes; ``make setup`` installs both.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.fuzz import libfuzzer, model_fuzz
from tests.native import ROOT

# Mutations per libFuzzer target after the corpus: about 1-3 s each on the
# 2-core CI machine (the op target runs about 1,400 cases/s there).
SMOKE_RUNS = 3000
# Whole-model cases: about 120 cases/s under ASan, plus the interpreter's
# start-up under the sanitizer runtimes.
SMOKE_MODEL_CASES = 300


@pytest.fixture(scope="module")
def binaries():
    cxx = libfuzzer.clang()
    if cxx is None:
        pytest.skip("clang++ with libFuzzer's runtime is not installed (make setup)")
    return libfuzzer.build(cxx)


def test_every_target_is_built_from_the_manifest(binaries):
    assert sorted(binaries) == [
        "flexbuffer_map_fuzzer",
        "op_fuzzer",
        "packed_output_fuzzer",
        "weight_decoder_fuzzer",
    ]
    for name in binaries:
        assert os.listdir(os.path.join(libfuzzer.CORPUS_DIR, name)), name


@pytest.mark.parametrize(
    "target",
    [
        "flexbuffer_map_fuzzer",
        "op_fuzzer",
        "packed_output_fuzzer",
        "weight_decoder_fuzzer",
    ],
)
def test_libfuzzer_smoke(binaries, target, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for folder in ("corpus", "regressions"):
        for path in glob.glob(os.path.join(libfuzzer.FUZZ_DIR, folder, target, "*")):
            shutil.copy(path, corpus)
    n_inputs = len(os.listdir(corpus))
    r = libfuzzer.run(
        binaries[target],
        [str(corpus), "-seed=1"],
        runs=SMOKE_RUNS,
        workdir=str(tmp_path / "artifacts"),
    )
    assert r["rc"] == 0 and not r["crashes"], r["log"]
    assert r["executions"] >= min(SMOKE_RUNS, n_inputs), r["log"]


def _sanitizer_env():
    try:
        return model_fuzz.asan_env()
    except (RuntimeError, FileNotFoundError, subprocess.CalledProcessError) as e:
        pytest.skip(f"no g++ sanitizer build: {e}")


def test_model_fuzzer_smoke_under_sanitizers(tmp_path):
    env = _sanitizer_env()
    out = tmp_path / "out"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.fuzz.model_fuzz",
            "--cases",
            str(SMOKE_MODEL_CASES),
            "--seed",
            "0",
            "--out",
            str(out),
            "--json",
            str(tmp_path / "result.json"),
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    with open(tmp_path / "result.json") as f:
        result = json.load(f)
    assert result["sanitizers"] and result["cases"] == SMOKE_MODEL_CASES, result
    ours = [x for x in result["findings"] if x["ours"] is not False]
    logs = "".join(open(x["path"] + ".log").read()[-3000:] for x in ours)
    assert not ours, f"{ours}\n{logs}"
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    # Cases that pass the validation and run are part of the mix.
    assert result["ok"] > SMOKE_MODEL_CASES // 20, result


def test_seed_and_regression_models_replay_under_sanitizers():
    env = _sanitizer_env()
    paths = sorted(
        glob.glob(os.path.join(model_fuzz.MODELS, "*.tflite"))
        + glob.glob(os.path.join(model_fuzz.REGRESSIONS, "*.tflite"))
    )
    assert paths
    run = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.model_fuzz", "--replay", *paths],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
