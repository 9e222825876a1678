//! Adapters kept along the way: with `--keep-at 500,1000,…`, the run saves its adapter when it has
//! seen each number of training examples, as an adapter folder of its own
//! (`<run>/snapshots/<run name>-at-<examples>/`: PEFT files, adapter.gguf, settings.json, the log so
//! far, training.json) that `evaluate`, `mmlu` and the results' gathering take like any finished run:
//! a data-scaling curve from one run. A resumed run reaches each snapshot's step with the same
//! weights (a run is a function of its settings), so a snapshot lost to a kill is written again, the
//! same, when the run passes its step again; training.json is written last, so a torn one is redone.
use super::run::{RunLabels, ADAPTER_GGUF, SETTINGS_FILE, SUMMARY_FILE};
use super::settings::Settings;
use anyhow::Result;
use sqlora_kernel::atomic_file::write_atomic;
use sqlora_kernel::backend::TrainBackend;
use sqlora_kernel::model::{LoraParams, Model};
use sqlora_results::runs::run_id;
use sqlora_results::train_log::{record_train_log, TrainLogRow, TRAIN_LOG_FILE};
use std::path::{Path, PathBuf};

/// The folder of the snapshot of run `adapter` (in `dir`) after `examples` examples.
pub fn snapshot_dir(dir: &Path, adapter: &str, examples: usize) -> PathBuf {
    dir.join("snapshots").join(format!("{adapter}-at-{examples:06}"))
}

/// The milestones crossed by a step that took the examples seen from `before` to `after`.
pub fn crossed(keep_at: &[usize], before: usize, after: usize) -> Vec<usize> {
    keep_at.iter().copied().filter(|&m| before < m && m <= after).collect()
}

/// What a snapshot records besides the weights.
pub struct Moment<'a> {
    pub milestone: usize,
    pub examples_seen: usize,
    pub step: usize,
    pub tokens_seen: usize,
    pub elapsed_s: f64,
    pub val_loss: Option<f64>,
    pub log: &'a [TrainLogRow],
}

/// Write the snapshot of `params` at `at` for the run of `dir` (a no-op when it is complete).
pub fn save<B: TrainBackend>(
    model: &Model<B>,
    params: &LoraParams<B>,
    s: &Settings,
    dir: &Path,
    labels: &RunLabels<'_>,
    at: &Moment<'_>,
) -> Result<PathBuf> {
    let (adapter, model_label, model_path) = (labels.adapter, labels.model, labels.model_path);
    let snap = snapshot_dir(dir, adapter, at.milestone);
    if snap.join(SUMMARY_FILE).exists() {
        return Ok(snap);
    }
    std::fs::create_dir_all(&snap)?;
    let name = crate::assets::file_label(&snap);
    let a = model.adapter_from_params(params, s.alpha, s.rslora, snap.clone());
    a.save_peft(&snap, &model_path.display().to_string())?;
    sqlora_kernel::lora::save_gguf(&a, &model.cfg, &snap.join(ADAPTER_GGUF))?;
    write_atomic(&snap.join(SETTINGS_FILE), &serde_json::to_vec_pretty(s)?)?;
    let id = run_id("train", "spider-train", model_label, Some(&name));
    let log: Vec<TrainLogRow> = at.log.iter().map(|r| TrainLogRow { run_id: id.clone(), adapter: name.clone(), ..r.clone() }).collect();
    record_train_log(&snap.join(TRAIN_LOG_FILE), &id, log)?;
    let last = at.log.last();
    let summary = serde_json::json!({
        "finished": true, "snapshot_of": adapter, "examples_seen": at.examples_seen, "steps": at.step,
        "tokens_seen": at.tokens_seen, "wall_s": at.elapsed_s, "tokens_per_s": at.tokens_seen as f64 / at.elapsed_s.max(1e-9),
        "train_examples": at.examples_seen, "final_loss": last.map(|l| l.loss), "final_val_loss": at.val_loss,
        "model": model_label, "model_path": model_path.display().to_string(),
    });
    write_atomic(&snap.join(SUMMARY_FILE), serde_json::to_string_pretty(&summary)?.as_bytes())?;
    println!("{}: kept the adapter after {} examples (step {})", snap.display(), at.examples_seen, at.step);
    Ok(snap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_crosses_the_milestones_between_its_counts() {
        let keep = [500, 1000, 2000];
        assert_eq!(crossed(&keep, 496, 504), vec![500]);
        assert_eq!(crossed(&keep, 500, 508), Vec::<usize>::new(), "500 was the step before's");
        assert_eq!(crossed(&keep, 992, 2000), vec![1000, 2000]);
        assert_eq!(snapshot_dir(Path::new("runs/h"), "h", 500), Path::new("runs/h/snapshots/h-at-000500"));
    }
}
