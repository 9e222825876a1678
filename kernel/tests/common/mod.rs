//! Shared by the engine's integration tests: where fixtures and the real model are.
#![allow(dead_code)]
use std::path::PathBuf;

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

/// The SmolLM2 GGUF: `$SQLORA_MODEL`, else `$SQLORA_HOME/models/…`, else `~/.cache/sqlora/models/…`.
/// Missing: a failure under CI=true (CI fetches it with `sqlora setup`), a printed skip elsewhere.
pub fn smollm2() -> Option<PathBuf> {
    let name = "SmolLM2-135M-Instruct.Q4_1.gguf";
    let mut candidates = Vec::new();
    if let Some(p) = std::env::var_os("SQLORA_MODEL") {
        candidates.push(PathBuf::from(p));
    }
    if let Some(h) = std::env::var_os("SQLORA_HOME") {
        candidates.push(PathBuf::from(h).join("models").join(name));
    }
    if let Some(h) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(h).join(".cache/sqlora/models").join(name));
    }
    if let Some(p) = candidates.into_iter().find(|p| p.exists()) {
        return Some(p);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true and the SmolLM2 GGUF is missing: run `sqlora setup` first");
    }
    eprintln!("SKIPPED: SmolLM2 GGUF not found (run `sqlora setup`, or set SQLORA_MODEL)");
    None
}
