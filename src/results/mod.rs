//! Results as Arrow record batches and Parquet files: one schema per kind of file, defined once.
pub mod mmlu_answers;
pub mod predictions;
pub mod rows;
pub mod runs;
pub mod table;

pub use predictions::{read_predictions, spider_predictions_schema, write_predictions, PredictionRow, SPIDER_PREDICTIONS_FILE};
