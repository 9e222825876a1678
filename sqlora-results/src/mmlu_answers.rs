//! `mmlu_answers.parquet`: one row per scored MMLU question per (model, adapter, split), written by
//! `sqlora mmlu` and read by `sqlora report`. This is the one definition of that file's columns.
//!
//! The columns are in [`COLUMNS`] (and `sqlora-results/SCHEMA.md`).
use super::rows::{read_rows, upsert_rows};
use super::schema::{col, Column, Kind, Ty::*};
use anyhow::Result;
use arrow_schema::Schema;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const MMLU_ANSWERS_FILE: &str = "mmlu_answers.parquet";

/// The four values of the `category` column, in report order (the original MMLU mapping).
pub const CATEGORIES: [&str; 4] = ["STEM", "Humanities", "Social Sciences", "Other"];

pub const COLUMNS: &[Column] = &[
    col("model", Utf8, false, "", "base model file or directory name"),
    col("adapter", Utf8, true, "", "adapter directory name; null = the base model alone"),
    col("split", Utf8, false, "", "`sample150` (the frozen test sample), `test` or `val`"),
    col("subject", Utf8, false, "", "MMLU subject (file name stem)"),
    col("category", Utf8, false, "", "STEM / Humanities / Social Sciences / Other (original mapping)"),
    col("row", Int64, false, "", "0-based record index in `<subject>_<test or val>.csv`"),
    col("logit_a", Float32, false, "logit", "next-token logit of \" A\" after \"Answer:\""),
    col("logit_b", Float32, false, "logit", "next-token logit of \" B\""),
    col("logit_c", Float32, false, "logit", "next-token logit of \" C\""),
    col("logit_d", Float32, false, "logit", "next-token logit of \" D\""),
    col("p_gold", Float64, false, "probability 0..1", "softmax over the four logits, at the gold letter"),
    col("predicted", Utf8, false, "", "argmax letter (the first on ties)"),
    col("gold", Utf8, false, "", "gold letter"),
    col("correct", Boolean, false, "", "predicted == gold"),
    col("n_shots", Int8, false, "shots", "shots in the prompt (4 unless the context forced fewer)"),
    col("prompt_tokens", Int32, false, "tokens", "prompt length in tokens"),
];

/// The Arrow schema of `mmlu_answers.parquet`.
pub fn mmlu_answers_schema() -> Schema {
    Kind::MmluAnswers.arrow_schema()
}

/// One row of `mmlu_answers.parquet` (also one line of a run's JSONL checkpoint).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnswerRow {
    pub model: String,
    pub adapter: Option<String>,
    pub split: String,
    pub subject: String,
    pub category: String,
    pub row: i64,
    pub logit_a: f32,
    pub logit_b: f32,
    pub logit_c: f32,
    pub logit_d: f32,
    pub p_gold: f64,
    pub predicted: String,
    pub gold: String,
    pub correct: bool,
    pub n_shots: i64,
    pub prompt_tokens: i64,
}

impl AnswerRow {
    pub fn logits(&self) -> [f32; 4] {
        [self.logit_a, self.logit_b, self.logit_c, self.logit_d]
    }

    /// Same run: model, adapter and split.
    pub fn same_run(&self, model: &str, adapter: Option<&str>, split: &str) -> bool {
        self.model == model && self.adapter.as_deref() == adapter && self.split == split
    }
}

pub fn read_answers(path: &Path) -> Result<Vec<AnswerRow>> {
    read_rows(path, Kind::MmluAnswers)
}

/// Put one run's answers in the file, replacing that run's earlier answers.
pub fn record_answers(path: &Path, model: &str, adapter: Option<&str>, split: &str, rows: Vec<AnswerRow>) -> Result<()> {
    upsert_rows(path, rows, |r: &AnswerRow| r.same_run(model, adapter, split), Kind::MmluAnswers)
}
