"""Running our Python runtime under QEMU user mode, and counting what it executes.

Shared by ``tests/test_qemu_aarch64.py`` (an aarch64 Python runs our
``Interpreter``) and ``benchmarks/isa_cost.py`` (executed-instruction counts
per inference on CPUs this machine is not).

* ``aarch64_root()``: an aarch64 Python 3.11 with numpy and ai-edge-litert,
  from Debian's arm64 packages (``apt-get download`` + ``dpkg -x``; ``make
  setup`` adds the arm64 architecture to apt) and PyPI's
  ``manylinux_2_27_aarch64`` wheels (``pip download``), unpacked into
  ``.venv/qemu/aarch64-root``. QEMU 7.2 shows the host's x86
  ``/proc/cpuinfo`` to an aarch64 guest, on which the wheel's CPU detection
  crashes; the root holds a Cortex-A76 ``proc/cpuinfo`` and the guest reads
  it through QEMU's ``-L`` prefix (the CPU features themselves still come
  from QEMU's hwcaps, ``-cpu``).
* ``library(arch)``: our native library built from
  ``export/native_build.json`` (release flags) with ``g++`` or, for aarch64,
  ``aarch64-linux-gnu-g++``, cached under ``.venv/qemu/`` by a hash of the
  sources and flags.
* ``plugin()``: ``tests/qemu/insn_count.c``, our TCG counting plugin, built
  for the host.
* ``run_guest()``: a Python script under ``qemu-<arch> -cpu CPU`` with our
  package's installed layout (no TensorFlow or Keras on its path), optionally
  counting instructions; ``read_counts()`` parses the plugin's checkpoints
  and ``Symbolizer`` attributes guest addresses to library and symbol.

Everything downloaded is cached under ``.venv/qemu/`` (a file lock makes
concurrent pytest workers build it once).
"""

from __future__ import annotations

import bisect
import contextlib
import fcntl
import glob
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import zipfile

from tests.native import ROOT, compile_objects, link, native_build

# STTN_QEMU_CACHE: another folder (e.g. to measure two checkouts side by side).
CACHE = os.environ.get("STTN_QEMU_CACHE") or os.path.join(ROOT, ".venv", "qemu")
PLUGIN_SOURCE = os.path.join(ROOT, "tests", "qemu", "insn_count.c")
AARCH64_CXX = "aarch64-linux-gnu-g++"
# The dynamic QEMU of Debian's qemu-user (the static build cannot load plugins).
QEMU = {"aarch64": "/usr/bin/qemu-aarch64", "x86_64": "/usr/bin/qemu-x86_64"}
# The plugin's checkpoint: os.lseek(-1, MARKER, 0) (tests/qemu/insn_count.c).
MARKER = 0x5354544E434F5354

# Debian bookworm arm64 packages of python3.11 and what it and the wheels load.
ARM64_DEBS = (
    "python3.11-minimal",
    "libpython3.11-minimal",
    "libpython3.11-stdlib",
    "libc6",
    "libgcc-s1",
    "libstdc++6",
    "libexpat1",
    "zlib1g",
    "libffi8",
    "libssl3",
    "libbz2-1.0",
    "liblzma5",
    "libuuid1",
    "libcrypt1",
    "libsqlite3-0",
    "libncursesw6",
    "libtinfo6",
    "libreadline8",
    "libnsl2",
    "libtirpc3",
    "libdb5.3",
)
LITERT_VERSION = "2.3.0"
# An Arm Cortex-A76 as Linux describes it (MIDR fields: implementer 0x41 =
# Arm, part 0xd0b = Cortex-A76). Read by the wheel's CPU detection only.
FAKE_CPUINFO = """processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x4
CPU part\t: 0xd0b
CPU revision\t: 1

"""


class Unavailable(RuntimeError):
    """A tool or download this needs is missing (the message says which)."""


@contextlib.contextmanager
def _locked(name: str):
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, name + ".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _stamp_ok(path: str, want: dict) -> bool:
    try:
        with open(path) as f:
            return json.load(f) == want
    except (OSError, ValueError):
        return False


def _run(cmd: list[str], what: str, timeout: int = 600, **kw) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if r.returncode != 0:
        raise Unavailable(
            f"{what} failed ({' '.join(cmd[:4])} ...): {r.stderr[-1500:]}"
        )
    return r.stdout


