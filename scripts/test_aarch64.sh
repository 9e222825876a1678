#!/usr/bin/env bash
# The engine's kernel and model tests built for aarch64 (NEON, dotprod) and run under qemu-user: each
# ISA-looping test runs the dotprod, plain NEON and portable paths (qemu's default CPU has dotprod).
# Tools: scripts/aarch64_tools.sh. Under CI=true missing tools fail the run; elsewhere they skip it.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=""
rustup target list --installed 2>/dev/null | grep -q '^aarch64-unknown-linux-gnu$' || missing+=" rust-target"
command -v aarch64-linux-gnu-gcc >/dev/null || missing+=" aarch64-linux-gnu-gcc"
command -v qemu-aarch64 >/dev/null || missing+=" qemu-aarch64"
if [ -n "$missing" ]; then
  if [ "${CI:-}" = "true" ]; then echo "aarch64 tests: missing$missing (run scripts/aarch64_tools.sh)" >&2; exit 1; fi
  echo "SKIPPED aarch64 tests: missing$missing (run scripts/aarch64_tools.sh)"; exit 0
fi
# A cap such as SQLORA_ISA=avx2 (to run the x86 suite on the AVX2 kernels) names no aarch64 level; the
# emulated run always tests every aarch64 level itself.
unset SQLORA_ISA
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
cargo test --release -p sqlora-kernel --target aarch64-unknown-linux-gnu \
  --lib --test isa_paths --test matmul_reference --test tiny_reference --test gguf_reader --test backward_ops --test train_reference
# SmolLM2 against PyTorch on one Spider text (187 positions; emulated, about a minute), on the best
# level only: plain NEON shares every float kernel with it, and the portable level runs natively.
SQLORA_TF_TEXTS=1 SQLORA_TEST_ISA_LEVELS=best cargo test --release -p sqlora-kernel \
  --target aarch64-unknown-linux-gnu --test smollm2_teacher_forced -- --nocapture holds_on_
