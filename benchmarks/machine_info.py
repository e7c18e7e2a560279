"""Machine and version metadata that every benchmark writes beside its table.

One home for what the result files say about where they were measured (the
CPU model and SIMD flags from ``/proc/cpuinfo``, the commit), so that the
benchmark scripts agree on it. Imported as ``machine_info`` by the scripts of
``benchmarks/`` (their folder is first on ``sys.path`` when they run).

Example:

>>> import machine_info
>>> isinstance(machine_info.cpu_model(), str)
True
>>> machine_info.simd_name({"avx2", "fma"})
'AVX2'
"""

from __future__ import annotations

import os
import platform
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The flags the kernel benchmarks report (the ones our ISA paths use).
KERNEL_FLAGS = (
    "popcnt",
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512_vpopcntdq",
    "avx512_vnni",
    "avx_vnni",
)


def _cpuinfo_field(name: str) -> str | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(name) and ":" in line:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` says."""
    return (
        _cpuinfo_field("model name")
        or platform.processor()
        or platform.machine()
        or "unknown"
    )


def cpu_flags() -> set[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (empty where unknown)."""
    flags = _cpuinfo_field("flags")
    return set(flags.split()) if flags else set()


def simd_name(flags: set[str] | None = None) -> str:
    """The widest x86 SIMD the flags name (``AVX-512``, ``AVX2``), else the
    machine's architecture: what XNNPACK's kernels use on this CPU."""
    flags = cpu_flags() if flags is None else flags
    if "avx512f" in flags:
        return "AVX-512"
    if "avx2" in flags:
        return "AVX2"
    return platform.machine()


def git_commit() -> str:
    """The checkout's short commit hash, or ``unknown`` outside git."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
