#!/usr/bin/env bash
# The study, end to end and resumable: what LoRA fine-tuning at several settings does to Spider
# execution accuracy and what it costs on MMLU. Rerun it after any interruption: every step that
# finished is skipped (a marker per step in $OUT/steps/: its wall seconds and the commit of the binary
# that ran it, committed with the results, so a fresh clone holding them resumes too), and a step cut
# off resumes from its own checkpoint (fine-tunes: $RUNS/<run>/checkpoint-*; evaluations:
# $OUT/.checkpoints/).
#
# State that is not committed: $RUNS (default $SQLORA_HOME/study, i.e. ~/.cache/sqlora/study: the
# fine-tunes' folders and checkpoints, f16/: each adapter as it ships and is evaluated, and the binary
# the steps run, bin/sqlora). It lives outside the checkout so that a machine kept between sittings
# keeps it even when the checkout is laid anew; a new machine starts it over (the committed steps
# stay done, and a sweep setting still to be evaluated is retrained).
# Results: $OUT (default study/: Parquet files, report.md, charts, each adapter's settings and log).
#
# Moving a study to another machine mid-run (a sitting that ends before a fine-tune does, on machines
# that do not keep $RUNS): stop the study, then `PARK=1 bash scripts/study.sh` evaluates the headline's
# snapshots written so far (their results land in $OUT) and parks each unfinished fine-tune's last
# checkpoint, settings, log and clock in $CARRY (default carry/ in the checkout: not ignored by git, so
# a checkout carried with its uncommitted files carries it; about 60 MB per r-16 run, never commit it).
# A study started where $CARRY exists checks it against its SHA256SUMS and resumes those fine-tunes
# from it; a run's parked copy is deleted once its training step is done.
#
#   1. the base model on the whole dev split, both prompts (3-shot and the training format);
#   2. the sweep (data/finetune/study.toml: 6 settings on one 1,000-example subset), each setting
#      trained and then evaluated on the whole dev split with both prompts and on MMLU;
#   3. the headline adapter: the whole train set, one epoch, r = 16, all seven projections, adapters
#      kept after 500, 1,000, 2,000 and 4,000 examples; it and its snapshots (and the base) on a
#      fixed stratified slice of dev in the training format (the data-scaling curve), it on the
#      whole dev split with both prompts;
#   4. MMLU: the 150-question sample and the 1,531-question validation split for every arm (the
#      base's first: BASE_ONLY=1 stops after the base's steps), the 14,042-question test split for the
#      base and the headline adapter, last;
#   5. sqlora report (MMLU validation as its main split), from the current code.
#
# ONLY="PATTERN …" runs just the steps whose names match (the others are left for a later run), e.g.
#   ONLY=base-mmlu-test bash scripts/study.sh   # a long step that needs no adapter, when it fits a sitting
#
# A smoke run of the whole pipeline (minutes): RUNS=/tmp/s OUT=/tmp/so TRAIN_FLAGS="--max-steps 2"
#   DEV_FLAGS="--limit 4" SLICE=6 MMLU_SPLITS=sample150 MMLU_TEST=0 bash scripts/study.sh
set -euo pipefail
# A failing step inside $(...) (export_of) stops the study too.
shopt -s nullglob inherit_errexit
cd "$(dirname "$0")/.."
export SQLORA_DATA="${SQLORA_DATA:-$(cd .. && pwd)/shared/data}"
RUNS="${RUNS:-${SQLORA_HOME:-$HOME/.cache/sqlora}/study}"
OUT="${OUT:-study}"
CARRY="${CARRY:-carry}"
SLICE="${SLICE:-300}"
read -r -a train_flags <<< "${TRAIN_FLAGS:-}"
read -r -a dev_flags <<< "${DEV_FLAGS:-}"
read -r -a mmlu_splits <<< "${MMLU_SPLITS:-sample150 val}"
MMLU_TEST="${MMLU_TEST:-1}"
mkdir -p "$OUT/steps" "$RUNS/bin"
# One binary for the whole study, copied at its first run: rebuilding the project while the study
# runs (or changing a default) must not mix two versions of the tool in one set of results.
# Delete $RUNS/bin/sqlora to start over with the current code.
bin="$RUNS/bin/sqlora"
if [ ! -x "$bin" ]; then
  cargo build --release
  cp target/release/sqlora "$bin.tmp" && mv "$bin.tmp" "$bin"
  git rev-parse HEAD > "$RUNS/bin/commit" 2>/dev/null || true
