//! Metrics in DeepEval's shape and Execution Accuracy.
//!
//! [`Metric`] mirrors DeepEval's `BaseMetric` (`name`, `threshold`, `measure` -> score, success,
//! reason) so the Python adapter in `tests/deepeval/` stays a thin wrapper around `sqlora score`.
pub mod accuracy;
pub mod batch;
pub mod cli;
pub mod compare;
pub mod exec;
pub mod exec_accuracy;
pub mod pool;
pub mod summary;
pub mod textfix;
pub mod value;

pub use accuracy::{score_pair, ExConfig, ExOutcome, Mode};
pub use exec_accuracy::ExecutionAccuracy;
pub use summary::{summarize, Summary};

/// DeepEval's `LLMTestCase`, the fields a text-to-SQL metric needs.
#[derive(Clone, Debug, Default)]
pub struct TestCase {
    /// The question.
    pub input: String,
    /// The model's answer (predicted SQL).
    pub actual_output: String,
    /// The reference answer (gold SQL).
    pub expected_output: Option<String>,
    /// The database the SQL runs on.
    pub db_id: Option<String>,
}

/// DeepEval's `score`, `success` and `reason` after `measure`.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricResult {
    pub score: f64,
    pub success: bool,
    pub reason: String,
}

/// DeepEval's `BaseMetric`.
pub trait Metric {
    fn name(&self) -> &str;
    /// `success` is `score >= threshold`.
    fn threshold(&self) -> f64;
    fn measure(&self, case: &TestCase) -> MetricResult;
}
