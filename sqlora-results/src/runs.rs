//! `runs.parquet`: one row per (task, split, model, adapter) run with its headline metric, further
//! metrics and settings. Every phase writes here (Spider baseline and evaluation, MMLU), and `sqlora
//! report` reads it to put what fine-tuning gained (Spider) beside what it cost (MMLU). This is the
//! one definition of the file's columns.
//!
//! The columns are in [`COLUMNS`] (and `sqlora-results/SCHEMA.md`).
use super::rows::{read_rows, upsert_rows};
use super::schema::{col, Column, Kind, Ty::*};
use anyhow::Result;
use arrow_schema::Schema;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const RUNS_FILE: &str = "runs.parquet";

pub const COLUMNS: &[Column] = &[
    col("run_id", Utf8, false, "", "`task/split/model/adapter` (`run_id()`); a rerun replaces its row"),
    col("task", Utf8, false, "", "`mmlu`, `spider`, `train`"),
    col("split", Utf8, false, "", "`sample150`, `test`, `val` (MMLU); `dev`, `dev-subset-N` (Spider)"),
    col("model", Utf8, false, "", "base model file or directory name (`… (int8)` for the 8-bit path)"),
    col("adapter", Utf8, true, "", "adapter directory name; null = the base model alone"),
    col("metric", Utf8, false, "", "what `score` is: `accuracy` (MMLU), `ex_official` (Spider)"),
    col("score", Float64, false, "fraction 0..1", "the headline metric"),
    col("n", Int64, false, "examples", "examples scored"),
    col(
        "metrics",
        Utf8,
        true,
        "JSON",
        "object of further metrics (Spider: ex_seed, ex_official, by_hardness; MMLU: categories, mean_p_gold)",
    ),
    col("settings", Utf8, true, "JSON", "object of the settings (shots, seed, batch, paths; adapters: rank, alpha, lr, targets, steps)"),
    col("finished_unix", Int64, true, "s since 1970 UTC", "when the run finished"),
    col("wall_s", Float64, true, "s", "wall time of the (last resumed part of the) run"),
    col("per_s", Float64, true, "examples/s", "examples per second over `wall_s`"),
    col("sqlora_version", Utf8, true, "", "crate version that wrote the row"),
];

/// The Arrow schema of `runs.parquet`.
pub fn runs_schema() -> Schema {
    Kind::Runs.arrow_schema()
}

/// One row of `runs.parquet`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunRow {
    pub run_id: String,
    pub task: String,
    pub split: String,
    pub model: String,
    pub adapter: Option<String>,
    pub metric: String,
    pub score: f64,
    pub n: i64,
    pub metrics: Option<String>,
    pub settings: Option<String>,
    pub finished_unix: Option<i64>,
    pub wall_s: Option<f64>,
    pub per_s: Option<f64>,
    pub sqlora_version: Option<String>,
}

/// The key of a run: `task/split/model/adapter` (`-` for the base model).
pub fn run_id(task: &str, split: &str, model: &str, adapter: Option<&str>) -> String {
    format!("{task}/{split}/{model}/{}", adapter.unwrap_or("-"))
}

/// Seconds since the Unix epoch (the `finished_unix` column).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// All rows of a runs file (none when it does not exist yet).
pub fn read_runs(path: &Path) -> Result<Vec<RunRow>> {
    read_rows(path, Kind::Runs)
}

/// Add `rows` to the runs file, replacing earlier rows with the same `run_id`.
pub fn record_runs(path: &Path, rows: Vec<RunRow>) -> Result<()> {
    let ids: Vec<String> = rows.iter().map(|r| r.run_id.clone()).collect();
    upsert_rows(path, rows, |r: &RunRow| ids.contains(&r.run_id), Kind::Runs)
}

/// Whether a Spider run's split is one in the training format (`dev@0shot`, `dev-subset-8@0shot`).
pub fn is_zero_shot(split: &str) -> bool {
    split.ends_with("@0shot")
}

/// The Spider run of (model, adapter) shown for a prompt (the fixed 3-shot one, or the training
/// format with `zero_shot`): the whole dev split when there is one, else the largest subset.
pub fn spider_run<'a>(runs: &'a [RunRow], model: &str, adapter: Option<&str>, zero_shot: bool) -> Option<&'a RunRow> {
    runs.iter()
        .filter(|r| r.task == "spider" && r.model == model && r.adapter.as_deref() == adapter && is_zero_shot(&r.split) == zero_shot)
        .max_by_key(|r| (r.split == "dev" || r.split == "dev@0shot", r.n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(task: &str, adapter: Option<&str>, score: f64) -> RunRow {
        RunRow {
            run_id: run_id(task, "dev", "m.gguf", adapter),
            task: task.into(),
            split: "dev".into(),
            model: "m.gguf".into(),
            adapter: adapter.map(Into::into),
            metric: "accuracy".into(),
            score,
            n: 10,
            metrics: Some(r#"{"a":1}"#.into()),
            ..Default::default()
        }
    }

    #[test]
    fn rerun_replaces_its_row_and_keeps_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(RUNS_FILE);
        record_runs(&p, vec![row("mmlu", None, 0.25), row("spider", None, 0.1)]).unwrap();
        record_runs(&p, vec![row("mmlu", None, 0.30), row("mmlu", Some("r8"), 0.2)]).unwrap();
        let got = read_runs(&p).unwrap();
        assert_eq!(got, vec![row("spider", None, 0.1), row("mmlu", None, 0.30), row("mmlu", Some("r8"), 0.2)]);
    }

    #[test]
    fn written_file_has_the_schema_types() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(RUNS_FILE);
        record_runs(&p, vec![row("mmlu", None, 0.25)]).unwrap();
        let f = std::fs::File::open(&p).unwrap();
        let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
        let schema = b.schema();
        for want in runs_schema().fields() {
            assert_eq!(schema.field_with_name(want.name()).unwrap().data_type(), want.data_type(), "{}", want.name());
        }
    }
}
