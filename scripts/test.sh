#!/usr/bin/env bash
# The test command (README): fetches the default model if missing, builds, runs every Rust test and the
# DeepEval + pytest suite. Needs: Rust (cargo), Python 3 with pip, the data directory
# (SQLORA_DATA, default ../shared/data), and for the viewer's build and browser test what
# scripts/viewer_tools.sh installs. Under CI=true a missing model, data set or tool fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
export SQLORA_DATA="${SQLORA_DATA:-$(cd .. && pwd)/shared/data}"
# Each section's line carries the seconds since the start, so a CI log shows where its time went.
section() { echo "== [$SECONDS s] $*"; }
section "data: $SQLORA_DATA"
cargo build --release --workspace --all-targets
section "viewer: the wasm page (wasm/build.sh)"
bash wasm/build.sh
section "setup: model + data checksums"
./target/release/sqlora setup --data-dir "$SQLORA_DATA"
section "cargo test"
cargo test --release --workspace
# The kernel and SmolLM2 tests above already ran every ISA level this CPU has; the MMLU check against
# PyTorch also on the AVX2 path (what AVX2-only machines run) when this CPU has more than AVX2.
if grep -qwE 'avx512f|avx_vnni' /proc/cpuinfo; then
  section "MMLU reference check on the AVX2 path (SQLORA_ISA=avx2)"
  SQLORA_ISA=avx2 cargo test --release --test mmlu_reference_agreement
fi
section "aarch64 (NEON, dotprod) kernel and model tests under qemu-user"
bash scripts/test_aarch64.sh
if [ -x tests/deepeval/run.sh ] || [ -f tests/deepeval/run.sh ]; then
  section "DeepEval + pytest"
  SQLORA_BIN="$PWD/target/release/sqlora" bash tests/deepeval/run.sh
fi
# The phase notebooks: the Colab editions match their notebooks, then all eight run headless at the
# CI size (the Rust ones on evcxr, the Colab ones on a python3 kernel through %%rust), each checked
# for errors, its results files and its tables and charts (notebooks/execute.py; tools:
# scripts/notebook_tools.sh).
section "notebooks"
bash scripts/notebook_tools.sh
python3 notebooks/make_colab.py --check
python3 notebooks/execute.py --size ci
python3 notebooks/execute.py --size ci --colab
# peft loads the adapters sqlora writes (its own venv with torch CPU, transformers, peft; or
# SQLORA_PEFT_PYTHON, a Python that has them).
section "peft loads sqlora's PEFT adapters"
SQLORA_PROBE="$PWD/target/release/examples/save_peft_probe" bash tests/adapters/run.sh
# Last: its sanitized and ucontext builds of sqlora-gpu change what the crates above it link, so any
# build after it would compile the root crate again.
section "CUDA kernels without a GPU: PTX for sm_80/sm_90 (NVRTC + ptxas), emulated under ASan/UBSan"
bash scripts/gpu_check.sh
section "done"
