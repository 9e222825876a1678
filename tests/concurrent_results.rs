//! Several runs writing into one results folder at once (two notebooks open, a sweep evaluated in
//! parallel): every file stays readable, every run's rows are there once, no temporary file is left,
//! and two identical baselines started together generate each answer once.
mod mmlu_support;
mod spider_support;

use sqlora::results::runs::{read_runs, record_runs, RunRow};
use std::path::Path;
use std::process::Command;

fn row(run: &str) -> RunRow {
    RunRow {
        run_id: run.into(),
        task: "spider".into(),
        split: "dev".into(),
        model: "m".into(),
        adapter: None,
        metric: "ex".into(),
        score: 0.5,
        n: 1,
        metrics: None,
        settings: Some("{}".into()),
        finished_unix: None,
        wall_s: None,
        per_s: None,
        sqlora_version: None,
    }
}

/// What one writer does: `rounds` upserts of its own run ids (each rewriting the whole file).
fn write_runs(dir: &Path, writer: &str, rounds: usize) {
    for r in 0..rounds {
        record_runs(&dir.join("runs.parquet"), vec![row(&format!("{writer}-{r}"))]).unwrap();
    }
}

fn check_folder(dir: &Path, writers: &[String], rounds: usize) {
    let runs = read_runs(&dir.join("runs.parquet")).expect("runs.parquet readable after concurrent writers");
    let mut ids: Vec<String> = runs.iter().map(|r| r.run_id.clone()).collect();
    ids.sort();
    let mut want: Vec<String> = writers.iter().flat_map(|w| (0..rounds).map(move |r| format!("{w}-{r}"))).collect();
    want.sort();
    assert_eq!(ids, want, "every writer's rows, each once");
    let leftovers: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

/// Threads of one process, many times over.
#[test]
fn concurrent_writer_threads_keep_every_row_once() {
    for attempt in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let writers: Vec<String> = (0..6).map(|w| format!("t{w}")).collect();
        std::thread::scope(|s| {
            for w in &writers {
                let d = dir.path();
                s.spawn(move || write_runs(d, w, 4));
            }
        });
        check_folder(dir.path(), &writers, 4);
        if attempt == 0 {
            println!("6 threads × 4 upserts into one runs.parquet: every row once, 20 times over");
        }
    }
}

/// Separate processes (this test binary, started again as a writer), many times over.
#[test]
fn concurrent_writer_processes_keep_every_row_once() {
    if let Ok(spec) = std::env::var("SQLORA_TEST_WRITER") {
        // The child: "DIR|NAME|ROUNDS".
        let parts: Vec<&str> = spec.split('|').collect();
        write_runs(Path::new(parts[0]), parts[1], parts[2].parse().unwrap());
        return;
    }
    let exe = std::env::current_exe().unwrap();
    for _ in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let writers: Vec<String> = (0..5).map(|w| format!("p{w}")).collect();
        let children: Vec<_> = writers
            .iter()
            .map(|w| {
                Command::new(&exe)
                    .args(["--exact", "concurrent_writer_processes_keep_every_row_once", "--nocapture"])
                    .env("SQLORA_TEST_WRITER", format!("{}|{w}|3", dir.path().display()))
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut c in children {
            assert!(c.wait().unwrap().success(), "a writer process failed");
        }
        check_folder(dir.path(), &writers, 3);
    }
}

/// Two identical baselines started together: one generates, the other waits and then finds every
/// answer in the checkpoint; the checkpoint holds each question once and both runs succeed.
#[test]
fn identical_baselines_started_together_generate_each_answer_once() {
    let _data = require_data!();
    let _model = require!(mmlu_support::model());
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_sqlora"))
            .args(["baseline", "--limit", "3", "--batch", "3", "--max-tokens", "24", "--out-dir"])
            .arg(dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (run(), run());
    let outs: Vec<String> = [a, b]
        .into_iter()
        .map(|c| {
            let o = c.wait_with_output().unwrap();
            let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
            assert!(o.status.success(), "baseline failed:\n{text}");
            text
        })
        .collect();
    let generated = outs.iter().filter(|t| t.contains("generated 3 answers")).count();
    assert_eq!(generated, 1, "exactly one run generates:\n{}\n---\n{}", outs[0], outs[1]);
    assert!(outs.iter().any(|t| t.contains("waiting for it") && t.contains("3 already done")), "the other waited and reused them");
    let ckpt = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("spider_predictions.partial"))
        .expect("the run's checkpoint");
    let ids: Vec<i64> = std::fs::read_to_string(&ckpt)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?["id"].as_i64())
        .collect();
    assert_eq!(ids, vec![0, 1, 2], "each question once in the checkpoint");
    let preds = sqlora::results::predictions::read_predictions(&dir.path().join("spider_predictions.parquet")).unwrap();
    assert_eq!(preds.len(), 3);
}
