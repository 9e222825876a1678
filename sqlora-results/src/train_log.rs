//! `train_log.parquet`: the loss curve of LoRA training, one row per logged optimizer step of each
//! run. Defined here ahead of the trainer (the fine-tuning issue writes it) so the viewer can draw
//! it; the trainer appends its rows through [`record_train_log`]. The columns are in [`COLUMNS`]
//! (and `sqlora-results/SCHEMA.md`).
use super::rows::{read_rows, upsert_rows};
use super::schema::{col, Column, Kind, Ty::*};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const TRAIN_LOG_FILE: &str = "train_log.parquet";

pub const COLUMNS: &[Column] = &[
    col("run_id", Utf8, false, "", "the training run: `run_id(\"train\", split, model, adapter)`"),
    col("model", Utf8, false, "", "base model file or directory name"),
    col("adapter", Utf8, false, "", "adapter directory name the run writes"),
    col("step", Int64, false, "optimizer steps", "steps done when the row was logged (1-based)"),
    col("tokens_seen", Int64, false, "tokens", "training tokens consumed so far (loss-bearing and prompt tokens)"),
    col("loss", Float64, false, "nats/token", "mean training cross-entropy over the step's answer tokens"),
    col("val_loss", Float64, true, "nats/token", "validation cross-entropy, on the steps where it was measured"),
    col("lr", Float64, false, "", "learning rate used for this step (after warmup and schedule)"),
    col("grad_norm", Float64, true, "", "L2 norm of the adapter gradients before clipping"),
    col("tokens_per_s", Float64, true, "tokens/s", "training throughput over the logging interval"),
    col("elapsed_s", Float64, true, "s", "wall time since the run started"),
];

/// One row of `train_log.parquet`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainLogRow {
    pub run_id: String,
    pub model: String,
    pub adapter: String,
    pub step: i64,
    pub tokens_seen: i64,
    pub loss: f64,
    pub val_loss: Option<f64>,
    pub lr: f64,
    pub grad_norm: Option<f64>,
    pub tokens_per_s: Option<f64>,
    pub elapsed_s: Option<f64>,
}

pub fn read_train_log(path: &Path) -> Result<Vec<TrainLogRow>> {
    read_rows(path, Kind::TrainLog)
}

/// Put one run's rows in the file, replacing that run's earlier rows (a restarted run logs again).
pub fn record_train_log(path: &Path, run_id: &str, rows: Vec<TrainLogRow>) -> Result<()> {
    upsert_rows(path, rows, |r: &TrainLogRow| r.run_id == run_id, Kind::TrainLog)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rerun_replaces_its_rows_and_metadata_names_the_kind() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(TRAIN_LOG_FILE);
        let row = |run: &str, step: i64| TrainLogRow { run_id: run.into(), step, loss: 2.0 / step as f64, lr: 1e-4, ..Default::default() };
        record_train_log(&p, "a", vec![row("a", 1), row("a", 2)]).unwrap();
        record_train_log(&p, "b", vec![row("b", 1)]).unwrap();
        record_train_log(&p, "a", vec![row("a", 1)]).unwrap();
        let got = read_train_log(&p).unwrap();
        assert_eq!(got, vec![row("b", 1), row("a", 1)]);
        let t = crate::table::read_table(&p).unwrap();
        assert_eq!(t.metadata.get(crate::schema::KIND_KEY).map(String::as_str), Some("train_log"));
        assert_eq!(t.metadata.get(crate::schema::VERSION_KEY).map(String::as_str), Some("1"));
    }
}
