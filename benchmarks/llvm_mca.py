"""Static cycle estimates (llvm-mca) of the ternary GEMM micro-kernels.

ARM speed cannot be timed on these x86 machines, so this script asks
``llvm-mca`` how many cycles the inner loop of each micro-kernel takes per
128 multiply-accumulates on CPU models we cannot run on:

* the NEON micro-kernel (``export/core/ternary_gemm_neon.cc``, 4 pixels x 8
  channels x 32 trits = 1024 trit-MACs per iteration), compiled by
  ``aarch64-linux-gnu-g++ -O3`` exactly as the library is, against an int8
  SDOT micro-kernel (``benchmarks/mca/sdot_8x8c4.s``: 8 pixels x 8 channels x
  4 bytes = 256 MACs per iteration, the shape of TFLite/XNNPACK's int8
  kernels), on Cortex-A76 and Cortex-A55;
* the x86 micro-kernels (AVX-512: 8 x 16 x 32 = 4096 trit-MACs per
  iteration; AVX2: 4 x 8 x 32 = 1024), compiled by ``g++ -O3``, on the
  models LLVM 14 has (Ice Lake server for AVX-512 VPOPCNTDQ; Zen 3 and
  Skylake for AVX2; there is no Zen 4/5 model in LLVM 14).

The regions are the loop body over 32-channel chunks (``STTN_MCA_BEGIN`` /
``STTN_MCA_END`` in the sources, compiled in with ``-DSTTN_MCA_REGIONS``);
the int8 partial-sum flushes every 15 or 31 chunks and the epilogue are
outside them. These are steady-state estimates of the compute loop, not
measurements.

Usage::

    python benchmarks/llvm_mca.py [--out benchmarks/results]

Writes ``llvm_mca.md`` and ``llvm_mca.json``; needs ``llvm-mca`` (Debian
``llvm``), ``g++`` and ``g++-aarch64-linux-gnu``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (region, source or asm, compiler, MACs per iteration)
KERNELS = {
    "neon": ("export/core/ternary_gemm_neon.cc", "aarch64-linux-gnu-g++", 4 * 8 * 32),
    "sdot_8x8c4": ("benchmarks/mca/sdot_8x8c4.s", None, 8 * 8 * 4),
    "avx512": ("export/core/ternary_gemm_avx512.cc", "g++", 8 * 16 * 32),
    "avx2": ("export/core/ternary_gemm_avx2.cc", "g++", 4 * 8 * 32),
}
# (region, triple, cpu, extra llvm-mca args)
RUNS = [
    ("neon", "aarch64", "cortex-a76", []),
    ("sdot_8x8c4", "aarch64", "cortex-a76", ["-mattr=+dotprod"]),
    ("neon", "aarch64", "cortex-a55", []),
    ("sdot_8x8c4", "aarch64", "cortex-a55", ["-mattr=+dotprod"]),
    ("avx512", "x86_64", "icelake-server", []),
    ("avx2", "x86_64", "znver3", []),
    ("avx2", "x86_64", "skylake", []),
]


def _asm(region: str, workdir: str) -> str:
    source, compiler, _ = KERNELS[region]
    path = os.path.join(REPO, source)
    if compiler is None:
        return path
    out = os.path.join(workdir, f"{region}.s")
    subprocess.run(
        [
            compiler,
            "-std=c++17",
            "-O3",
            "-ffp-contract=off",
            "-DSTTN_MCA_REGIONS",
            "-I",
            REPO,
            "-S",
            path,
            "-o",
            out,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return out


def _cycles_per_iteration(asm: str, region: str, triple: str, cpu: str, extra) -> float:
    iterations = 500
    run = subprocess.run(
        [
            "llvm-mca",
            f"-mtriple={triple}",
            f"-mcpu={cpu}",
            f"-iterations={iterations}",
            *extra,
            asm,
        ],
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        raise RuntimeError(f"llvm-mca failed on {region} ({cpu}): {run.stderr[-2000:]}")
    blocks = run.stdout.split("Code Region - ")
    for block in blocks[1:]:
        if block.split("\n", 1)[0].strip() == region:
            cycles = int(re.search(r"Total Cycles:\s+(\d+)", block).group(1))
            return cycles / iterations
    raise RuntimeError(f"region {region!r} not found in the llvm-mca output for {asm}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"))
    args = parser.parse_args(argv)
    missing = [
        t for t in ("llvm-mca", "g++", "aarch64-linux-gnu-g++") if not shutil.which(t)
    ]
    if missing:
        print(f"missing tools: {missing} (Debian: llvm, g++, g++-aarch64-linux-gnu)")
        return 2
    version = (
        subprocess.run(["llvm-mca", "--version"], capture_output=True, text=True)
        .stdout.split("\n")[0]
        .strip()
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        asm = {region: _asm(region, tmp) for region in KERNELS}
        for region, triple, cpu, extra in RUNS:
            cpi = _cycles_per_iteration(asm[region], region, triple, cpu, extra)
            macs = KERNELS[region][2]
            rows.append(
                {
                    "kernel": region,
                    "cpu": cpu,
                    "cycles_per_iteration": cpi,
                    "macs_per_iteration": macs,
                    "cycles_per_128_macs": cpi * 128 / macs,
                    "macs_per_cycle": macs / cpi,
                }
            )
    by = {(r["kernel"], r["cpu"]): r for r in rows}
    lines = [
        f"llvm-mca estimates of the micro-kernels' inner loops ({version}; "
        f"{datetime.date.today().isoformat()}). Steady state of the loop over "
        "32-channel chunks; flushes and epilogues excluded.",
        "",
        "| kernel | CPU model | MACs / iteration | cycles / iteration | cycles / 128 MACs | MACs / cycle |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['kernel']} | {r['cpu']} | {r['macs_per_iteration']} | "
            f"{r['cycles_per_iteration']:.2f} | {r['cycles_per_128_macs']:.2f} | "
            f"{r['macs_per_cycle']:.1f} |"
        )
    lines += [
        "",
        "Ternary NEON against int8 SDOT, per MAC (> 1: ternary needs fewer cycles):",
        "",
    ]
    for cpu in ("cortex-a76", "cortex-a55"):
        ratio = (
            by[("sdot_8x8c4", cpu)]["cycles_per_128_macs"]
            / by[("neon", cpu)]["cycles_per_128_macs"]
        )
        lines.append(f"* {cpu}: **{ratio:.2f}x**")
        rows.append({"kernel": "neon_vs_sdot", "cpu": cpu, "ratio": ratio})
    md = "\n".join(lines) + "\n"
    print(md)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "llvm_mca.md"), "w") as f:
        f.write(md)
    with open(os.path.join(args.out, "llvm_mca.json"), "w") as f:
        json.dump({"llvm_mca": version, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
