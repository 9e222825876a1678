//! `SQLORA_ISA` with a bad value stops `sqlora` before any work, with a message naming the problem
//! (a benchmark or a run must not quietly measure some other instruction set).
use std::process::Command;

fn sqlora_with_isa(v: &str) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sqlora"))
        .args(["report", "--out-dir", "/nonexistent-sqlora-dir"])
        .env("SQLORA_ISA", v)
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn unknown_or_foreign_isa_is_a_clear_error() {
    let (code, err) = sqlora_with_isa("sse9");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("SQLORA_ISA=sse9: unknown level"), "{err}");
    // A level of the other architecture is not a cap but a mistake.
    let foreign = if cfg!(target_arch = "x86_64") { "neon" } else { "avx2" };
    let (code, err) = sqlora_with_isa(foreign);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not available on this CPU (it supports:"), "{err}");
    // A valid level passes the check (the command then fails on its own missing folder).
    let (code, err) = sqlora_with_isa("scalar");
    assert_ne!(code, Some(2), "{err}");
    assert!(!err.contains("SQLORA_ISA"), "{err}");
}
