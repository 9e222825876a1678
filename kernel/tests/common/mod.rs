//! Shared by the engine's integration tests: where fixtures and the real model are.
#![allow(dead_code)]
use std::path::PathBuf;

pub mod agreement;
pub mod backends;
pub mod train_batch;

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

static ISA_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Keeps the process-wide ISA level from being switched by another test of the same binary while held.
pub fn hold_isa() -> std::sync::MutexGuard<'static, ()> {
    ISA_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` once per ISA level this CPU supports (`SQLORA_ISA` levels, best first), each with every
/// kernel switched to it, and prints which levels ran and which this CPU cannot run. The level is one
/// process-wide setting: callers in the same test binary take turns through a lock.
pub fn for_each_isa(mut f: impl FnMut(sqlora_kernel::cpu::isa::Isa)) {
    use sqlora_kernel::cpu::isa::{self, Isa};
    let _guard = hold_isa();
    let before = isa::current();
    let mut levels = isa::supported();
    // SQLORA_TEST_ISA_LEVELS=best limits a slow test to the best level (CI's emulated aarch64 run,
    // where the lower levels' kernels are checked by the fast tests).
    if std::env::var("SQLORA_TEST_ISA_LEVELS").is_ok_and(|v| v == "best") {
        levels.truncate(1);
    }
    for &level in &levels {
        isa::set(level).unwrap();
        eprintln!("-- ISA {level} ({})", level.describe());
        f(level);
    }
    let skipped: Vec<&str> = Isa::ALL.iter().filter(|i| !levels.contains(i)).map(|i| i.name()).collect();
    eprintln!("ISA levels tested: {levels:?}; not on this CPU (not tested here): {skipped:?}");
    isa::set(before).unwrap();
}
