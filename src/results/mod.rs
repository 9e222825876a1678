//! Results as Arrow record batches and Parquet files. The layer itself is the `sqlora-results` crate
//! (`sqlora-results/`), shared with the wasm viewer so that each schema is defined once; this module is its
//! place in the task layer's namespace.
pub use sqlora_results::{check, kernels, mmlu_answers, predictions, rows, runs, schema, table, train_log};

pub use predictions::{read_predictions, spider_predictions_schema, write_predictions, PredictionRow, SPIDER_PREDICTIONS_FILE};
