//! `mmlu_answers.parquet`: one row per scored MMLU question per (model, adapter, split), written by
//! `sqlora mmlu` and read by `sqlora report`. This is the one definition of that file's columns.
//!
//! | column        | type    | null | meaning                                                          |
//! |---------------|---------|------|------------------------------------------------------------------|
//! | model         | Utf8    | no   | base model file or directory name                                |
//! | adapter       | Utf8    | yes  | adapter directory name; null = the base model alone              |
//! | split         | Utf8    | no   | `sample150` (the frozen test sample), `test` or `val`            |
//! | subject       | Utf8    | no   | MMLU subject (file name stem)                                    |
//! | category      | Utf8    | no   | STEM / Humanities / Social Sciences / Other (original mapping)   |
//! | row           | Int64   | no   | 0-based record index in `<subject>_<test or val>.csv`            |
//! | logit_a..d    | Float32 | no   | next-token logits of " A", " B", " C", " D" after "Answer:"      |
//! | p_gold        | Float64 | no   | softmax over the four logits, at the gold letter                 |
//! | predicted     | Utf8    | no   | argmax letter (the first on ties)                                |
//! | gold          | Utf8    | no   | gold letter                                                      |
//! | correct       | Boolean | no   | predicted == gold                                                |
//! | n_shots       | Int8    | no   | shots in the prompt (4 unless the context forced fewer)          |
//! | prompt_tokens | Int32   | no   | prompt length in tokens                                          |
use super::rows::{read_rows, upsert_rows};
use anyhow::Result;
use arrow::datatypes::{DataType, Field, Schema};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const MMLU_ANSWERS_FILE: &str = "mmlu_answers.parquet";

/// The Arrow schema of `mmlu_answers.parquet`.
pub fn mmlu_answers_schema() -> Schema {
    let f = |name: &str, dt: DataType, nullable: bool| Field::new(name, dt, nullable);
    Schema::new(vec![
        f("model", DataType::Utf8, false),
        f("adapter", DataType::Utf8, true),
        f("split", DataType::Utf8, false),
        f("subject", DataType::Utf8, false),
        f("category", DataType::Utf8, false),
        f("row", DataType::Int64, false),
        f("logit_a", DataType::Float32, false),
        f("logit_b", DataType::Float32, false),
        f("logit_c", DataType::Float32, false),
        f("logit_d", DataType::Float32, false),
        f("p_gold", DataType::Float64, false),
        f("predicted", DataType::Utf8, false),
        f("gold", DataType::Utf8, false),
        f("correct", DataType::Boolean, false),
        f("n_shots", DataType::Int8, false),
        f("prompt_tokens", DataType::Int32, false),
    ])
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
    read_rows(path)
}

/// Put one run's answers in the file, replacing that run's earlier answers.
pub fn record_answers(path: &Path, model: &str, adapter: Option<&str>, split: &str, rows: Vec<AnswerRow>) -> Result<()> {
    upsert_rows(path, rows, |r: &AnswerRow| r.same_run(model, adapter, split), &mmlu_answers_schema())
}
