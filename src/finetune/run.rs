//! One fine-tuning run into its folder: the loop over optimizer steps, checkpoints, resume, the log,
//! validation loss, and at the end the adapter in PEFT's format (the folder is the adapter folder).
//!
//! A run is a pure function of its settings and data: the epoch orders, the initialisation and the
//! schedule derive from the seed and the step count, so a run resumed from a checkpoint continues
//! exactly where the killed one was and ends with the same adapter.
use super::checkpoint::{self, State};
use super::data::{epoch_batches, padding_waste, TrainData, TrainExample};
use super::settings::Settings;
use crate::progress::Progress;
use anyhow::{bail, Context, Result};
use sqlora_kernel::backend::TrainBackend;
use sqlora_kernel::lora::Adapter;
use sqlora_kernel::model::{Dropout, LoraParams, Model, TrainSeq};
use sqlora_kernel::train::{train_step, AdamW, Optimizer, Schedule};
use sqlora_results::runs::run_id;
use sqlora_results::train_log::{record_train_log, TrainLogRow, TRAIN_LOG_FILE};
use std::path::Path;
use std::time::Instant;

pub const SETTINGS_FILE: &str = "settings.json";
/// Written last: its presence means the run finished (the sweep skips it).
pub const SUMMARY_FILE: &str = "training.json";
pub const ADAPTER_GGUF: &str = "adapter.gguf";
/// Tokens per micro-batch at most (the activations kept for the backward grow with them).
pub const MAX_BATCH_TOKENS: usize = 2048;

/// Whether the run in `dir` finished.
pub fn finished(dir: &Path) -> bool {
    dir.join(SUMMARY_FILE).exists()
}

/// The settings a run folder was started with, if any.
pub fn folder_settings(dir: &Path) -> Result<Option<Settings>> {
    let p = dir.join(SETTINGS_FILE);
    let Ok(bytes) = std::fs::read(&p) else { return Ok(None) };
    Ok(Some(serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", p.display()))?))
}

/// The run's optimizer steps: micro-batches (indices into the train examples) of every epoch, in
/// order, grouped by `grad_accum`; cut at `max_steps`.
pub fn plan(s: &Settings, train: &[TrainExample]) -> Vec<Vec<Vec<usize>>> {
    let lens: Vec<usize> = train.iter().map(|e| e.tokens.len()).collect();
    let micro: Vec<Vec<usize>> = (0..s.epochs).flat_map(|e| epoch_batches(&lens, s.seed, e, s.batch_size, MAX_BATCH_TOKENS)).collect();
    let mut steps: Vec<Vec<Vec<usize>>> = micro.chunks(s.grad_accum).map(|c| c.to_vec()).collect();
    if s.max_steps > 0 {
        steps.truncate(s.max_steps);
    }
    steps
}

fn schedule(s: &Settings, total: usize) -> Schedule {
    let warmup = (s.warmup_ratio * total as f64).ceil() as usize;
    match s.schedule.as_str() {
        "linear" => Schedule::Linear { warmup, total },
        "constant" => Schedule::Constant,
        _ => Schedule::Cosine { warmup, total },
    }
}

fn seqs<'a>(ex: &'a [TrainExample], idx: &[usize]) -> Vec<TrainSeq<'a>> {
    idx.iter().map(|&i| TrainSeq { tokens: &ex[i].tokens, target: &ex[i].target }).collect()
}

/// Mean cross-entropy per answer token over `val` (the gradients are computed and dropped: the
/// training step is the one loss function, so validation measures exactly what training minimises).
pub fn val_loss<B: TrainBackend>(model: &Model<B>, params: &LoraParams<B>, val: &[TrainExample], batch_size: usize) -> Result<Option<f64>> {
    if val.is_empty() {
        return Ok(None);
    }
    let lens: Vec<usize> = val.iter().map(|e| e.tokens.len()).collect();
    let (mut sum, mut n) = (0.0, 0usize);
    for mb in epoch_batches(&lens, 0, 0, batch_size, MAX_BATCH_TOKENS) {
        let batch = seqs(val, &mb);
        let targets: usize = batch.iter().map(|s| s.target.iter().skip(1).filter(|&&t| t).count()).sum();
        let mut g = model.lora_zeros(params);
        sum += model.loss_and_grads(&batch, params, &mut g)? * targets as f64;
        n += targets;
    }
    Ok(Some(sum / n.max(1) as f64))
}

/// What the caller names the run by.
pub struct RunLabels<'a> {
    pub model: &'a str,
    pub model_path: &'a Path,
    pub adapter: &'a str,
}

