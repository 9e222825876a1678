#!/usr/bin/env bash
# The GPU backend on a real GPU, in one script of at most ~5 minutes, for a bare GPU machine with no
# network and no Rust (a call there carries at most 64 MiB: binaries and PTX built here, no model).
#
#   bash gpu/bench.sh prepare    # here: builds what the GPU machine runs into gpu/bench/carry/ (ignored)
#   bash gpu/bench.sh            # there (carry gpu/bench/carry): parity tests, then the speed table
#
# On the GPU machine it builds nothing, then:
#   1. the parity tests (gpu/tests/gpu_cuda.rs): the tiny Llama's and Qwen2's logits and every
#      encoding's product on the GPU against the emulated kernels and the CPU;
#   2. gpu/examples/gpu_bench.rs and bench/gpu_peer.py (PyTorch + transformers, bf16, sdpa, eager) on
#      SmolLM2-135M's shape and a ~1.2B Llama (Llama-3.2-1B's shape), random weights made there:
#      prefill tokens/s (512), decode tokens/s at batch 1 and 64, the dev-shaped workload
#      (gpu/bench/dev_lengths.json: 1,034 prompts behind the 3-shot prefix, 48 new tokens each: wall
#      time), peak GPU memory;
#   3. LoRA training (gpu_bench --train, gpu_peer.py --train with peft), each in a process of its own:
#      tokens/s of optimizer steps on 8 × 512 tokens (r = 16 on all seven projections), the model FLOP
#      utilisation (4·N·tokens/s against the GPU's datasheet dense bf16 peak, by its name), peak memory;
#   one table with the ratios. Each engine × shape has a time limit (BENCH_LIMIT_S, default 40 s;
#   TRAIN_LIMIT_S, default 30 s) so the whole stays within the call's ~5 minutes; a run cut off says so.
set -euo pipefail
cd "$(dirname "$0")/.."
carry=gpu/bench/carry

if [ "${1:-}" = prepare ]; then
  rm -rf "$carry" && mkdir -p "$carry/ptx"
  cargo build --release -p sqlora-gpu --features cuda --example gpu_bench --example ptx_export
  test_bin=$(cargo test --release -p sqlora-gpu --features cuda --test gpu_cuda --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys; print([m["executable"] for m in map(json.loads, sys.stdin) if m.get("executable") and m["target"]["name"] == "gpu_cuda"][-1])')
  cp target/release/examples/gpu_bench "$test_bin" "$carry/"
  mv "$carry/$(basename "$test_bin")" "$carry/gpu_cuda"
  # PTX for A100 and H100/H200, so the GPU machine needs no NVRTC of this build's CUDA major.
  LD_LIBRARY_PATH="${SQLORA_CUDA_WHEELS:-$HOME/.cache/sqlora/cuda-wheels}/nvidia/cuda_nvrtc/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    target/release/examples/ptx_export "$carry/ptx" sm_80 sm_90 >/dev/null
  strip "$carry/gpu_bench" "$carry/gpu_cuda" 2>/dev/null || true
  du -sh "$carry"
  size=$(du -sb "$carry" | cut -f1)
  [ "$size" -lt $((48 << 20)) ] || { echo "gpu/bench.sh: $carry is $size bytes: over what a call carries with the tree"; exit 1; }
  echo "prepared $carry: run 'bash gpu/bench.sh' on the GPU machine, carrying $carry"
  exit 0
fi

[ -x "$carry/gpu_bench" ] || { echo "gpu/bench.sh: no $carry/gpu_bench: run 'bash gpu/bench.sh prepare' on the build machine and carry $carry"; exit 1; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
export SQLORA_PTX_DIR="$PWD/$carry/ptx" SQLORA_FIXTURES="$PWD/tests/fixtures"
echo "== parity: the GPU against the emulated kernels and the CPU"
"$carry/gpu_cuda" --nocapture --test-threads 1
limit="${BENCH_LIMIT_S:-40}"
train_limit="${TRAIN_LIMIT_S:-30}"
# The dense bf16 peak the MFU is counted against (NVIDIA's datasheets: H100/H200 SXM 989 TFLOP/s,
# H100 PCIe 756, A100 312).
gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || true)
case "$gpu_name" in
  *H100*PCIe*) peak=756 ;;
  *H100*|*H200*) peak=989 ;;
  *A100*) peak=312 ;;
  *) peak="" ;;
esac
peak_arg=()
[ -n "$peak" ] && peak_arg=(--peak-tflops "$peak")
out=$(mktemp)
for shape in smollm2 llama1b; do
  echo "== $shape: sqlora (cuda)"
  timeout "$limit" "$carry/gpu_bench" --device cuda --config "$shape" --dev-lengths gpu/bench/dev_lengths.json | tee -a "$out" \
    || echo "{\"engine\": \"sqlora\", \"model\": \"$shape\", \"measure\": \"(stopped: over ${limit} s or failed)\", \"value\": null, \"unit\": \"\"}" >> "$out"
  echo "== $shape: PyTorch + transformers (bf16, sdpa)"
  timeout "$limit" python3 bench/gpu_peer.py --config "$shape" --dev-lengths gpu/bench/dev_lengths.json 2>/dev/null | tee -a "$out" \
    || echo "{\"engine\": \"pytorch\", \"model\": \"$shape\", \"measure\": \"(stopped: over ${limit} s or failed)\", \"value\": null, \"unit\": \"\"}" >> "$out"
done
for shape in smollm2 llama1b; do
  echo "== $shape: LoRA training, sqlora (cuda)"
  timeout "$train_limit" "$carry/gpu_bench" --device cuda --config "$shape" --train "${peak_arg[@]}" | tee -a "$out" \
    || echo "{\"engine\": \"sqlora\", \"model\": \"$shape\", \"measure\": \"(training stopped: over ${train_limit} s or failed)\", \"value\": null, \"unit\": \"\"}" >> "$out"
  echo "== $shape: LoRA training, PyTorch + peft (bf16, sdpa)"
  timeout "$train_limit" python3 bench/gpu_peer.py --config "$shape" --train "${peak_arg[@]}" 2>/dev/null | tee -a "$out" \
    || echo "{\"engine\": \"pytorch\", \"model\": \"$shape\", \"measure\": \"(training stopped: over ${train_limit} s or failed)\", \"value\": null, \"unit\": \"\"}" >> "$out"
done
python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
by = {}
for r in rows:
    by.setdefault((r["model"], r["measure"]), {})[r["engine"]] = r
print(f"\n{'model':<8} {'measure':<58} {'sqlora':>12} {'pytorch':>12} {'ratio':>7}")
for (model, measure), e in by.items():
    s, p = e.get("sqlora", {}).get("value"), e.get("pytorch", {}).get("value")
    unit = (e.get("sqlora") or e.get("pytorch")).get("unit", "")
    ratio = ""
    if s and p:
        # Higher is better for rates; lower for seconds and memory.
        ratio = f"{s / p:.2f}×" if unit in ("tokens/s", "%") else f"{p / s:.2f}×"
    fmt = lambda v: "—" if v is None else (f"{v:,.1f}" if abs(v) >= 10 else f"{v:.3g}")
    print(f"{model:<8} {measure[:58]:<58} {fmt(s):>12} {fmt(p):>12} {ratio:>7}  {unit}")
print("\nratio: how many times better sqlora is (rates and MFU: sqlora/pytorch; seconds and MiB: pytorch/sqlora)")
PY
