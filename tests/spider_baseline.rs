//! `sqlora baseline` end to end on the real model and databases, on a few dev questions: the outputs
//! (predictions Parquet with every column, a runs.parquet row) and resumption after an interruption —
//! no example generated twice, none lost, a torn checkpoint line regenerated.
mod mmlu_support;
mod spider_support;

use sqlora::results::predictions::read_predictions;
use sqlora::results::runs::read_runs;
use std::process::Command;

fn baseline(out: &std::path::Path, limit: usize) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_sqlora"))
        .args(["baseline", "--limit", &limit.to_string(), "--batch", "2", "--max-tokens", "48", "--out-dir"])
        .arg(out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "baseline failed:\n{text}");
    text
}

#[test]
fn baseline_writes_scored_predictions_and_resumes_without_repeating_work() {
    let _data = require_data!();
    let _model = require!(mmlu_support::model());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let first = baseline(out, 3);
    assert!(first.contains("3 to generate"), "{first}");
    let rows = read_predictions(&out.join("spider_predictions.parquet")).unwrap();
    assert_eq!(rows.len(), 3);
    for r in &rows {
        assert!(r.raw.is_some() && r.gen_ms.is_some() && r.hardness.is_some(), "{r:?}");
        // Every row is scored: a verdict in both modes, or a reason.
        assert!((r.ex_seed.is_some() && r.ex_official.is_some()) || r.error.is_some(), "{r:?}");
    }
    let runs = read_runs(&out.join("runs.parquet")).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!((runs[0].task.as_str(), runs[0].split.as_str(), runs[0].n), ("spider", "dev-subset-3", 3));

    // Interrupt: keep two finished lines and half of the third, then ask for five questions.
    let ckpt = out.join("spider_predictions.partial.SmolLM2-135M-Instruct.Q4_1.gguf_base_3shot.jsonl");
    let text = std::fs::read_to_string(&ckpt).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&ckpt, format!("{}\n{}\n{}", lines[0], lines[1], &lines[2][..lines[2].len() / 2])).unwrap();
    let second = baseline(out, 5);
    assert!(second.contains("2 already done") && second.contains("3 to generate"), "{second}");
    let again = read_predictions(&out.join("spider_predictions.parquet")).unwrap();
    let ids: Vec<i64> = again.iter().map(|r| r.id).collect();
    assert_eq!(ids, (0..5).collect::<Vec<i64>>(), "every question once, in dev order");
    // The two kept answers were not generated again.
    assert_eq!(again[0].raw, rows[0].raw);
    assert_eq!(again[0].gen_ms, rows[0].gen_ms);
    assert_eq!(again[1].gen_ms, rows[1].gen_ms);
    let runs = read_runs(&out.join("runs.parquet")).unwrap();
    assert!(runs.iter().any(|r| r.split == "dev-subset-5" && r.n == 5));
}

/// `--stratified N`: the same N dev questions every time, spread over hardness levels and databases
/// (the first N are a handful of databases), recorded as their own split.
#[test]
fn a_stratified_slice_spreads_over_hardness_and_databases() {
    let _data = require_data!();
    let _model = require!(mmlu_support::model());
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_sqlora"))
        .args(["baseline", "--stratified", "12", "--batch", "4", "--max-tokens", "8", "--out-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = read_predictions(&dir.path().join("spider_predictions.parquet")).unwrap();
    assert_eq!(rows.len(), 12);
    let dbs: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.db_id.as_str()).collect();
    let levels: std::collections::BTreeSet<&str> = rows.iter().filter_map(|r| r.hardness.as_deref()).collect();
    assert!(dbs.len() >= 8 && levels.len() == 4, "{dbs:?} {levels:?}");
    let first12: std::collections::BTreeSet<i64> = (0..12).collect();
    assert!(rows.iter().any(|r| !first12.contains(&r.id)), "not the first 12");
    let runs = read_runs(&dir.path().join("runs.parquet")).unwrap();
    assert_eq!(runs[0].split, "dev-strat-12");
    let o = Command::new(env!("CARGO_BIN_EXE_sqlora")).args(["baseline", "--stratified", "5", "--limit", "5"]).output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("cannot be used with"), "conflicting flags refused");
}
