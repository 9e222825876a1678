#!/usr/bin/env bash
# The study, end to end and resumable: what LoRA fine-tuning at several settings does to Spider
# execution accuracy and what it costs on MMLU. Rerun it after any interruption: every step that
# finished is skipped (a marker per step in $RUNS/.done/), and a step cut off resumes from its own
# checkpoint (fine-tunes: $RUNS/<run>/checkpoint-*; evaluations: $OUT/.checkpoints/).
#
# State that is not committed: $RUNS (default runs/study: adapters, checkpoints, markers).
# Results: $OUT (default study/: Parquet files, report.md, charts, each adapter's settings and log).
#
#   1. the base model on the whole dev split, both prompts (3-shot and the training format);
#   2. the sweep (data/finetune/study.toml: 6 settings on one 1,000-example subset), each adapter
#      on the whole dev split with both prompts;
#   3. the headline adapter: the whole train set, one epoch, r = 16, all seven projections, adapters
#      kept after 500, 1,000, 2,000 and 4,000 examples; it and its snapshots (and the base) on a
#      fixed stratified slice of dev in the training format (the data-scaling curve), it on the
#      whole dev split with both prompts;
#   4. MMLU: the 150-question sample and the 1,531-question validation split for every arm, the
#      14,042-question test split for the base and the headline adapter;
#   5. sqlora report.
#
# A smoke run of the whole pipeline (minutes): RUNS=/tmp/s OUT=/tmp/so TRAIN_FLAGS="--max-steps 2"
#   DEV_FLAGS="--limit 4" SLICE=6 MMLU_SPLITS=sample150 MMLU_TEST=0 bash scripts/study.sh
set -euo pipefail
shopt -s nullglob
cd "$(dirname "$0")/.."
export SQLORA_DATA="${SQLORA_DATA:-$(cd .. && pwd)/shared/data}"
RUNS="${RUNS:-runs/study}"
OUT="${OUT:-study}"
SLICE="${SLICE:-300}"
read -r -a train_flags <<< "${TRAIN_FLAGS:-}"
read -r -a dev_flags <<< "${DEV_FLAGS:-}"
read -r -a mmlu_splits <<< "${MMLU_SPLITS:-sample150 val}"
MMLU_TEST="${MMLU_TEST:-1}"
cargo build --release
bin=./target/release/sqlora
data=(--data-dir "$SQLORA_DATA")
mkdir -p "$RUNS/.done" "$OUT"
log() { echo "[$(date -u +%H:%M:%S)] $*"; }

# step NAME COMMAND...: run COMMAND unless NAME finished before; time it.
step() {
  local name="$1"; shift
  if [ -f "$RUNS/.done/$name" ]; then log "$name: done earlier"; return; fi
  log "$name: start"
  local t0=$SECONDS
  "$@"
  echo "$((SECONDS - t0))" > "$RUNS/.done/$name"
  log "$name: done in $((SECONDS - t0)) s"
}

step setup $bin setup "${data[@]}"
for prompt in 3shot 0shot; do
  step "base-dev-$prompt" $bin baseline --prompt "$prompt" ${dev_flags[@]+"${dev_flags[@]}"} "${data[@]}" --out-dir "$OUT"
done

step sweep-train $bin finetune --config data/finetune/study.toml --out-dir "$RUNS/sweep" ${train_flags[@]+"${train_flags[@]}"} "${data[@]}"
sweep=()
for dir in "$RUNS"/sweep/*/; do
  dir="${dir%/}"
  name="$(basename "$dir")"
  for prompt in 3shot 0shot; do
    step "$name-dev-$prompt" $bin evaluate --adapter "$dir" --prompt "$prompt" ${dev_flags[@]+"${dev_flags[@]}"} "${data[@]}" --out-dir "$OUT"
  done
  sweep+=(--adapter "$dir")
done

headline="$RUNS/headline"
step headline-train $bin finetune --out-dir "$headline" --rank 16 --alpha 32 --targets all --lr 2e-4 --epochs 1 \
  --max-len 2048 --val-examples 64 --val-every 100 --checkpoint-every 20 --keep-at 500,1000,2000,4000 \
  ${train_flags[@]+"${train_flags[@]}"} "${data[@]}"
step base-slice $bin baseline --prompt 0shot --stratified "$SLICE" "${data[@]}" --out-dir "$OUT"
for snap in "$headline"/snapshots/*/ "$headline/"; do
  snap="${snap%/}"
  step "$(basename "$snap")-slice" $bin evaluate --adapter "$snap" --prompt 0shot --stratified "$SLICE" "${data[@]}" --out-dir "$OUT"
done
for prompt in 3shot 0shot; do
  step "headline-dev-$prompt" $bin evaluate --adapter "$headline" --prompt "$prompt" ${dev_flags[@]+"${dev_flags[@]}"} "${data[@]}" --out-dir "$OUT"
done

for split in "${mmlu_splits[@]}"; do
  step "mmlu-$split" $bin mmlu --split "$split" "${sweep[@]}" --adapter "$headline" "${data[@]}" --out-dir "$OUT"
done
if [ "$MMLU_TEST" = 1 ]; then
  step mmlu-test $bin mmlu --split test --adapter "$headline" "${data[@]}" --out-dir "$OUT"
fi

# The report always: cheap, and it must show everything finished so far.
$bin report --out-dir "$OUT"
log "study done: $OUT/report.md; open it with $bin view --results $OUT"
