//! An adapter's training, gathered into the results folder where it is evaluated: its
//! `task = "train"` row in runs.parquet (the settings it was trained with, its final losses) and its
//! curve in train_log.parquet. A fine-tune writes both into its own run folder; the results folder
//! only learns where that folder is when an evaluation names it, so the commands that record an
//! adapter's evaluation (`evaluate`, `mmlu`) gather its training too, and `sqlora report` gathers
//! every adapter the runs' `adapter_path` settings name (folders written before this existed). The
//! viewer and the report then read one folder, and `view --export` copies all of it.
use super::run::{SETTINGS_FILE, SUMMARY_FILE};
use crate::results::runs::{read_runs, record_runs, run_id, RunRow, RUNS_FILE};
use crate::results::train_log::{read_train_log, record_train_log, TRAIN_LOG_FILE};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The split a training run is recorded under.
pub const TRAIN_SPLIT: &str = "spider-train";

fn read_json(p: &Path) -> Result<Option<serde_json::Value>> {
    match std::fs::read(p) {
        Ok(b) => Ok(Some(serde_json::from_slice(&b).with_context(|| format!("parsing {}", p.display()))?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
    }
}

/// Gather the training of the adapter in `adapter_dir`, named `adapter` in the results, into
/// `out_dir`. Returns false (and writes nothing) for an adapter not trained by `sqlora finetune`
/// (a PEFT folder from elsewhere has no settings.json or train log).
pub fn gather_training(adapter_dir: &Path, adapter: &str, out_dir: &Path) -> Result<bool> {
    let Some(settings) = read_json(&adapter_dir.join(SETTINGS_FILE))? else { return Ok(false) };
    let log_path = adapter_dir.join(TRAIN_LOG_FILE);
    if !log_path.exists() {
        return Ok(false);
    }
    let summary = read_json(&adapter_dir.join(SUMMARY_FILE))?;
    let mut log = read_train_log(&log_path)?;
    // The model it was trained on (an int8 evaluation of it is another arm; its training is this one).
    let model = summary
        .as_ref()
        .and_then(|s| s["model"].as_str().map(String::from))
        .or_else(|| log.first().map(|r| r.model.clone()))
        .unwrap_or_default();
    let id = run_id("train", TRAIN_SPLIT, &model, Some(adapter));
    for r in &mut log {
        // Under the name the results give the adapter (its folder may have been renamed since).
        r.run_id = id.clone();
        r.adapter = adapter.to_string();
    }
    let mut run_settings = settings;
    if let Some(o) = run_settings.as_object_mut() {
        let steps = summary.as_ref().and_then(|s| s["steps"].as_u64()).or_else(|| log.last().map(|r| r.step as u64));
        o.insert("steps".into(), steps.into());
        o.insert("adapter_path".into(), adapter_dir.display().to_string().into());
    }
    let last = log.last();
    let (metric, score) = match (summary.as_ref().and_then(|s| s["final_val_loss"].as_f64()), last) {
        (Some(v), _) => ("final_val_loss", v),
        (None, Some(l)) => ("final_loss", l.loss),
        (None, None) => ("final_loss", f64::NAN),
    };
    let row = RunRow {
        run_id: id.clone(),
        task: "train".into(),
        split: TRAIN_SPLIT.into(),
        model,
        adapter: Some(adapter.to_string()),
        metric: metric.into(),
        score,
        n: summary.as_ref().and_then(|s| s["train_examples"].as_i64()).unwrap_or(0),
        metrics: summary.as_ref().map(|s| s.to_string()),
        settings: Some(run_settings.to_string()),
        finished_unix: std::fs::metadata(adapter_dir.join(SUMMARY_FILE))
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as i64),
        wall_s: summary.as_ref().and_then(|s| s["wall_s"].as_f64()).or_else(|| last.and_then(|l| l.elapsed_s)),
        per_s: None,
        sqlora_version: Some(env!("CARGO_PKG_VERSION").into()),
    };
    record_train_log(&out_dir.join(TRAIN_LOG_FILE), &id, log)?;
    record_runs(&out_dir.join(RUNS_FILE), vec![row])?;
    Ok(true)
}

/// The adapter folders the runs of `out_dir` were evaluated with (their `adapter_path` setting),
/// with the name the results give each; folders that no longer exist are left out.
pub fn recorded_adapters(out_dir: &Path) -> Result<Vec<(PathBuf, String)>> {
    let mut found: Vec<(PathBuf, String)> = Vec::new();
    for r in read_runs(&out_dir.join(RUNS_FILE))? {
        let (Some(adapter), Some(settings)) = (r.adapter, r.settings) else { continue };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&settings) else { continue };
        let Some(path) = v["adapter_path"].as_str().map(PathBuf::from) else { continue };
        if r.task != "train" && path.is_dir() && !found.iter().any(|(p, a)| *p == path && *a == adapter) {
            found.push((path, adapter));
        }
    }
    Ok(found)
}

