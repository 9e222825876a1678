//! Shared by the MMLU integration tests: the data directory and the model, or what to do without
//! them (under CI=true a missing one fails the test; locally the test prints why and skips).
#![allow(dead_code)]
use std::path::PathBuf;

fn missing(what: &str, why: String) -> Option<PathBuf> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true and the {what} is missing: {why}");
    }
    eprintln!("SKIPPED: {what} not found ({why})");
    None
}

/// The data directory holding mmlu/, or None (after printing why) outside CI.
pub fn data_dir() -> Option<PathBuf> {
    match sqlora::datadir::resolve(None) {
        Ok(d) if d.join("mmlu/categories.tsv").is_file() => Some(d),
        Ok(d) => missing("MMLU data", format!("{} has no mmlu/categories.tsv", d.display())),
        Err(e) => missing("MMLU data", format!("{e:#}")),
    }
}

/// The default model (SmolLM2-135M-Instruct Q4_1 GGUF), or None outside CI.
pub fn model() -> Option<PathBuf> {
    sqlora::assets::resolve_model(None).map_or_else(|e| missing("model", format!("{e:#}")), Some)
}

/// Return early from the calling test when `$e` (an Option) is None.
#[macro_export]
macro_rules! require {
    ($e:expr) => {
        match $e {
            Some(v) => v,
            None => return,
        }
    };
}
