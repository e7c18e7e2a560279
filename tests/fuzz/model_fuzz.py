"""Structure-aware fuzzing of whole ``.tflite`` models through ``Interpreter``.

Each case takes a seed model of ``tests/fuzz/corpus/models/`` and applies one
to three mutations to its flatbuffer (object API of
``ai_edge_litert.schema_py_generated``):

* ``options``: a custom op's FlexBuffer options: an int nudged, zeroed,
  negated or made huge; a value of another type; a key dropped, renamed or
  added; an enum string changed; or the raw option bytes flipped;
* ``buffer``: a constant buffer's bytes flipped, set, truncated, extended
  or replaced (packed weights, scales, biases, thresholds);
* ``shape``: a tensor's dimension changed, added or removed (also the shape
  signature);
* ``type``: a tensor's element type changed;
* ``wiring``: an op's input or output index changed, removed, duplicated or
  made optional (-1); a tensor pointed at another buffer;
* ``opcode``: a custom op renamed to another sttn op, or its version changed;
* ``raw``: after packing, bytes of the file itself flipped.

A forked child then loads the case (``Interpreter(bytes, kernel=...)``, a
random kernel type of this CPU), fills every input with random data of its
shape and type, invokes and reads the outputs. Rejections (``ValueError``,
``RuntimeError``, ``IndexError`` with a message) are the expected result of
most cases; a crash, a sanitizer report, another exception type or a hang is
a finding. The child runs cases one after the other and tells the parent the
index of each case before it starts, so a crash names its case, which the
parent regenerates (cases are a pure function of the seed and index) and
saves as a regression input.

Run it through ``make fuzz`` or ``python -m tests.fuzz.model_fuzz`` (see
``--help``); with ``--asan`` it runs under an ASan+UBSan build of the sttn
library, as tests/test_core_cc.py does (the sanitizer runtimes preloaded).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import re
import select
import signal
import subprocess
import sys
import time

from sttn_keras.export.op_format import ALL_OPS  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.path.join(ROOT, "tests", "fuzz", "corpus", "models")
REGRESSIONS = os.path.join(ROOT, "tests", "fuzz", "regressions", "models")
# The op order of sttn_tflite_op_name (OpKind, export/tflite/op_data.h):
# op_format.ALL_OPS, which tests/test_op_contract.py ties to the library.
STTN_OPS = ALL_OPS
EXPECTED_ERRORS = (ValueError, RuntimeError, IndexError)


def deployment_imports() -> None:
    """Imports what every child needs once, in the parent, before forking:
    numpy, the TFLite schema and our native library (``import sttn_keras``
    loads neither Keras nor TensorFlow: tests/test_runtime_lean.py)."""
    import numpy  # noqa: F401
    from ai_edge_litert import schema_py_generated  # noqa: F401

    from sttn_keras.export import native_library

    native_library.library()


# ---------------------------------------------------------------------------
# Mutations (pure functions of a random.Random).


def _interesting_int(rng: random.Random, v: int) -> int:
    return rng.choice(
        [
            v + 1,
            v - 1,
            0,
            -v,
            -1,
            2 * v,
            v + 32,
            1 << 16,
            (1 << 24) + 1,
            (1 << 31) - 1,
            -(1 << 31),
            (1 << 63) - 1,
            rng.randint(0, 300),
        ]
    )


def _interesting_float(rng: random.Random) -> float:
    return rng.choice(
        [0.0, -0.0, 1.0, -1.0, float("inf"), float("-inf"), float("nan"), 1e-45, 3e38]
    )


def _mutate_options(rng: random.Random, op) -> str:
    from flatbuffers import flexbuffers

    from tests.tflite_builder import flexbuffer_map

    raw = bytes(bytearray(op.customOptions)) if op.customOptions is not None else b""
    if not raw or rng.random() < 0.2:
        data = bytearray(raw or b"\x00\x00\x01")
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(data))
            data[i] = rng.choice([0, 0xFF, data[i] ^ (1 << rng.randrange(8)), 0x7F])
        if rng.random() < 0.2:
            data = data[: rng.randrange(len(data) + 1)]
        op.customOptions = list(data)
        return "options-raw"
    try:
        opts = flexbuffers.Loads(raw)
    except Exception:
        opts = None
    if not isinstance(opts, dict):
        op.customOptions = list(raw[:-1])
        return "options-raw"
    opts = {k: v for k, v in opts.items()}
    keys = sorted(opts)
    action = rng.randrange(6)
    key = rng.choice(keys) if keys else "version"
    value = opts.get(key)
    if action == 0 and isinstance(value, int) and not isinstance(value, bool):
        opts[key] = _interesting_int(rng, value)
    elif action == 1:
        opts[key] = rng.choice(
            ["RELU", "SAME", "PACKED", "base3", "x" * rng.randint(0, 80), 1.5, True, 0]
        )
    elif action == 2 and keys:
        del opts[key]
    elif action == 3:
        opts[rng.choice(["unknown", "kernel", "padding", "tfl_fusable_op", "b"])] = 1
    elif action == 4 and isinstance(value, str):
        opts[key] = rng.choice(["NONE", "VALID", "FLOAT", "trit2", "", "relu"])
    else:
        opts[key] = _interesting_float(rng)
    try:
        op.customOptions = list(flexbuffer_map(opts))
    except Exception:  # a value the FlexBuffers builder refuses
        op.customOptions = list(raw[: len(raw) // 2])
    return f"options-{action}"


def _mutate_buffer(rng: random.Random, model) -> str:
    candidates = [b for b in model.buffers if b.data is not None and len(b.data) > 0]
    if not candidates:
        return "buffer-none"
    buf = rng.choice(candidates)
    data = bytearray(bytes(bytearray(buf.data)))
    action = rng.randrange(6)
    if action == 0:
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
    elif action == 1:
        i = rng.randrange(len(data))
        data[i] = rng.choice([0xFF, 0xF3, 0xAA, 0x80, 0x7F, 0x00, 243, 242])
    elif action == 2:
        data = data[: rng.randrange(len(data))]
    elif action == 3:
        data += bytes(rng.randrange(256) for _ in range(rng.choice([1, 3, 4, 64])))
    elif action == 4:
        # float32 specials at a float-aligned offset
        import struct

        if len(data) >= 4:
            i = 4 * rng.randrange(len(data) // 4)
            data[i : i + 4] = struct.pack("<f", _interesting_float(rng))
    else:
        data = bytearray(rng.randrange(256) for _ in range(len(data)))
    buf.data = list(data)
    return f"buffer-{action}"


def _sttn_tensor(rng: random.Random, model):
    """A tensor of an sttn op (80%) or any tensor."""
    sub = model.subgraphs[0]
    ops = _custom_ops(model)
    if ops and rng.random() < 0.8:
        op = rng.choice(ops)
        ids = [i for i in list(op.inputs) + list(op.outputs) if i >= 0]
        if ids:
            return sub.tensors[rng.choice(ids) % len(sub.tensors)]
    return rng.choice(sub.tensors)


def _mutate_shape(rng: random.Random, model) -> str:
    t = _sttn_tensor(rng, model)
    shape = list(t.shape if t.shape is not None else [])
    action = rng.randrange(4)
    if action == 0 and shape:
        i = rng.randrange(len(shape))
        shape[i] = rng.choice([0, 1, 2, shape[i] + 1, shape[i] - 1, 64, 1 << 20, -1])
    elif action == 1:
        shape.insert(rng.randrange(len(shape) + 1), rng.choice([1, 2, 3]))
    elif action == 2 and shape:
        shape.pop(rng.randrange(len(shape)))
    else:
        t.shapeSignature = [rng.choice([-1, 1, 2]) for _ in shape] or None
        return "shape-signature"
    t.shape = shape
    if t.shapeSignature is not None:
        t.shapeSignature = [-1 if i == 0 else d for i, d in enumerate(shape)]
    return f"shape-{action}"


def _mutate_type(rng: random.Random, model) -> str:
    t = _sttn_tensor(rng, model)
    t.type = rng.choice([0, 1, 2, 3, 4, 6, 7, 9, 10, 16])
    return "type"


def _mutate_wiring(rng: random.Random, model) -> str:
    sub = model.subgraphs[0]
    n = len(sub.tensors)
    ops = _custom_ops(model)
    op = rng.choice(ops if ops and rng.random() < 0.8 else sub.operators)
    action = rng.randrange(6)
    ins = list(op.inputs)
    if action == 0 and ins:
        ins[rng.randrange(len(ins))] = rng.randrange(n)
    elif action == 1 and ins:
        ins.pop(rng.randrange(len(ins)))
    elif action == 2:
        ins.append(rng.choice(ins) if ins else 0)
    elif action == 3 and ins:
        ins[rng.randrange(len(ins))] = -1
    elif action == 4:
        outs = list(op.outputs)
        if outs:
            outs[0] = rng.randrange(n)
            op.outputs = outs
    else:
        t = rng.choice(sub.tensors)
        t.buffer = rng.randrange(len(model.buffers))
    op.inputs = ins
    return f"wiring-{action}"


def _mutate_opcode(rng: random.Random, model) -> str:
    codes = [c for c in model.operatorCodes if c.customCode]
    if not codes:
        return "opcode-none"
    code = rng.choice(codes)
    if rng.random() < 0.7:
        code.customCode = rng.choice(STTN_OPS)
        return "opcode-name"
    code.version = rng.choice([0, 2, 3, 1000])
    return "opcode-version"


def _custom_ops(model):
    names = {
        i: (c.customCode.decode() if isinstance(c.customCode, bytes) else c.customCode)
        for i, c in enumerate(model.operatorCodes)
    }
    return [
        op
        for op in model.subgraphs[0].operators
        if names.get(op.opcodeIndex) in STTN_OPS
    ]


def mutate(seed_bytes: bytes, rng: random.Random) -> tuple[bytes, list[str]]:
    """One case: the seed model with 1-3 mutations; returns (bytes, what)."""
    from ai_edge_litert import schema_py_generated as schema

    from tests.tflite_builder import _AlignedBufferT

    model = schema.ModelT.InitFromPackedBuf(seed_bytes, 0)
    what = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        kind = rng.choices(
            ["options", "buffer", "shape", "type", "wiring", "opcode"],
            weights=[30, 30, 15, 8, 10, 7],
        )[0]
        if kind == "options":
            ops = _custom_ops(model)
            what.append(_mutate_options(rng, rng.choice(ops)) if ops else "none")
        elif kind == "buffer":
            what.append(_mutate_buffer(rng, model))
        elif kind == "shape":
            what.append(_mutate_shape(rng, model))
        elif kind == "type":
            what.append(_mutate_type(rng, model))
        elif kind == "wiring":
            what.append(_mutate_wiring(rng, model))
        else:
            what.append(_mutate_opcode(rng, model))
    for b in model.buffers:
        b.__class__ = _AlignedBufferT
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    data = bytes(builder.Output())
    if rng.random() < 0.05:
        raw = bytearray(data)
        for _ in range(rng.randint(1, 6)):
            i = rng.randrange(len(raw))
            raw[i] = rng.randrange(256)
        data = bytes(raw)
        what.append("raw")
    return data, what


def seeds() -> list[tuple[str, bytes]]:
    """The seed models, by name (sorted: a case is reproducible)."""
    out = []
    for path in sorted(glob.glob(os.path.join(MODELS, "*.tflite"))):
        with open(path, "rb") as f:
            out.append((os.path.basename(path), f.read()))
    return out


def make_case(base_seed: int, index: int, seed_models) -> tuple[bytes, str, list[str]]:
    rng = random.Random(f"{base_seed}:{index}")
    name, data = seed_models[rng.randrange(len(seed_models))]
    model, what = mutate(data, rng)
    return model, name, what


# ---------------------------------------------------------------------------
# Running a case (in the child).


def run_model(data: bytes, kernel: str, rng: random.Random) -> str:
    """Loads, allocates, invokes; returns "ok" or "rejected" (an expected
    error). Any other exception propagates: a finding."""
    import numpy as np

    from sttn_keras.export import Interpreter

    nprng = np.random.default_rng(rng.randrange(1 << 30))
    try:
        interp = Interpreter(data, kernel=kernel)
        for i, d in enumerate(interp.input_details):
            shape = [max(1, int(s)) for s in d["shape"]]
            if int(np.prod(shape)) > (1 << 22):
                return "rejected"
            dtype = np.dtype(d["dtype"])
            if dtype == np.float32:
                x = nprng.normal(0, 2, shape).astype(np.float32)
            elif dtype.kind in "iu":
                info = np.iinfo(dtype)
                x = nprng.integers(
                    info.min, info.max, shape, dtype=dtype, endpoint=True
                )
            else:
                x = np.zeros(shape, dtype)
            interp.set_input(x, i)
        interp.invoke()
        for i in range(len(interp.output_details)):
            interp.get_output(i)
    except EXPECTED_ERRORS as e:
        if not str(e):
            raise AssertionError(f"{type(e).__name__} without a message") from e
        return "rejected"
    return "ok"


def _child(base_seed: int, start: int, stop: int, kernels, write_fd: int) -> None:
    seed_models = seeds()
    for index in range(start, stop):
        os.write(write_fd, f"{index}\n".encode())
        data, _, _ = make_case(base_seed, index, seed_models)
        rng = random.Random(f"run:{base_seed}:{index}")
        kernel = rng.choice(kernels)
        try:
            outcome = run_model(data, kernel, rng)
        except BaseException as e:  # a finding: report and stop
            import traceback

            traceback.print_exc()
            sys.stderr.write(f"UNEXPECTED {type(e).__name__}: {e}\n")
            sys.stderr.flush()
            os._exit(3)
        os.write(write_fd, f"={outcome[0]}\n".encode())
    os._exit(0)


def fuzz(
    *,
    cases: int | None = None,
    seconds: float | None = None,
    base_seed: int = 0,
    start: int = 0,
    out_dir: str,
    hang_seconds: float = 20.0,
    batch: int = 200,
    progress: str | None = None,
) -> dict:
    """Runs cases ``start, start + 1, ...`` until ``cases`` or ``seconds``;
    returns the counts and the findings (also written to out_dir); with
    ``progress``, the counts so far are rewritten there after every batch."""
    deployment_imports()  # once in the parent; children inherit it
    from sttn_keras.export import runtime

    kernels = list(runtime.supported_kernels())
    seed_models = seeds()
    os.makedirs(out_dir, exist_ok=True)
    counts = {"cases": 0, "ok": 0, "rejected": 0}
    findings = []
    t0 = time.monotonic()
    index = start
    while True:
        if cases is not None and index >= start + cases:
            break
        if seconds is not None and time.monotonic() - t0 >= seconds:
            break
        stop = index + batch
        if cases is not None:
            stop = min(stop, start + cases)
        log_path = os.path.join(out_dir, "child.log")
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 2)
            os.dup2(fd, 1)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            try:
                _child(base_seed, index, stop, kernels, write_fd)
            finally:
                os._exit(4)
        os.close(write_fd)
        current, buf, done = None, b"", False
        hung = False
        while not done:
            ready, _, _ = select.select([read_fd], [], [], hang_seconds)
            if not ready:
                hung = True
                os.kill(pid, signal.SIGKILL)
                break
            chunk = os.read(read_fd, 65536)
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                if line.startswith(b"="):
                    counts["cases"] += 1
                    counts["ok" if line == b"=o" else "rejected"] += 1
                    current = None
                else:
                    current = int(line)
            if seconds is not None and time.monotonic() - t0 >= seconds + hang_seconds:
                break
        os.close(read_fd)
        _, status = os.waitpid(pid, 0)
        if progress:
            _dump(progress, counts, findings, t0)
        if current is None:
            index = stop
            continue
        # The child died, hung or reported during case `current`.
        counts["cases"] += 1
        with open(log_path, errors="replace") as f:
            log = f.read()[-20000:]
        data, name, what = make_case(base_seed, current, seed_models)
        kind = "hang" if hung else _classify(status, log)
        ours = _ours(log)
        folder = out_dir if ours is not False else os.path.join(out_dir, "litert")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{kind}-{base_seed}-{current}.tflite")
        with open(path, "wb") as f:
            f.write(data)
        with open(path + ".log", "w") as f:
            f.write(f"seed model {name}, mutations {what}\n{log}")
        findings.append(
            {
                "case": current,
                "kind": kind,
                "ours": ours,
                "seed": name,
                "mutations": what,
                "path": path,
            }
        )
        index = current + 1
    counts["seconds"] = round(time.monotonic() - t0, 1)
    counts["findings"] = findings
    return counts


def _dump(path: str, counts: dict, findings: list, t0: float) -> None:
    data = {**counts, "seconds": round(time.monotonic() - t0, 1), "findings": findings}
    with open(path + ".tmp", "w") as f:
        json.dump(data, f, indent=1)
    os.replace(path + ".tmp", path)


def _classify(status: int, log: str) -> str:
    if "AddressSanitizer" in log:
        return "asan"
    if "runtime error:" in log:
        return "ubsan"
    if "UNEXPECTED" in log:
        return "exception"
    if os.WIFSIGNALED(status):
        return f"signal{os.WTERMSIG(status)}"
    return f"exit{os.WEXITSTATUS(status)}"


_FRAME = re.compile(r"^\s*#\d+ 0x[0-9a-f]+ in (.*)$", re.M)


def _ours(log: str) -> bool | None:
    """Whether a sanitizer report's native stack runs through the sttn
    library (its file name or our sources); None without a native stack (a
    plain signal or a Python exception: counted as ours)."""
    frames = _FRAME.findall(log)
    if not frames:
        return None
    return any(
        s in f
        for f in frames
        for s in ("sttn_ops", "/export/core/", "/export/tflite/", "/export/host/")
    )


# ---------------------------------------------------------------------------
# ASan+UBSan build of the library (as tests/test_core_cc.py builds it).


# Flags of the ASan+UBSan build of the library (-Werror: the same warnings
# policy as the other test builds of these sources; -g1: line tables, all a
# sanitizer report uses, without -g's costly variable locations).
ASAN_FLAGS = [
    "-O1",
    "-g1",
    "-fno-omit-frame-pointer",
    "-fPIC",
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-Werror",
]


def _asan_build(cxx: str) -> tuple[str, dict[str, str]]:
    """Builds (once, cached by mtimes: an object is recompiled when its
    source or any header is newer; a file lock keeps two pytest workers from
    building it twice) the shared library with ``-fsanitize=address,undefined``
    under build/fuzz/asan/<compiler and flags hash>/, from one object per
    source. Returns the library and ``{source path: object path}``: the -O1
    variant of tests/test_core_cc.py links the core's objects from here
    instead of compiling the same sources with the same flags again."""
    import fcntl
    import hashlib

    sys.path.insert(0, ROOT)
    from tests.native import abs_sources, compile_objects, link, native_build

    flags = [*ASAN_FLAGS, *native_build.copts()]
    version = subprocess.run(
        [cxx, "--version"], capture_output=True, text=True, check=True
    ).stdout.splitlines()[0]
    key = hashlib.sha1((version + " ".join(flags)).encode()).hexdigest()[:10]
    out_dir = os.path.join(ROOT, "build", "fuzz", "asan", key)
    out = os.path.join(out_dir, "sttn_ops_asan.so")
    sources = abs_sources("shared_library")
    headers = []
    for folder in ("export/core", "export/tflite", "export/host"):
        headers += glob.glob(os.path.join(ROOT, folder, "*.h"))
    newest_header = max(os.path.getmtime(p) for p in headers)
    objdir = os.path.join(out_dir, "obj")
    objects = {s: os.path.join(objdir, os.path.basename(s) + ".o") for s in sources}
    os.makedirs(objdir, exist_ok=True)
    with open(os.path.join(out_dir, "lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        todo = [
            s
            for s in sources
            if not os.path.exists(objects[s])
            or os.path.getmtime(objects[s]) < max(os.path.getmtime(s), newest_header)
        ]
        if todo or not os.path.exists(out):
            try:
                built = compile_objects(
                    cxx, [(s, flags) for s in todo], os.path.join(objdir, "new")
                )
            except AssertionError as e:
                raise RuntimeError(f"building {out} failed:\n{e}") from None
            for s, obj in zip(todo, built):
                os.replace(obj, objects[s])
            try:
                link(
                    cxx,
                    [objects[s] for s in sources],
                    [
                        "-shared",
                        "-fsanitize=address,undefined",
                        *native_build.linkopts(),
                        "-Wl,--version-script=" + native_build.version_script(),
                    ],
                    out + ".tmp",
                )
            except AssertionError as e:
                raise RuntimeError(f"linking {out} failed:\n{e}") from None
            os.replace(out + ".tmp", out)
    return out, objects


def asan_library(cxx: str = "g++") -> str:
    """build/fuzz/asan/<hash>/sttn_ops_asan.so: the shared library with
    ``-fsanitize=address,undefined`` (built once; see ``_asan_build``). Also
    used by tests/test_core_cc.py."""
    return _asan_build(cxx)[0]


def asan_objects(cxx: str = "g++") -> dict[str, str]:
    """``{source path: object}`` of the ASan+UBSan library build (ASAN_FLAGS
    and every copt of the library, -fPIC and hidden visibility included)."""
    return _asan_build(cxx)[1]


def asan_env(cxx: str = "g++") -> dict[str, str]:
    """Environment that runs Python with the ASan+UBSan library."""
    preload = []
    for name in ("libasan.so", "libubsan.so"):
        path = subprocess.run(
            [cxx, f"-print-file-name={name}"], capture_output=True, text=True
        ).stdout.strip()
        if not os.path.isabs(path):
            raise RuntimeError(f"{name} not found for {cxx}")
        preload.append(path)
    return {
        **os.environ,
        "STTN_OPS_LIBRARY": asan_library(cxx),
        "LD_PRELOAD": " ".join(preload),
        "ASAN_OPTIONS": "detect_leaks=0:handle_segv=1:allocator_may_return_null=1",
        "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, help="number of cases")
    p.add_argument("--seconds", type=float, help="or: run for this long")
    p.add_argument("--seed", type=int, default=0, help="base seed of the cases")
    p.add_argument("--start", type=int, default=0, help="first case index")
    p.add_argument("--out", default=os.path.join(ROOT, "build", "fuzz", "models"))
    p.add_argument("--asan", action="store_true", help="re-run under ASan+UBSan")
    p.add_argument("--json", help="write the counts here")
    p.add_argument(
        "--replay", nargs="*", help="run these .tflite files (regressions) instead"
    )
    args = p.parse_args(argv)
    if args.asan and "STTN_OPS_LIBRARY" not in os.environ:
        cmd = [sys.executable, "-m", "tests.fuzz.model_fuzz", *(argv or sys.argv[1:])]
        cmd.remove("--asan")
        return subprocess.run(cmd, env=asan_env(), cwd=ROOT).returncode
    sys.path.insert(0, ROOT)
    if args.replay is not None:
        return replay(args.replay)
    result = fuzz(
        cases=args.cases,
        seconds=args.seconds,
        base_seed=args.seed,
        start=args.start,
        out_dir=args.out,
        progress=args.json,
    )
    result["sanitizers"] = "STTN_OPS_LIBRARY" in os.environ
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text)
    return 1 if any(f["ours"] is not False for f in result["findings"]) else 0


def replay(paths: list[str]) -> int:
    """Runs each file with every kernel type, in one forked child per file
    (forking under the sanitizer runtimes costs about 0.1 s); 0 when none
    crashes, hangs or raises an unexpected exception."""
    deployment_imports()
    from sttn_keras.export import runtime

    kernels = runtime.supported_kernels()
    bad = 0
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        pid = os.fork()
        if pid == 0:
            try:
                for kernel in kernels:
                    run_model(data, kernel, random.Random(0))
            except BaseException:
                import traceback

                traceback.print_exc()
                os._exit(3)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        if status != 0:
            print(f"{path}: status {status}")
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