def missing_tools(arch: str) -> str | None:
    """Why ``run_guest`` cannot run for ``arch`` here, or None."""
    if not os.path.exists(QEMU[arch]):
        return f"{QEMU[arch]} not installed (Debian qemu-user; make setup installs it)"
    if arch == "aarch64":
        for tool in (AARCH64_CXX, "apt-get", "dpkg"):
            if shutil.which(tool) is None:
                return f"{tool} not installed (make setup installs it)"
        arches = subprocess.run(
            ["dpkg", "--print-foreign-architectures"], capture_output=True, text=True
        ).stdout.split()
        if "arm64" not in arches:
            return "apt has no arm64 architecture (make setup runs dpkg --add-architecture arm64)"
    return None


def aarch64_root() -> str:
    """The aarch64 sysroot with python3.11, numpy and ai-edge-litert (cached)."""
    import numpy as np

    root = os.path.join(CACHE, "aarch64-root")
    want = {"debs": list(ARM64_DEBS), "numpy": np.__version__, "litert": LITERT_VERSION}
    stamp = os.path.join(root, ".sttn-root")
    with _locked("aarch64-root"):
        if _stamp_ok(stamp, want):
            return root
        shutil.rmtree(root, ignore_errors=True)
        debs = os.path.join(CACHE, "debs")
        wheels = os.path.join(CACHE, "wheels")
        os.makedirs(debs, exist_ok=True)
        os.makedirs(wheels, exist_ok=True)
        _run(
            ["apt-get", "download", *(f"{d}:arm64" for d in ARM64_DEBS)],
            "apt-get download of the arm64 python3.11 packages",
            cwd=debs,
        )
        for deb in sorted(glob.glob(os.path.join(debs, "*_arm64.deb"))):
            _run(["dpkg", "-x", deb, root], f"dpkg -x {os.path.basename(deb)}")
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--disable-pip-version-check",
                "--platform",
                "manylinux_2_27_aarch64",
                "--only-binary=:all:",
                "--python-version",
                "3.11",
                "--implementation",
                "cp",
                f"numpy=={np.__version__}",
                f"ai-edge-litert=={LITERT_VERSION}",
                "-d",
                wheels,
            ],
            "pip download of the aarch64 wheels",
        )
        site = os.path.join(root, "usr", "lib", "python3", "dist-packages")
        os.makedirs(site, exist_ok=True)
        for pattern in (
            f"numpy-{np.__version__}-*",
            f"ai_edge_litert-{LITERT_VERSION}-*",
        ):
            found = glob.glob(os.path.join(wheels, pattern + "aarch64*.whl"))
            if not found:
                raise Unavailable(f"no aarch64 wheel {pattern} in {wheels}")
            with zipfile.ZipFile(found[0]) as z:
                z.extractall(site)
        for so in glob.glob(os.path.join(site, "**", "*.so*"), recursive=True):
            os.chmod(so, 0o755)
        os.makedirs(os.path.join(root, "proc"), exist_ok=True)
        with open(os.path.join(root, "proc", "cpuinfo"), "w") as f:
            f.write(FAKE_CPUINFO)
        with open(stamp, "w") as f:
            json.dump(want, f)
    return root


