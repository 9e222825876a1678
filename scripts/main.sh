#!/usr/bin/env bash
# The main job on the default model and data: fetch the model and verify the data, the Spider baseline
# over the whole dev split (resumable: rerun after an interruption), MMLU on the frozen 150-question
# sample, and the report. Results go to results/.
set -euo pipefail
cd "$(dirname "$0")/.."
export SQLORA_DATA="${SQLORA_DATA:-$(cd .. && pwd)/shared/data}"
cargo build --release
bin=./target/release/sqlora
$bin setup --data-dir "$SQLORA_DATA"
$bin baseline --data-dir "$SQLORA_DATA" --out-dir results
$bin mmlu --data-dir "$SQLORA_DATA" --out-dir results
$bin report --out-dir results
