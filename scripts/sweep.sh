#!/usr/bin/env bash
# Phase 2 in full: every setting of data/finetune/sweep.toml (or $SWEEP) trained into runs/sweep/<name>,
# then each adapter evaluated on a fixed dev slice (the first $DEV_LIMIT questions, default 200, with
# both prompts) and on the MMLU sample beside the base model, and one report: per setting the Spider
# EX gained and the MMLU lost, with intervals (results-sweep/report.md). Resumable: rerun it after an
# interruption and the finished work is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
export SQLORA_DATA="${SQLORA_DATA:-$(cd .. && pwd)/shared/data}"
SWEEP="${SWEEP:-data/finetune/sweep.toml}"
DEV_LIMIT="${DEV_LIMIT:-200}"
RUNS="${RUNS:-runs/sweep}"
OUT="${OUT:-results-sweep}"
cargo build --release
bin=./target/release/sqlora
$bin setup --data-dir "$SQLORA_DATA"
$bin finetune --config "$SWEEP" --out-dir "$RUNS" --data-dir "$SQLORA_DATA" "$@"
$bin baseline --limit "$DEV_LIMIT" --data-dir "$SQLORA_DATA" --out-dir "$OUT"
adapters=()
for dir in "$RUNS"/*/; do
  dir="${dir%/}"
  [ -f "$dir/training.json" ] || { echo "$dir: not finished, left out"; continue; }
  for prompt in 3shot 0shot; do
    $bin evaluate --adapter "$dir" --prompt "$prompt" --limit "$DEV_LIMIT" --data-dir "$SQLORA_DATA" --out-dir "$OUT"
  done
  adapters+=(--adapter "$dir")
done
$bin mmlu "${adapters[@]}" --data-dir "$SQLORA_DATA" --out-dir "$OUT"
$bin report --out-dir "$OUT"
