#!/usr/bin/env bash
# The CUDA kernels, checked with no GPU (scripts/test.sh runs it after the Rust tests, which already
# ran every kernel on the emulator in both thread orders):
#   1. every kernel file compiled to PTX by NVRTC for sm_80 and sm_90 and assembled by ptxas -v: the
#      table of registers, spills and shared memory; a spill or too much shared memory fails;
#   2. the emulator's and the kernels' tests again with the kernels and the emulator built under
#      AddressSanitizer and UBSan (out-of-bounds reads, overflow, misaligned access fail the run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/gpu_tools.sh
python3 scripts/gpu_ptx.py
# The sanitized build changes only sqlora-gpu's build script output, so only that crate is rebuilt
# (--workspace keeps the dependencies' features, and so their artifacts, those of the test build).
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}" SQLORA_GPU_SANITIZE=1 \
  cargo test --release --workspace --test gpu_emulator --test gpu_kernels
