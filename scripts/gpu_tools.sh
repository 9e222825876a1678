#!/usr/bin/env bash
# Installs what checking the CUDA kernels without a GPU needs, unless it is there (called by
# scripts/test.sh; safe to rerun): NVRTC (nvidia-cuda-nvrtc-cu12) and ptxas (nvidia-cuda-nvcc-cu12),
# PyPI wheels into one folder,
# SQLORA_CUDA_WHEELS (default ~/.cache/sqlora/cuda-wheels): no CUDA toolkit, no driver, no GPU.
set -euo pipefail
dir="${SQLORA_CUDA_WHEELS:-$HOME/.cache/sqlora/cuda-wheels}"
if [ -f "$dir/nvidia/cuda_nvrtc/lib/libnvrtc.so.12" ] && [ -x "$dir/nvidia/cuda_nvcc/bin/ptxas" ]; then
  exit 0
fi
t=$SECONDS
python3 -m pip install -q --disable-pip-version-check --target "$dir" --upgrade \
  'nvidia-cuda-nvrtc-cu12==12.9.*' 'nvidia-cuda-nvcc-cu12==12.9.*'
echo "== pip install the CUDA 12.9 NVRTC and ptxas wheels into $dir: $((SECONDS - t)) s"