fi
log() { echo "[$(date -u +%H:%M:%S)] $*"; }
# The machine each step ran on, in its marker: a study spans sittings, and sittings may get other CPUs.
machine() {
  local model flags
  model=$(sed -n 's/^\(model name\|Model\)[[:space:]]*: //p' /proc/cpuinfo | head -1)
  flags=$(grep -m1 -owE 'avx2|avx512f|avx512_vnni|avx_vnni|avx512_bf16|amx_tile|asimddp' /proc/cpuinfo | sort -u | tr '\n' ' ')
  echo "${model:-$(uname -m)}, $(nproc) cores, ${flags% }"
}
log "sqlora binary: $bin (commit $(cat "$RUNS/bin/commit" 2>/dev/null || echo unknown))"
data=(--data-dir "$SQLORA_DATA")

# step NAME COMMAND...: run COMMAND unless NAME finished before; time it. A step cut off and resumed
# counts the time of its earlier sittings too: a ticker keeps the seconds spent so far in
# $RUNS/elapsed/NAME (beside the checkpoints it resumes from; at most 30 s are lost per interruption).
step() {
  local name="$1"; shift
  if [ -f "$OUT/steps/$name" ]; then log "$name: done earlier"; return; fi
  # ONLY="NAME …" (shell patterns): run just those steps this time, e.g. one that fits the rest of a sitting.
  if [ -n "${ONLY:-}" ]; then
    local pat hit=0
    for pat in $ONLY; do
      # shellcheck disable=SC2053 # a pattern on purpose
      [[ "$name" == $pat ]] && hit=1
    done
    [ "$hit" = 1 ] || return 0
  fi
  local spent=0 t0=$SECONDS f="$RUNS/elapsed/$name"
  mkdir -p "$RUNS/elapsed"
  [ -f "$f" ] && spent=$(cat "$f")
  if [ "$spent" -gt 0 ]; then log "$name: start ($spent s in earlier sittings)"; else log "$name: start"; fi
  # The ticker's `sleep` outlives the kill below by up to 30 s: it must hold neither the study's lock
  # (fd 9: a study started right after this one ends would be refused) nor its output (a pipe reading
  # the study would wait for it).
  ( while sleep 30 && kill -0 $$ 2>/dev/null; do echo $((spent + SECONDS - t0)) > "$f.tmp" && mv "$f.tmp" "$f"; done ) 9>&- > /dev/null 2>&1 &
  local ticker=$!
  "$@"
  kill "$ticker" 2>/dev/null || true
  local total=$((spent + SECONDS - t0))
  echo "$total $(cat "$RUNS/bin/commit" 2>/dev/null || echo unknown) $(machine)" > "$OUT/steps/$name"
  rm -f "$f"
  log "$name: done in $total s"
}

# One study at a time on $RUNS (a second would train into the same folders); PARK=1 needs the study
# stopped. The lock is held by the study's every process, a fine-tune it started included.
exec 9> "$RUNS/.study.lock"
if ! flock -n 9; then
  log "another study holds $RUNS/.study.lock (pgrep -f scripts/study.sh): stop it first"
  exit 1
fi

# mmlu_of NAME ADAPTER: the adapter on every MMLU split the study uses (the base is scored above).
mmlu_of() {
  for split in "${mmlu_splits[@]}"; do
    step "$1-mmlu-$split" $bin mmlu --no-base --split "$split" --adapter "$2" "${data[@]}" --out-dir "$OUT"
  done
}

# export_of NAME RUN_DIR: the adapter as it ships (sqlora export: f16 PEFT + GGUF with its training
# record, in $RUNS/f16/NAME); every adapter the study evaluates is this form, so what models/ holds
# is exactly what was scored. Prints the folder.
export_of() {
  step "$1-export" $bin export --adapter "$2" --out "$RUNS/f16/$1" >&2
  echo "$RUNS/f16/$1"
}

headline="$RUNS/headline"