def _sources_key(cxx: str, flags: list[str], sources: list[str]) -> str:
    h = hashlib.sha256()
    h.update(_run([cxx, "--version"], "compiler version").encode())
    h.update("\0".join(flags).encode())
    for path in sources:
        h.update(path.encode())
        with open(path, "rb") as f:
            h.update(f.read())
    for header in sorted(glob.glob(os.path.join(ROOT, "export", "*", "*.h"))):
        with open(header, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


CXX = {"aarch64": AARCH64_CXX, "x86_64": "g++"}


def library(arch: str) -> str:
    """Our shared library for ``arch`` (the release flags of
    export/native_build.json, -Werror, and -g for the symbols' source files,
    which does not change GCC's code), cached by a hash of the sources and
    flags under ``.venv/qemu/<arch>-lib``."""
    cxx = CXX[arch]
    sources = [os.path.join(ROOT, p) for p in native_build.sources("shared_library")]
    flags = [
        *native_build.release_copts(),
        "-g",
        "-fPIC",
        *native_build.copts(),
        "-Werror",
    ]
    key = _sources_key(cxx, flags, sources)
    out = os.path.join(CACHE, f"{arch}-lib")
    lib = os.path.join(out, f"_sttn_ops_{arch}.so")
    stamp = os.path.join(out, "key")
    with _locked(f"{arch}-lib"):
        if _stamp_ok(stamp, {"key": key}) and os.path.exists(lib):
            return lib
        shutil.rmtree(out, ignore_errors=True)
        objects = compile_objects(
            cxx, [(s, flags) for s in sources], os.path.join(out, "obj")
        )
        link(
            cxx,
            objects,
            [
                "-shared",
                *native_build.linkopts(),
                "-Wl,--version-script=" + native_build.version_script(),
            ],
            lib,
        )
        with open(stamp, "w") as f:
            json.dump({"key": key}, f)
    return lib


def plugin() -> str:
    """The counting plugin, built for the host (cached by source hash)."""
    with open(PLUGIN_SOURCE, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    out = os.path.join(CACHE, f"insn_count-{digest}.so")
    with _locked("plugin"):
        if not os.path.exists(out):
            cc = shutil.which("gcc") or shutil.which("cc")
            if cc is None:
                raise Unavailable("no host C compiler for the QEMU plugin")
            _run(
                [
                    cc,
                    "-O2",
                    "-shared",
                    "-fPIC",
                    "-Wall",
                    "-Wextra",
                    "-Werror",
                    "-pthread",
                    PLUGIN_SOURCE,
                    "-o",
                    out + ".tmp",
                ],
                "building the QEMU plugin",
            )
            os.replace(out + ".tmp", out)
    return out


def installed_layout(site: str) -> None:
    """Our Python files as a wheel installs them (sttn_keras/ and
    sttn_keras/export/), without the native library: the guest gets it
    through STTN_OPS_LIBRARY."""
    os.makedirs(os.path.join(site, "sttn_keras", "export"), exist_ok=True)
    for src in glob.glob(os.path.join(ROOT, "sttn_keras", "*.py")):
        shutil.copy(src, os.path.join(site, "sttn_keras"))
    for src in glob.glob(os.path.join(ROOT, "export", "*.py")):
        shutil.copy(src, os.path.join(site, "sttn_keras", "export"))


def guest_command(
    arch: str, cpu: str, counts: str | None = None
) -> tuple[list[str], dict]:
    """The QEMU command prefix that runs a guest Python, and its environment
    (add ``PYTHONPATH``; the library goes in ``STTN_OPS_LIBRARY``)."""
    cmd = [QEMU[arch], "-cpu", cpu]
    if counts is not None:
        cmd += ["-plugin", f"{plugin()},out={counts}"]
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "PYTHONPATH",
            "PYTHONHOME",
            "STTN_RUNTIME",
            "LD_PRELOAD",
            "STTN_OPS_LIBRARY",
        )
    }
    env["PYTHONNOUSERSITE"] = "1"
    if arch == "aarch64":
        root = aarch64_root()
        cmd += ["-L", root, os.path.join(root, "usr", "bin", "python3.11")]
        env["STTN_OPS_LIBRARY"] = library(arch)
    else:
        # This venv's Python with its numpy and ai-edge-litert; the installed
        # layout on PYTHONPATH wins over the editable install.
        cmd += [os.path.join(ROOT, ".venv", "bin", "python")]
        env["STTN_OPS_LIBRARY"] = library(arch)
    return cmd, env