/// [`gather_training`] for every adapter the runs of `out_dir` name; returns how many were gathered.
pub fn gather_recorded(out_dir: &Path) -> Result<usize> {
    let mut n = 0;
    for (dir, adapter) in recorded_adapters(out_dir)? {
        n += usize::from(gather_training(&dir, &adapter, out_dir).with_context(|| format!("gathering the training of {}", dir.display()))?);
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::train_log::TrainLogRow;

    /// A finished fine-tune's folder as `sqlora finetune` leaves it (the files gathering reads).
    fn trained(dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        let settings = serde_json::json!({"rank": 8, "alpha": 16.0, "lr": 2e-4, "targets": ["q", "v"]});
        std::fs::write(dir.join(SETTINGS_FILE), settings.to_string()).unwrap();
        let summary = serde_json::json!({"finished": true, "steps": 3, "model": "m.gguf", "final_loss": 0.9, "final_val_loss": 1.1,
            "train_examples": 24, "wall_s": 12.5});
        std::fs::write(dir.join(SUMMARY_FILE), summary.to_string()).unwrap();
        let old_id = run_id("train", TRAIN_SPLIT, "m.gguf", Some("old-name"));
        let rows = (1..=3)
            .map(|step| TrainLogRow {
                run_id: old_id.clone(),
                model: "m.gguf".into(),
                adapter: "old-name".into(),
                step,
                loss: 1.0,
                lr: 1e-4,
                ..Default::default()
            })
            .collect();
        record_train_log(&dir.join(TRAIN_LOG_FILE), &old_id, rows).unwrap();
    }

    #[test]
    fn an_adapters_training_lands_beside_its_evaluation_under_its_results_name() {
        let tmp = tempfile::tempdir().unwrap();
        let (adapter, out) = (tmp.path().join("runs/r8"), tmp.path().join("results"));
        trained(&adapter);
        std::fs::create_dir_all(&out).unwrap();
        assert!(gather_training(&adapter, "r8", &out).unwrap());
        // Twice (evaluate, then mmlu): the same rows, not twice as many.
        assert!(gather_training(&adapter, "r8", &out).unwrap());
        let runs = read_runs(&out.join(RUNS_FILE)).unwrap();
        assert_eq!(runs.len(), 1);
        let r = &runs[0];
        assert_eq!((r.task.as_str(), r.model.as_str(), r.adapter.as_deref()), ("train", "m.gguf", Some("r8")));
        assert_eq!((r.metric.as_str(), r.score, r.n), ("final_val_loss", 1.1, 24));
        let s: serde_json::Value = serde_json::from_str(r.settings.as_deref().unwrap()).unwrap();
        assert_eq!((s["rank"].as_u64(), s["steps"].as_u64()), (Some(8), Some(3)));
        assert_eq!(s["adapter_path"], adapter.display().to_string());
        let log = read_train_log(&out.join(TRAIN_LOG_FILE)).unwrap();
        assert_eq!(log.iter().map(|l| l.step).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert!(log.iter().all(|l| l.run_id == r.run_id && l.adapter == "r8"), "renamed to the results' name");
        // A PEFT folder from elsewhere: nothing to gather, nothing written.
        let foreign = tmp.path().join("peft");
        std::fs::create_dir_all(&foreign).unwrap();
        let other = tmp.path().join("other");
        assert!(!gather_training(&foreign, "peft", &other).unwrap());
        assert!(!other.exists());
    }

    /// A folder written before evaluations gathered: the adapter paths its runs record lead to
    /// the training (what `sqlora report` does first).
    #[test]
    fn recorded_adapter_paths_lead_to_their_training() {
        let tmp = tempfile::tempdir().unwrap();
        let (adapter, out) = (tmp.path().join("runs/r8"), tmp.path().join("results"));
        trained(&adapter);
        let eval = |adapter_path: &Path, name: &str| RunRow {
            run_id: run_id("spider", "dev", "m.gguf", Some(name)),
            task: "spider".into(),
            model: "m.gguf".into(),
            adapter: Some(name.into()),
            settings: Some(serde_json::json!({"adapter_path": adapter_path.display().to_string()}).to_string()),
            ..Default::default()
        };
        std::fs::create_dir_all(&out).unwrap();
        record_runs(&out.join(RUNS_FILE), vec![eval(&adapter, "r8"), eval(&tmp.path().join("gone"), "gone")]).unwrap();
        assert_eq!(recorded_adapters(&out).unwrap(), vec![(adapter.clone(), "r8".to_string())], "a folder that is gone is left out");
        assert_eq!(gather_recorded(&out).unwrap(), 1);
        assert_eq!(read_train_log(&out.join(TRAIN_LOG_FILE)).unwrap().len(), 3);
        assert!(read_runs(&out.join(RUNS_FILE)).unwrap().iter().any(|r| r.task == "train"));
    }
}
