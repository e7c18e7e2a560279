"""Builds and runs the libFuzzer targets of ``tests/fuzz/*_fuzzer.cc``.

The targets link the sources of the ``fuzz`` target of
``export/native_build.json`` (core, FlexBuffer reader, op glue, host C API),
compiled once with clang's ``-fsanitize=fuzzer-no-link,address,undefined``
into ``build/fuzz/<flags hash>/``; each target adds its own file with
``-fsanitize=fuzzer``. UBSan findings abort (``-fno-sanitize-recover=all``),
so any sanitizer report is a crash that libFuzzer records.

Used by ``make fuzz`` (``tests/fuzz/run.py``) and the smoke test
(``tests/test_fuzz.py``).
"""

from __future__ import annotations

import hashlib
import os
import re
import resource
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(__file__))))

from tests.native import ROOT, compile_objects, link, native_build  # noqa: E402

FUZZ_DIR = os.path.join(ROOT, "tests", "fuzz")
CORPUS_DIR = os.path.join(FUZZ_DIR, "corpus")
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
COMMON = ["-O1", "-g", "-fno-omit-frame-pointer", *SANITIZE]
# Library sources compiled at -O0 instead of -O1, with the same sanitizer and
# coverage instrumentation (ASan and UBSan check every access and operation
# at -O0 too; only the optimizer is skipped). clang's -O1 with
# ASan+UBSan+coverage spends 130-150 CPU s on the AVX2 table kernels alone
# (their always-inline template instances, unrolled and then instrumented;
# 10 s at -O0), more than the other 31 library sources together: most of the
# fuzz smoke test's cost in `make test` (issue 17). Their code runs slower
# under the fuzzers; nothing they check changes.
UNOPTIMIZED = ("export/core/ternary_gemm_table_avx2.cc",)


def clang() -> str | None:
    """The clang++ that builds the targets (``$FUZZ_CXX`` or ``clang++``), or
    None when none is installed or it lacks libFuzzer's runtime."""
    for name in (os.environ.get("FUZZ_CXX"), "clang++"):
        if name and shutil.which(name):
            r = subprocess.run(
                [name, "-print-file-name=libclang_rt.fuzzer-x86_64.a"],
                capture_output=True,
                text=True,
            )
            path = r.stdout.strip()
            if os.path.isabs(path) and os.path.exists(path):
                return name
            if r.returncode == 0 and os.uname().machine != "x86_64":
                return name
    return None


def targets() -> list[str]:
    """Names of the targets (``op_fuzzer``, ...), from the manifest."""
    srcs = native_build.load()["fuzz"]["srcs"]
    found = []
    for pattern in srcs:
        import glob

        found += sorted(glob.glob(pattern, root_dir=ROOT))
    return [os.path.splitext(os.path.basename(p))[0] for p in found]


def build(cxx: str, out_dir: str | None = None) -> dict[str, str]:
    """Builds every target; returns ``{name: binary path}``. Objects of the
    library sources are cached per compiler and flags, so a rebuild after
    editing one file recompiles what changed (make-style, by mtime)."""
    version = subprocess.run(
        [cxx, "--version"], capture_output=True, text=True, check=True
    ).stdout.splitlines()[0]
    lib_flags = [*COMMON, "-fsanitize=fuzzer-no-link", *native_build.copts()]
    key = hashlib.sha1(
        (version + " ".join(lib_flags) + " ".join(UNOPTIMIZED)).encode()
    ).hexdigest()[:10]
    out_dir = out_dir or os.path.join(ROOT, "build", "fuzz", key)
    objdir = os.path.join(out_dir, "obj")
    os.makedirs(objdir, exist_ok=True)
    manifest = native_build.load()
    spec = manifest["fuzz"]
    lib_sources = []
    for name in spec["libraries"]:
        import glob

        for pattern in manifest["libraries"][name]["srcs"]:
            lib_sources += sorted(glob.glob(pattern, root_dir=ROOT))
    headers = _headers()
    newest_header = max(os.path.getmtime(h) for h in headers)
    objects = []
    todo = []
    for src in lib_sources:
        obj = os.path.join(objdir, os.path.basename(src) + ".o")
        objects.append(obj)
        path = os.path.join(ROOT, src)
        if not os.path.exists(obj) or os.path.getmtime(obj) < max(
            os.path.getmtime(path), newest_header
        ):
            todo.append(
                (path, _unoptimized(lib_flags) if src in UNOPTIMIZED else lib_flags)
            )
    if todo:
        built = compile_objects(cxx, todo, os.path.join(objdir, "new"))
        for (path, _), obj in zip(todo, built):
            os.replace(obj, os.path.join(objdir, os.path.basename(path) + ".o"))
    binaries = {}
    test_flags = [*COMMON, "-fsanitize=fuzzer", *native_build.copts(library=False)]
    for name in targets():
        src = os.path.join(FUZZ_DIR, name + ".cc")
        binary = os.path.join(out_dir, name)
        inputs = [src, *objects, *headers]
        if not os.path.exists(binary) or os.path.getmtime(binary) < max(
            os.path.getmtime(p) for p in inputs
        ):
            obj = compile_objects(
                cxx, [(src, test_flags)], os.path.join(out_dir, name + ".obj")
            )
            link(
                cxx,
                [*obj, *objects],
                [*COMMON, "-fsanitize=fuzzer", *native_build.linkopts()],
                binary,
            )
        binaries[name] = binary
    return binaries


