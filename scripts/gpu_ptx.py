#!/usr/bin/env python3
"""Compiles every CUDA kernel file (gpu/kernels/*.cu) to PTX with NVRTC, for each GPU architecture the
project targets (sm_80: A100; sm_90: H100/H200), assembles it with ptxas -v, and prints one table of
each kernel's registers, spills, stack and shared memory. Fails if a file does not compile, a kernel
spills registers to local memory, or its static shared memory exceeds 48 KiB (the most a kernel gets
without opting in). No GPU or driver is needed.

NVRTC and ptxas come from PyPI wheels (scripts/gpu_tools.sh installs them into SQLORA_CUDA_WHEELS,
default ~/.cache/sqlora/cuda-wheels). The options NVRTC gets are the ones the CUDA backend uses at run
time (gpu/kernels/nvrtc.opts), plus the architecture and the kernels' own folder: no CUDA header is
included, as at run time. `--keep DIR` writes each file's PTX (<file>.<arch>.ptx), which the CUDA
backend loads instead of compiling (SQLORA_PTX_DIR=DIR) on a machine without NVRTC.

    python3 scripts/gpu_ptx.py [--arch sm_80 --arch sm_90] [--keep DIR]
"""
import argparse
import ctypes
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KERNELS = ROOT / "gpu" / "kernels"
SHARED_LIMIT = 48 * 1024


def wheels_dir():
    d = Path(os.environ.get("SQLORA_CUDA_WHEELS", Path.home() / ".cache" / "sqlora" / "cuda-wheels"))
    need = [d / "nvidia/cuda_nvrtc/lib/libnvrtc.so.12", d / "nvidia/cuda_nvcc/bin/ptxas"]
    missing = [str(p) for p in need if not p.exists()]
    if missing:
        sys.exit(f"gpu_ptx: missing {', '.join(missing)}: run scripts/gpu_tools.sh (or set SQLORA_CUDA_WHEELS)")
    return d


class Nvrtc:
    def __init__(self, wheels):
        self.lib = ctypes.CDLL(str(wheels / "nvidia/cuda_nvrtc/lib/libnvrtc.so.12"))
        self.lib.nvrtcGetErrorString.restype = ctypes.c_char_p

    def check(self, rc, what):
        if rc != 0:
            raise RuntimeError(f"{what}: {self.lib.nvrtcGetErrorString(rc).decode()}")

    def version(self):
        major, minor = ctypes.c_int(), ctypes.c_int()
        self.check(self.lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor)), "nvrtcVersion")
        return f"{major.value}.{minor.value}"

    def compile(self, src: Path, options):
        prog = ctypes.c_void_p()
        self.check(self.lib.nvrtcCreateProgram(ctypes.byref(prog), src.read_bytes(), str(src.name).encode(), 0, None,
                                               None), "nvrtcCreateProgram")
        opts = (ctypes.c_char_p * len(options))(*[o.encode() for o in options])
        rc = self.lib.nvrtcCompileProgram(prog, len(options), opts)
        size = ctypes.c_size_t()
        self.lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        self.lib.nvrtcGetProgramLog(prog, log)
        if rc != 0:
            self.lib.nvrtcDestroyProgram(ctypes.byref(prog))
            raise RuntimeError(f"{src.name}: NVRTC failed:\n{log.value.decode(errors='replace')}")
        self.lib.nvrtcGetPTXSize(prog, ctypes.byref(size))
        ptx = ctypes.create_string_buffer(size.value)
        self.check(self.lib.nvrtcGetPTX(prog, ptx), "nvrtcGetPTX")
        self.lib.nvrtcDestroyProgram(ctypes.byref(prog))
        return ptx.value.decode(), log.value.decode(errors="replace").strip()


def ptxas_report(ptxas: Path, ptx_file: Path, arch: str):
    """{kernel: {registers, spill_stores, spill_loads, stack, smem}} from ptxas -v."""
    out = subprocess.run([str(ptxas), f"-arch={arch}", "-v", str(ptx_file), "-o", os.devnull],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"ptxas {ptx_file.name} ({arch}) failed:\n{out.stderr}")
    table, name = {}, None
    for line in out.stderr.splitlines():
        m = re.search(r"Compiling entry function '(\w+)'", line)
        if m:
            name = m.group(1)
            table[name] = dict(registers=0, spill_stores=0, spill_loads=0, stack=0, smem=0)
            continue
        if name is None:
            continue
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m:
            table[name].update(stack=int(m.group(1)), spill_stores=int(m.group(2)), spill_loads=int(m.group(3)))
        m = re.search(r"Used (\d+) registers", line)
        if m:
            table[name]["registers"] = int(m.group(1))
        m = re.search(r"(\d+) bytes smem", line)
        if m:
            table[name]["smem"] = int(m.group(1))
    return table


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", action="append", help="sm_80, sm_90 (default: both)")
    ap.add_argument("--keep", type=Path, help="write each file's PTX here as <file>.<arch>.ptx")
    args = ap.parse_args()
    archs = args.arch or ["sm_80", "sm_90"]
    wheels = wheels_dir()
    nvrtc = Nvrtc(wheels)
    ptxas = wheels / "nvidia/cuda_nvcc/bin/ptxas"
    base_opts = [l.strip() for l in (KERNELS / "nvrtc.opts").read_text().splitlines() if l.strip()]
    sources = sorted(KERNELS.glob("*.cu"))
    print(f"NVRTC {nvrtc.version()}, {len(sources)} kernel files, {', '.join(archs)}")
    rows, problems = [], []
    with tempfile.TemporaryDirectory() as tmp:
        keep = args.keep or Path(tmp)
        keep.mkdir(parents=True, exist_ok=True)
        for arch in archs:
            opts = base_opts + [f"--gpu-architecture=compute_{arch[3:]}", f"-I{KERNELS}"]
            for src in sources:
                try:
                    ptx, log = nvrtc.compile(src, opts)
                except RuntimeError as e:
                    problems.append(str(e))
                    continue
                if log:
                    print(f"{src.name} ({arch}): {log}")
                f = keep / f"{src.stem}.{arch}.ptx"
                f.write_text(ptx)
                for kernel, r in ptxas_report(ptxas, f, arch).items():
                    rows.append((src.name, kernel, arch, r))
                    if r["spill_stores"] or r["spill_loads"]:
                        problems.append(f"{kernel} ({arch}) spills: {r['spill_stores']} B stored, {r['spill_loads']} B loaded")
                    if r["smem"] > SHARED_LIMIT:
                        problems.append(f"{kernel} ({arch}) uses {r['smem']} B of static shared memory (> 48 KiB)")
    print(f"{'file':<16} {'kernel':<28} {'arch':<6} {'regs':>4} {'spill st/ld':>11} {'stack':>5} {'smem':>6}")
    for file, kernel, arch, r in rows:
        spills = f"{r['spill_stores']}/{r['spill_loads']}"
        print(f"{file:<16} {kernel:<28} {arch:<6} {r['registers']:>4} {spills:>11} {r['stack']:>5} {r['smem']:>6}")
    if problems:
        print("\n".join(["gpu_ptx: FAILED"] + problems), file=sys.stderr)
        sys.exit(1)
    print(f"gpu_ptx: {len(rows)} kernel builds, none spills, shared memory within 48 KiB")


if __name__ == "__main__":
    main()
