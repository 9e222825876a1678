#!/usr/bin/env bash
# The CUDA kernels, checked with no GPU (scripts/test.sh runs it after the Rust tests, which already
# ran every kernel on the emulator in both thread orders):
#   1. every kernel file compiled to PTX by NVRTC for sm_80 and sm_90 and assembled by ptxas -v: the
#      table of registers, spills and shared memory; a spill or too much shared memory fails;
#   2. the emulator's and the kernels' tests again with the kernels and the emulator built under
#      AddressSanitizer and UBSan (out-of-bounds reads, overflow, misaligned access fail the run);
#      and a probe kernel that reads past its buffer must be stopped by ASan (the sanitizers work);
#   3. the same tests with the emulator's portable fiber switch (ucontext), which x86-64 otherwise skips;
#   4. the CUDA device (feature cuda, cudarc): NVRTC (the wheel's) compiles every kernel file embedded in
#      the binary, as the device does at start-up; with a GPU the real-GPU parity tests run (against the
#      emulator and the CPU), without one they print SKIPPED and check the device's message.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/gpu_tools.sh
python3 scripts/gpu_ptx.py
# The sanitized build changes only sqlora-gpu's build script output, so only that crate is rebuilt
# (--workspace keeps the dependencies' features, and so their artifacts, those of the test build).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"
SQLORA_GPU_SANITIZE=1 cargo test --release --workspace --test gpu_emulator --test gpu_kernels --test gpu_attention --test gpu_train_ops --test gpu_train_products --test gpu_train_attention
SQLORA_GPU_SANITIZE=1 cargo build --release --workspace --example asan_probe
if probe="$(./target/release/examples/asan_probe 2>&1)" || ! grep -q "heap-buffer-overflow" <<<"$probe"; then
  echo "gpu_check: ASan did not stop the out-of-bounds probe:"; echo "$probe"; exit 1
fi
echo "gpu_check: ASan stopped the out-of-bounds probe (heap-buffer-overflow), as it must"
SQLORA_GPU_UCONTEXT=1 cargo test --release --workspace --test gpu_emulator --test gpu_kernels --test gpu_attention --test gpu_train_ops --test gpu_train_products --test gpu_train_attention
nvrtc_lib="${SQLORA_CUDA_WHEELS:-$HOME/.cache/sqlora/cuda-wheels}/nvidia/cuda_nvrtc/lib"
LD_LIBRARY_PATH="$nvrtc_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
  cargo test --release --workspace --features sqlora-gpu/cuda --test gpu_cuda -- --nocapture