def run_guest(
    arch: str,
    cpu: str,
    script: str,
    args: list[str],
    site: str,
    counts: str | None = None,
    timeout: int = 1800,
) -> subprocess.CompletedProcess:
    """Runs ``script`` (a file) in a guest Python with ``site`` on its path."""
    cmd, env = guest_command(arch, cpu, counts)
    env["PYTHONPATH"] = site
    return subprocess.run(
        [*cmd, script, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=site,
    )


# ---------------------------------------------------------------------------
# Counts and symbols


def read_counts(path: str) -> list[tuple[int, dict[int, int]]]:
    """The plugin's checkpoints in order (the exit one last): (total,
    {block address: instructions executed there so far})."""
    out: list[tuple[int, dict[int, int]]] = []
    with open(path) as f:
        for line in f:
            a, b, *rest = line.split()
            if a == "checkpoint":
                out.append((int(rest[0]), {}))
            else:
                blocks = out[-1][1]
                addr = int(a, 16)
                blocks[addr] = blocks.get(addr, 0) + int(b)
    return out


def difference(
    before: tuple[int, dict[int, int]], after: tuple[int, dict[int, int]]
) -> tuple[int, dict[int, int]]:
    """What ran between two checkpoints."""
    blocks = {
        a: n - before[1].get(a, 0)
        for a, n in after[1].items()
        if n != before[1].get(a, 0)
    }
    return after[0] - before[0], blocks


def _load_segments(path: str) -> list[tuple[int, int, int]]:
    """(p_offset, p_filesz, p_vaddr) of an ELF64 file's PT_LOAD segments."""
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:
            return []
        (phoff,) = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    segs = []
    for i in range(phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from(
            "<IIQQQQ", table, i * phentsize
        )
        if p_type == 1:
            segs.append((p_offset, p_filesz, p_vaddr))
    return segs


class Symbolizer:
    """Guest address -> (file, symbol), from the guest's /proc/self/maps and
    the files' symbol tables (``nm``; the dynamic table of stripped files)."""

    def __init__(self, maps_text: str, nm: str):
        self._nm = nm
        self._ranges: list[tuple[int, int, int, str]] = []  # start, end, offset, path
        for line in maps_text.splitlines():
            parts = line.split(None, 5)
            # Every file mapping, executable or not: QEMU's emulated maps can
            # show a library's code pages as r--p (one range from offset 0);
            # the ELF segments below say where the code is.
            if len(parts) < 6 or not parts[5].startswith("/"):
                continue
            lo, hi = (int(v, 16) for v in parts[0].split("-"))
            self._ranges.append((lo, hi, int(parts[2], 16), parts[5].strip()))
        self._ranges.sort()
        self._starts = [r[0] for r in self._ranges]
        self._symbols: dict[str, tuple[list[int], list[str]]] = {}
        self._segments: dict[str, list[tuple[int, int, int]]] = {}

    def _table(self, path: str) -> tuple[list[int], list[str]]:
        """Sorted symbol addresses and names; names end in "\t<source file>"
        where the file has debug information (``nm -l``)."""
        if path not in self._symbols:
            entries = {}
            # Source files (-l) for our library only: it has the debug
            # information (-g); on other files nm -l only takes long.
            ours = os.path.basename(path).startswith("_sttn_ops")
            for extra in (["-l"] if ours else [], ["-D"]):
                r = subprocess.run(
                    [self._nm, "-C", "--defined-only", *extra, path],
                    capture_output=True,
                    text=True,
                )
                for line in r.stdout.splitlines():
                    parts = line.split(" ", 2)
                    if len(parts) == 3 and parts[1] in ("t", "T", "w", "W", "i"):
                        name, _, where = parts[2].partition("\t")
                        source = os.path.basename(where.rsplit(":", 1)[0])
                        entries.setdefault(int(parts[0], 16), f"{name}\t{source}")
                if entries:
                    break
            addrs = sorted(entries)
            self._symbols[path] = (addrs, [entries[a] for a in addrs])
        return self._symbols[path]

    def lookup(self, addr: int) -> tuple[str, str, str]:
        """(file basename, symbol or '?', source file or '') of a guest code
        address."""
        i = bisect.bisect_right(self._starts, addr) - 1
        if i < 0 or addr >= self._ranges[i][1]:
            return "[anonymous]", "?", ""
        lo, _, offset, path = self._ranges[i]
        file_offset = offset + (addr - lo)
        if path not in self._segments:
            try:
                self._segments[path] = _load_segments(path)
            except OSError:
                self._segments[path] = []
        vaddr = None
        for p_offset, p_filesz, p_vaddr in self._segments[path]:
            if p_offset <= file_offset < p_offset + p_filesz:
                vaddr = p_vaddr + (file_offset - p_offset)
        name = os.path.basename(path)
        if vaddr is None:
            return name, "?", ""
        addrs, names = self._table(path)
        j = bisect.bisect_right(addrs, vaddr) - 1
        if j < 0:
            return name, "?", ""
        symbol, _, source = names[j].partition("\t")
        return name, symbol, source