/// Trains (or resumes, or finds finished) the run of `s` in `dir`.
pub fn train<B: TrainBackend>(
    model: &Model<B>,
    data: &TrainData,
    s: &Settings,
    dir: &Path,
    labels: &RunLabels<'_>,
    fresh: bool,
    keep_at: &[usize],
) -> Result<()> {
    s.check()?;
    // One process trains a folder at a time: a second run of it waits, then finds it finished (or
    // resumes it from the first one's last checkpoint).
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let _training = sqlora_results::lock::lock_exclusive(&dir.join("training"), |lp| {
        println!("another sqlora process is training into {} (lock {}); waiting for it", dir.display(), lp.display())
    })?;
    if fresh && dir.exists() {
        for name in ["latest", SETTINGS_FILE, SUMMARY_FILE, TRAIN_LOG_FILE] {
            std::fs::remove_file(dir.join(name)).ok();
        }
    }
    if let Some(old) = folder_settings(dir)? {
        if &old != s {
            bail!(
                "{} holds a run with other settings ({}); use another --out-dir, or --fresh to start over",
                dir.display(),
                settings_diff(&old, s)
            );
        }
        if finished(dir) {
            println!("{}: finished earlier, skipped", dir.display());
            return Ok(());
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    sqlora_kernel::atomic_file::write_atomic(&dir.join(SETTINGS_FILE), &serde_json::to_vec_pretty(s)?)?;
    let b = &model.backend;
    let targets = s.target_projections()?;
    let init = Adapter::init_peft(&model.cfg, s.rank, s.alpha, s.rslora, &targets, s.seed);
    let mut params = model.lora_params(&init)?;
    let adamw = AdamW { lr: s.lr, beta1: s.beta1, beta2: s.beta2, eps: s.eps, weight_decay: s.weight_decay };
    let mut opt = Optimizer::new(model, &params, adamw);
    let mut state = match checkpoint::load(dir, b, &mut params, &mut opt)? {
        Some(st) => {
            println!("{}: resuming after step {} (checkpoint)", dir.display(), st.step);
            st
        }
        None => State { step: 0, tokens_seen: 0, elapsed_s: 0.0, log: Vec::new(), tensors_sha256: String::new() },
    };
    let steps = plan(s, &data.train);
    let total = steps.len();
    if total == 0 {
        bail!("no training steps: no examples fit max_len {}", s.max_len);
    }
    let sched = schedule(s, total);
    let lens: Vec<usize> = data.train.iter().map(|e| e.tokens.len()).collect();
    let all_micro: Vec<Vec<usize>> = steps.iter().flatten().cloned().collect();
    let shuffled: Vec<Vec<usize>> = {
        let mut r = crate::rng::SplitMix64::new(s.seed);
        r.choose(lens.len(), lens.len()).chunks(s.batch_size).map(|c| c.to_vec()).collect()
    };
    println!("{}: training on {} ({} numerics)", dir.display(), model.backend_name(), s.numerics);
    println!(
        "{}: {} train examples ({} longer than {} tokens skipped), {} validation; {} steps of {} micro-batch(es) of \
         at most {} sequences and {MAX_BATCH_TOKENS} tokens; padding to the longest would waste {:.1}% bucketed ({:.1}% unbucketed); packed batches compute none",
        dir.display(),
        data.train.len(),
        data.too_long.len(),
        s.max_len,
        data.val.len(),
        total,
        s.grad_accum,
        s.batch_size,
        100.0 * padding_waste(&lens, &all_micro),
        100.0 * padding_waste(&lens, &shuffled),
    );
    // Examples seen after each step (the plan is fixed, so a resumed run counts the same).
    let seen_after: Vec<usize> = steps
        .iter()
        .scan(0, |n, st| {
            *n += st.iter().map(Vec::len).sum::<usize>();
            Some(*n)
        })
        .collect();
    if let Some(&m) = keep_at.iter().find(|&&m| m > seen_after[total - 1]) {
        println!("{}: --keep-at {m}: the run sees only {} examples; no snapshot there", dir.display(), seen_after[total - 1]);
    }
    let run = run_id("train", "spider-train", labels.model, Some(labels.adapter));
    let log_path = dir.join(TRAIN_LOG_FILE);
    let mut progress = Progress::new(&format!("train {}", labels.adapter), total as u64, state.step as u64);
    let t0 = Instant::now() - std::time::Duration::from_secs_f64(state.elapsed_s);
    let max_norm = (s.max_grad_norm > 0.0).then_some(s.max_grad_norm);
    for (step, planned) in steps.iter().enumerate().take(total).skip(state.step) {
        let ts = Instant::now();
        let micro: Vec<Vec<TrainSeq>> = planned.iter().map(|mb| seqs(&data.train, mb)).collect();
        let lr = s.lr * sched.factor(step);
        // Dropout masks from the seed and the step alone, so a resumed run draws the same ones.
        params.dropout = (s.dropout > 0.0)
            .then(|| Dropout { p: s.dropout as f32, seed: s.seed ^ (step as u64 + 1).wrapping_mul(0xA076_1D64_78BD_642F) });
        let st = train_step(model, &mut params, &mut opt, &micro, lr, max_norm).with_context(|| format!("step {}", step + 1))?;
        if !st.loss.is_finite() {
            bail!("step {}: the loss is {} (lower the learning rate); the last checkpoint is kept", step + 1, st.loss);
        }
        state.step = step + 1;
        state.tokens_seen += st.tokens;
        let last = state.step == total;
        params.dropout = None;
        let val = if last || (s.val_every > 0 && state.step % s.val_every == 0) {
            val_loss(model, &params, &data.val, s.batch_size)?
        } else {
            None
        };
        let elapsed = t0.elapsed().as_secs_f64();
        state.elapsed_s = elapsed;
        state.log.push(TrainLogRow {
            run_id: run.clone(),
            model: labels.model.to_string(),
            adapter: labels.adapter.to_string(),
            step: state.step as i64,
            tokens_seen: state.tokens_seen as i64,
            loss: st.loss,
            val_loss: val,
            lr,
            grad_norm: Some(st.grad_norm),
            tokens_per_s: Some(st.tokens as f64 / ts.elapsed().as_secs_f64()),
            elapsed_s: Some(elapsed),
        });
        let avg = |k: usize| {
            let tail = &state.log[state.log.len().saturating_sub(k)..];
            tail.iter().map(|r| r.loss).sum::<f64>() / tail.len() as f64
        };
        let tps = state.tokens_seen as f64 / elapsed.max(1e-9);
        let msg = format!(
            "loss {:.4} (avg10 {:.4}){} lr {lr:.2e} |g| {:.3} {tps:.0} tok/s",
            st.loss,
            avg(10),
            val.map_or(String::new(), |v| format!(" val {v:.4}")),
            st.grad_norm
        );
        progress.set(state.step as u64, &msg);
        let before = if step == 0 { 0 } else { seen_after[step - 1] };
        let milestones = super::snapshot::crossed(keep_at, before, seen_after[step]);
        // A snapshot records its validation loss: measured now unless this step already did.
        let val = match val {
            None if !milestones.is_empty() => val_loss(model, &params, &data.val, s.batch_size)?,
            v => v,
        };
        for milestone in milestones {
            let at = super::snapshot::Moment {
                milestone,
                examples_seen: seen_after[step],
                step: state.step,
                tokens_seen: state.tokens_seen,
                elapsed_s: elapsed,
                val_loss: val,
                log: &state.log,
            };
            super::snapshot::save(model, &params, s, dir, labels, &at)?;
        }
        if last || state.step % s.checkpoint_every == 0 {
            checkpoint::save(dir, b, &params, &opt, &mut state)?;
            record_train_log(&log_path, &run, state.log.clone())?;
        }
    }
    progress.finish();
    let adapter = model.adapter_from_params(&params, s.alpha, s.rslora, dir.to_path_buf());
    adapter.save_peft(dir, &labels.model_path.display().to_string())?;
    // The same adapter as a GGUF LoRA for llama.cpp (`--lora adapter.gguf`).
    sqlora_kernel::lora::save_gguf(&adapter, &model.cfg, &dir.join(ADAPTER_GGUF))?;
    let last = state.log.last().cloned().unwrap_or_default();
    let summary = serde_json::json!({
        "finished": true, "steps": state.step, "tokens_seen": state.tokens_seen, "wall_s": state.elapsed_s,
        "tokens_per_s": state.tokens_seen as f64 / state.elapsed_s.max(1e-9),
        "train_examples": data.train.len(), "val_examples": data.val.len(), "skipped_too_long": data.too_long.len(),
        "final_loss": last.loss, "final_val_loss": last.val_loss, "model": labels.model, "model_path": labels.model_path.display().to_string(),
        "padding_waste_bucketed": padding_waste(&lens, &all_micro), "padding_waste_unbucketed": padding_waste(&lens, &shuffled),
        "isa": sqlora_kernel::cpu::isa::current().to_string(),
    });
    sqlora_kernel::atomic_file::write_atomic(&dir.join(SUMMARY_FILE), serde_json::to_string_pretty(&summary)?.as_bytes())?;
    println!(
        "{}: done, {} steps, {:.0} s, final loss {:.4}, validation {}",
        dir.display(),
        state.step,
        state.elapsed_s,
        last.loss,
        last.val_loss.map_or("-".into(), |v| format!("{v:.4}"))
    );
    Ok(())
}

/// The fields two settings differ in, "name: old → new".
fn settings_diff(a: &Settings, b: &Settings) -> String {
    let (ja, jb) = (serde_json::to_value(a).unwrap(), serde_json::to_value(b).unwrap());
    let mut out = Vec::new();
    if let (Some(ma), Some(mb)) = (ja.as_object(), jb.as_object()) {
        for (k, va) in ma {
            if Some(va) != mb.get(k) {
                out.push(format!("{k}: {va} → {}", mb.get(k).cloned().unwrap_or_default()));
            }
        }
    }
    out.join(", ")
}
