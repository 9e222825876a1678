//! [`ExecutionAccuracy`]: the [`Metric`] over one test case, scoring in one chosen mode and giving
//! both verdicts in the reason.
use super::accuracy::{score_pair, ExConfig, ExOutcome, Mode};
use super::pool::with_db;
use super::{Metric, MetricResult, TestCase};
use crate::spider::dataset::is_db_id;
use crate::spider::db_path;
use std::path::PathBuf;

pub struct ExecutionAccuracy {
    /// The data directory (holding `spider/database/`).
    pub data_dir: PathBuf,
    /// Which verdict becomes the score.
    pub mode: Mode,
    pub config: ExConfig,
}

impl ExecutionAccuracy {
    pub fn new(data_dir: PathBuf, mode: Mode) -> ExecutionAccuracy {
        ExecutionAccuracy { data_dir, mode, config: ExConfig::default() }
    }

    /// Both verdicts and the details for one case.
    pub fn outcome(&self, case: &TestCase) -> ExOutcome {
        let (Some(db_id), Some(gold)) = (case.db_id.as_deref(), case.expected_output.as_deref()) else {
            return ExOutcome::data_error("test case needs db_id and expected_output (gold SQL)");
        };
        score_db(&self.data_dir, db_id, gold, &case.actual_output, &self.config)
    }
}

/// Score one pair on the database named `db_id` under `data_dir`; an unknown db_id is a data error.
pub fn score_db(data_dir: &std::path::Path, db_id: &str, gold: &str, pred: &str, cfg: &ExConfig) -> ExOutcome {
    if !is_db_id(db_id) {
        return ExOutcome::data_error(format!("db_id {db_id:?} is not a Spider database name (letters, digits, _)"));
    }
    let path = db_path(data_dir, db_id);
    match with_db(&path, |db| score_pair(db, gold, pred, cfg)) {
        Ok(out) => out,
        Err(e) => ExOutcome::data_error(format!("unknown db_id {db_id:?}: {e}")),
    }
}

impl Metric for ExecutionAccuracy {
    fn name(&self) -> &str {
        "Execution Accuracy"
    }

    fn threshold(&self) -> f64 {
        1.0
    }

    fn measure(&self, case: &TestCase) -> MetricResult {
        let out = self.outcome(case);
        let score = if out.ex(self.mode) == Some(true) { 1.0 } else { 0.0 };
        MetricResult { score, success: score >= self.threshold(), reason: reason(&out) }
    }
}

/// A sentence a person can act on: both verdicts, and why when it is not a match.
pub fn reason(out: &ExOutcome) -> String {
    if let Some(e) = &out.data_error {
        return format!("not scored, data error: {e}");
    }
    let verdict = |b: Option<bool>| if b == Some(true) { "match" } else { "no match" };
    let mut s = format!(
        "seed: {}, official: {} (row order {})",
        verdict(out.ex_seed),
        verdict(out.ex_official),
        if out.order_matters { "compared, gold has ORDER BY" } else { "ignored" }
    );
    match (&out.pred_error, out.gold_rows, out.pred_rows) {
        (Some(e), _, _) => s.push_str(&format!("; prediction failed: {e}")),
        (None, Some(g), Some(p)) => s.push_str(&format!("; gold {g} rows, prediction {p} rows")),
        _ => {}
    }
    s
}