# The fine-tune folders a study may have in flight, relative to $RUNS.
run_dirs() {
  local d
  for d in "$RUNS"/sweep/*/ "$headline/"; do
    [ -d "$d" ] && echo "${d#"$RUNS"/}" | sed 's:/$::'
  done
}
# The study step that trains the run in $RUNS/$1.
train_step() { if [ "$1" = headline ]; then echo headline-train; else echo "$(basename "$1")-train"; fi; }

# A parked fine-tune comes back into $RUNS unless $RUNS has a checkpoint of its own (newer, or the
# same run's): checked whole first, so a torn or edited carry stops the study instead of training on.
restore_carry() {
  [ -f "$CARRY/SHA256SUMS" ] || return 0
  (cd "$CARRY" && sha256sum --quiet -c SHA256SUMS) || { log "$CARRY does not match its SHA256SUMS: remove it or park again"; exit 1; }
  local rel
  for rel in $(cd "$CARRY/runs" 2>/dev/null && find . -name latest -printf '%h\n' | sed 's:^\./::'); do
    if [ -f "$OUT/steps/$(train_step "$rel")" ] || [ -f "$RUNS/$rel/latest" ]; then continue; fi
    mkdir -p "$RUNS/$rel"
    cp -r "$CARRY/runs/$rel/." "$RUNS/$rel/"
    if [ -f "$CARRY/elapsed/$(train_step "$rel")" ]; then
      mkdir -p "$RUNS/elapsed"
      cp "$CARRY/elapsed/$(train_step "$rel")" "$RUNS/elapsed/"
    fi
    log "$rel: resumed from the parked checkpoint $(cat "$RUNS/$rel/latest") in $CARRY"
  done
}

# snapshot_slices: every complete snapshot of the headline run, as it ships, on the stratified slice.
snapshot_slices() {
  local snap name shipped
  for snap in "$headline"/snapshots/*/; do
    snap="${snap%/}"
    # training.json is a snapshot's last file: one without it is torn and is written again on resume.
    [ -f "$snap/training.json" ] || continue
    name="$(basename "$snap")"
    shipped=$(export_of "$name" "$snap")
    step "$name-slice" $bin evaluate --adapter "$shipped" --prompt 0shot --stratified "$SLICE" "${data[@]}" --out-dir "$OUT"
  done
}

# park: each fine-tune with a checkpoint whose training step is not done, copied into $CARRY (its
# latest checkpoint only; snapshots are evaluated first instead of carried).
park() {
  snapshot_slices
  rm -rf "$CARRY.tmp" && mkdir -p "$CARRY.tmp"
  local rel ck n=0
  for rel in $(run_dirs); do
    [ -f "$RUNS/$rel/latest" ] && [ ! -f "$OUT/steps/$(train_step "$rel")" ] || continue
    ck=$(cat "$RUNS/$rel/latest")
    mkdir -p "$CARRY.tmp/runs/$rel"
    cp -r "$RUNS/$rel/$ck" "$RUNS/$rel/latest" "$RUNS/$rel/settings.json" "$CARRY.tmp/runs/$rel/"
    [ -f "$RUNS/$rel/train_log.parquet" ] && cp "$RUNS/$rel/train_log.parquet" "$CARRY.tmp/runs/$rel/"
    if [ -f "$RUNS/elapsed/$(train_step "$rel")" ]; then
      mkdir -p "$CARRY.tmp/elapsed" && cp "$RUNS/elapsed/$(train_step "$rel")" "$CARRY.tmp/elapsed/"
    fi
    log "parked $rel at $ck"
    n=$((n + 1))
  done
  if [ "$n" = 0 ]; then
    rm -rf "$CARRY.tmp"
    log "no unfinished fine-tune to park"
    return
  fi
  printf '%s\n' "The study's unfinished fine-tunes, parked by PARK=1 bash scripts/study.sh (see its header)." \
    "A study started in this checkout resumes them. Do not commit this folder." > "$CARRY.tmp/README"
  (cd "$CARRY.tmp" && find . -type f ! -name SHA256SUMS -printf '%P\n' | sort | xargs sha256sum > SHA256SUMS)
  rm -rf "$CARRY" && mv "$CARRY.tmp" "$CARRY"
  log "parked $n fine-tune(s) in $CARRY ($(du -sh "$CARRY" | cut -f1))"
}

# A parked run's copy is dropped once its training step is done.
drop_parked() {
  if [ -d "$CARRY/runs/$1" ] && [ -f "$OUT/steps/$(train_step "$1")" ]; then
    rm -rf "${CARRY:?}/runs/$1"
    (cd "$CARRY" && find . -type f ! -name SHA256SUMS -printf '%P\n' | sort | xargs -r sha256sum > SHA256SUMS)
    [ -n "$(find "$CARRY/runs" -name latest 2>/dev/null)" ] || rm -rf "$CARRY"
  fi
}

