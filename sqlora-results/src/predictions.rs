//! `spider_predictions.parquet`: one row per Spider example with the model's prediction and its
//! execution-accuracy verdicts. This is the one definition of that file's columns; the baseline
//! writes it, `sqlora score` reads and extends it, the viewer and notebooks read it.
//!
//! The columns are in [`COLUMNS`] (and `sqlora-results/SCHEMA.md`).
use super::rows::{read_rows, write_rows};
use super::schema::{col, Column, Kind, Ty::*};
use anyhow::{bail, Result};
use arrow_schema::Schema;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const SPIDER_PREDICTIONS_FILE: &str = "spider_predictions.parquet";

pub const COLUMNS: &[Column] = &[
    col("run_id", Utf8, true, "", "the run in `runs.parquet` these predictions belong to (null in files written before it was added)"),
    col("id", Int64, false, "", "index of the example in its split file (dev.json order)"),
    col("db_id", Utf8, false, "", "Spider database"),
    col("question", Utf8, false, "", "natural-language question"),
    col("hardness", Utf8, true, "", "easy / medium / hard / extra (official rules, from the gold)"),
    col("gold", Utf8, false, "", "gold SQL"),
    col("predicted", Utf8, false, "", "SQL extracted from the model output (\"\" when none)"),
    col("raw", Utf8, true, "", "the model's raw generated text"),
    col("ex_seed", Int8, true, "1/0", "seed-rule execution match; null = not scored (data error)"),
    col("ex_official", Int8, true, "1/0", "official test-suite `exec` match; null = not scored"),
    col("error", Utf8, true, "", "why the prediction failed, or `data error: ...`"),
    col("gen_ms", Float64, true, "ms", "generation time of this example (its share of its batch)"),
    col("order_matters", Boolean, true, "", "official mode compared row order (gold has ORDER BY)"),
    col("gold_rows", Int64, true, "rows", "rows returned by the gold query"),
    col("pred_rows", Int64, true, "rows", "rows returned by the prediction (null when it failed)"),
    col("exec_ms", Float64, true, "ms", "time spent executing and comparing both queries"),
];

/// The Arrow schema of `spider_predictions.parquet`.
pub fn spider_predictions_schema() -> Schema {
    Kind::SpiderPredictions.arrow_schema()
}

/// One row of `spider_predictions.parquet`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PredictionRow {
    pub run_id: Option<String>,
    pub id: i64,
    pub db_id: String,
    pub question: String,
    pub hardness: Option<String>,
    pub gold: String,
    pub predicted: String,
    pub raw: Option<String>,
    #[serde(with = "zero_one")]
    pub ex_seed: Option<bool>,
    #[serde(with = "zero_one")]
    pub ex_official: Option<bool>,
    pub error: Option<String>,
    pub gen_ms: Option<f64>,
    pub order_matters: Option<bool>,
    pub gold_rows: Option<i64>,
    pub pred_rows: Option<i64>,
    pub exec_ms: Option<f64>,
}

/// Verdicts are stored as 0/1 (so a mean is the accuracy); read back from 0/1 or true/false.
mod zero_one {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<bool>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_i8(i8::from(*b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        Ok(match Option::<serde_json::Value>::deserialize(d)? {
            Some(serde_json::Value::Bool(b)) => Some(b),
            Some(serde_json::Value::Number(n)) => n.as_f64().map(|x| x != 0.0),
            _ => None,
        })
    }
}

/// Write rows to Parquet (or JSONL when the path does not end in `.parquet`), atomically.
pub fn write_predictions(path: &Path, rows: &[PredictionRow]) -> Result<()> {
    write_rows(path, rows, &spider_predictions_schema())
}

/// Put one run's rows in the file (created if missing), replacing the earlier rows for which
/// `replaced` holds and keeping the rest: one file holds the predictions of the baseline and of each
/// adapter.
pub fn record_predictions(path: &Path, replaced: impl Fn(&PredictionRow) -> bool, rows: Vec<PredictionRow>) -> Result<()> {
    super::rows::upsert_rows(path, rows, replaced, Kind::SpiderPredictions)
}

/// Read rows written by [`write_predictions`] (or any file with those columns); the file must exist.
pub fn read_predictions(path: &Path) -> Result<Vec<PredictionRow>> {
    if !path.is_file() {
        bail!("predictions file not found: {}", path.display());
    }
    read_rows(path, Kind::SpiderPredictions)
}
