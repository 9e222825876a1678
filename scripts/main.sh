#!/usr/bin/env bash
# The main job on the default model and data, all four phases, resumable (rerun it after an
# interruption: finished work is skipped, unfinished work continues from its checkpoint):
#   0. fetch the model and verify the data;
#   1. the Spider baseline over the whole dev split (fixed 3-shot prompt);
#   2. one short LoRA fine-tune (r = 16, all linear layers, 300 train examples) into runs/main-r16;
#   3. the adapter on the whole dev split, with the 3-shot prompt and with the training format;
#   4. MMLU on the frozen 150-question sample for the base model and the adapter;
# the report (results/report.md), and the viewer's page, so that `./target/release/sqlora view`
# shows everything in the browser (the wasm tools are installed the first time: about 6 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
export SQLORA_DATA="${SQLORA_DATA:-$(cd .. && pwd)/shared/data}"
cargo build --release
bin=./target/release/sqlora
adapter=runs/main-r16
$bin setup --data-dir "$SQLORA_DATA"
$bin baseline --data-dir "$SQLORA_DATA" --out-dir results
$bin finetune --data-dir "$SQLORA_DATA" --out-dir "$adapter" --rank 16 --alpha 32 --lr 5e-4 \
  --targets q,k,v,o,gate,up,down --max-examples 300 --max-len 768 --val-examples 32
for prompt in 3shot 0shot; do
  $bin evaluate --data-dir "$SQLORA_DATA" --adapter "$adapter" --prompt "$prompt" --out-dir results
done
$bin mmlu --data-dir "$SQLORA_DATA" --adapter "$adapter" --out-dir results
$bin report --out-dir results
bash scripts/wasm_tools.sh
bash wasm/build.sh
echo "done: open the results with $bin view (http://127.0.0.1:8700/)"