if [ "${PARK:-0}" = 1 ]; then
  park
  exit 0
fi
restore_carry

step setup $bin setup "${data[@]}"
for prompt in 3shot 0shot; do
  step "base-dev-$prompt" $bin baseline --prompt "$prompt" ${dev_flags[@]+"${dev_flags[@]}"} "${data[@]}" --out-dir "$OUT"
done

# The base model's MMLU and its slice of dev need no training: they come first, so a study started
# before the trainer is final (BASE_ONLY=1) spends its CPU on work that stays valid.
for split in "${mmlu_splits[@]}"; do
  step "base-mmlu-$split" $bin mmlu --split "$split" "${data[@]}" --out-dir "$OUT"
done
step base-slice $bin baseline --prompt 0shot --stratified "$SLICE" "${data[@]}" --out-dir "$OUT"
# The report comes from the current code, not the pinned binary: it only reads the results, and the
# committed report.md must be what the current `sqlora report` makes of them (tests/study_results.rs).
# Its main MMLU split is the last of MMLU_SPLITS (validation, 1,531 questions); the others have
# their own section.
report() { cargo build --release -q && target/release/sqlora report --split "${mmlu_splits[-1]}" --out-dir "$OUT"; }
if [ "${BASE_ONLY:-0}" = 1 ]; then
  report
  log "the base model's steps are done (BASE_ONLY=1)"
  exit 0
fi

# One setting at a time, each evaluated as soon as it is trained: results arrive setting by setting,
# and an interruption costs at most the one setting in flight.
for name in $(sed -n 's/^name = "\(.*\)"$/\1/p' data/finetune/study.toml); do
  dir="$RUNS/sweep/$name"
  # A fresh clone has the committed markers but not the adapters: retrain one still to be evaluated.
  if [ ! -f "$dir/settings.json" ] && [ ! -f "$OUT/steps/$name-mmlu-${mmlu_splits[-1]}" ]; then
    rm -f "$OUT/steps/$name-train" "$OUT/steps/$name-export"
  fi
  step "$name-train" $bin finetune --config data/finetune/study.toml --only "$name" --out-dir "$RUNS/sweep" ${train_flags[@]+"${train_flags[@]}"} "${data[@]}"
  drop_parked "sweep/$name"
  shipped=$(export_of "$name" "$dir")
  for prompt in 3shot 0shot; do
    step "$name-dev-$prompt" $bin evaluate --adapter "$shipped" --prompt "$prompt" ${dev_flags[@]+"${dev_flags[@]}"} "${data[@]}" --out-dir "$OUT"
  done
  mmlu_of "$name" "$shipped"
done

if [ ! -f "$headline/settings.json" ] && [ ! -f "$OUT/steps/headline-mmlu-${mmlu_splits[-1]}" ]; then
  rm -f "$OUT/steps/headline-train" "$OUT"/steps/headline*-export
fi
step headline-train $bin finetune --out-dir "$headline" --numerics int8 --rank 16 --alpha 32 --targets all --lr 2e-4 --epochs 1 \
  --max-len 2048 --val-examples 64 --val-every 100 --checkpoint-every 20 --keep-at 500,1000,2000,4000 \
  ${train_flags[@]+"${train_flags[@]}"} "${data[@]}"
drop_parked headline
snapshot_slices
shipped=$(export_of headline "$headline")
step headline-slice $bin evaluate --adapter "$shipped" --prompt 0shot --stratified "$SLICE" "${data[@]}" --out-dir "$OUT"
for prompt in 3shot 0shot; do
  step "headline-dev-$prompt" $bin evaluate --adapter "$shipped" --prompt "$prompt" ${dev_flags[@]+"${dev_flags[@]}"} "${data[@]}" --out-dir "$OUT"
done
mmlu_of headline "$shipped"
# The 14,042-question test split last (over an hour per model): everything above reads sooner.
if [ "$MMLU_TEST" = 1 ]; then
  step base-mmlu-test $bin mmlu --split test "${data[@]}" --out-dir "$OUT"
  step headline-mmlu-test $bin mmlu --no-base --split test --adapter "$shipped" "${data[@]}" --out-dir "$OUT"
fi

# The report always: cheap, and it must show everything finished so far.
report
log "study done: $OUT/report.md; open it with $bin view --results $OUT"