def _unoptimized(flags: list[str]) -> list[str]:
    """``flags`` with -O1 replaced by -O0 (see UNOPTIMIZED)."""
    return ["-O0" if f == "-O1" else f for f in flags]


def _headers() -> list[str]:
    import glob

    found = []
    for folder in ("export/core", "export/tflite", "export/host"):
        found += glob.glob(os.path.join(ROOT, folder, "*.h"))
    return found


_STAT = re.compile(r"stat::number_of_executed_units:\s*(\d+)")
_DONE = re.compile(r"Done (\d+) runs")


def run(
    binary: str,
    corpus: list[str],
    *,
    seconds: int | None = None,
    runs: int | None = None,
    workdir: str,
    timeout_ms: int = 2000,
    rss_limit_mb: int = 2048,
) -> dict:
    """Runs one target, fuzzing for ``seconds`` (new inputs go to the first
    corpus folder) or, with ``seconds=None``, only over the given corpus
    files/folders (``runs`` > 0 adds that many mutations). Returns
    ``{"executions": n, "crashes": [paths], "rc": rc, "log": tail}``;
    crash, timeout and out-of-memory inputs land in ``workdir``."""
    os.makedirs(workdir, exist_ok=True)
    # libFuzzer reads its peak RSS from getrusage, and Linux carries a
    # process's peak across fork and exec: started from a pytest worker that
    # holds TensorFlow and models (5 GB), the target would "run out of
    # memory" at its first input. The limit is therefore on top of the peak
    # it inherits from us, and no single allocation may exceed rss_limit_mb.
    inherited_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    cmd = [
        binary,
        f"-artifact_prefix={workdir}/",
        f"-timeout={max(1, timeout_ms // 1000)}",
        f"-rss_limit_mb={rss_limit_mb + inherited_mb}",
        f"-malloc_limit_mb={rss_limit_mb}",
        "-print_final_stats=1",
        "-print_pcs=0",
        "-reload=0",
    ]
    if seconds is not None:
        cmd += [f"-max_total_time={seconds}", "-max_len=4096"]
    elif runs:
        cmd += [f"-runs={runs}"]
    else:
        cmd += ["-runs=0"]
    env = {
        **os.environ,
        "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:symbolize=1",
        "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
    }
    proc = subprocess.run(
        [*cmd, *corpus],
        capture_output=True,
        text=True,
        env=env,
        timeout=(seconds or 60) + 300,
    )
    log = proc.stderr
    m = _STAT.search(log)
    executions = int(m.group(1)) if m else 0
    if not m:
        done = _DONE.search(log)
        executions = int(done.group(1)) if done else 0
    crashes = sorted(
        os.path.join(workdir, f)
        for f in os.listdir(workdir)
        if f.startswith(("crash-", "timeout-", "oom-", "leak-"))
    )
    return {
        "executions": executions,
        "crashes": crashes,
        "rc": proc.returncode,
        "log": log[-6000:],
    }
