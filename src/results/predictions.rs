//! `spider_predictions.parquet`: one row per Spider example with the model's prediction and its
//! execution-accuracy verdicts. This is the one definition of that file's columns; the baseline
//! writes it, `sqlora score` reads and extends it, the viewer and notebooks read it.
//!
//! | column        | type    | null | meaning                                                        |
//! |---------------|---------|------|----------------------------------------------------------------|
//! | id            | Int64   | no   | index of the example in its split file (dev.json order)        |
//! | db_id         | Utf8    | no   | Spider database                                                |
//! | question      | Utf8    | no   | natural-language question                                      |
//! | hardness      | Utf8    | yes  | easy / medium / hard / extra (official rules, from the gold)   |
//! | gold          | Utf8    | no   | gold SQL                                                       |
//! | predicted     | Utf8    | no   | SQL extracted from the model output ("" when none)             |
//! | raw           | Utf8    | yes  | the model's raw generated text                                 |
//! | ex_seed       | Int8    | yes  | 1/0 seed-rule execution match; null = not scored (data error)  |
//! | ex_official   | Int8    | yes  | 1/0 official test-suite `exec` match; null = not scored        |
//! | error         | Utf8    | yes  | why the prediction failed, or `data error: ...`                |
//! | gen_ms        | Float64 | yes  | generation time of this example                                |
//! | order_matters | Boolean | yes  | official mode compared row order (gold has ORDER BY)           |
//! | gold_rows     | Int64   | yes  | rows returned by the gold query                                |
//! | pred_rows     | Int64   | yes  | rows returned by the prediction (null when it failed)          |
//! | exec_ms       | Float64 | yes  | time spent executing and comparing both queries                |
use super::rows::{read_rows, write_rows};
use anyhow::{bail, Result};
use arrow::datatypes::{DataType, Field, Schema};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const SPIDER_PREDICTIONS_FILE: &str = "spider_predictions.parquet";

/// The Arrow schema of `spider_predictions.parquet`.
pub fn spider_predictions_schema() -> Schema {
    let f = |name: &str, dt: DataType, nullable: bool| Field::new(name, dt, nullable);
    Schema::new(vec![
        f("id", DataType::Int64, false),
        f("db_id", DataType::Utf8, false),
        f("question", DataType::Utf8, false),
        f("hardness", DataType::Utf8, true),
        f("gold", DataType::Utf8, false),
        f("predicted", DataType::Utf8, false),
        f("raw", DataType::Utf8, true),
        f("ex_seed", DataType::Int8, true),
        f("ex_official", DataType::Int8, true),
        f("error", DataType::Utf8, true),
        f("gen_ms", DataType::Float64, true),
        f("order_matters", DataType::Boolean, true),
        f("gold_rows", DataType::Int64, true),
        f("pred_rows", DataType::Int64, true),
        f("exec_ms", DataType::Float64, true),
    ])
}

/// One row of `spider_predictions.parquet`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PredictionRow {
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

/// Read rows written by [`write_predictions`] (or any file with those columns); the file must exist.
pub fn read_predictions(path: &Path) -> Result<Vec<PredictionRow>> {
    if !path.is_file() {
        bail!("predictions file not found: {}", path.display());
    }
    read_rows(path)
}
