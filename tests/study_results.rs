//! The committed study (`study/`, written by scripts/study.sh): every results file reads under the
//! current schema, and report.md with its charts is exactly what the current `sqlora report`
//! regenerates from the committed files — so the study a reader sees is the code's reading of its
//! data, not a hand-edited copy.
use sqlora::results::mmlu_answers::{read_answers, MMLU_ANSWERS_FILE};
use sqlora::results::predictions::{read_predictions, SPIDER_PREDICTIONS_FILE};
use sqlora::results::runs::{read_runs, RUNS_FILE};
use sqlora::results::train_log::{read_train_log, TRAIN_LOG_FILE};
use std::path::{Path, PathBuf};
use std::process::Command;

fn study() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("study")
}

/// The files the report reads (and the step markers it sums), copied alone into `to`.
fn copy_inputs(from: &Path, to: &Path) {
    for f in [RUNS_FILE, SPIDER_PREDICTIONS_FILE, MMLU_ANSWERS_FILE, TRAIN_LOG_FILE] {
        if from.join(f).is_file() {
            std::fs::copy(from.join(f), to.join(f)).unwrap();
        }
    }
    let steps = from.join("steps");
    if steps.is_dir() {
        std::fs::create_dir(to.join("steps")).unwrap();
        for e in std::fs::read_dir(&steps).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(&p, to.join("steps").join(p.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn the_committed_study_reads_under_the_current_schema() {
    let dir = study();
    assert!(dir.join("report.md").is_file(), "{} holds no report.md: the study's results are committed there", dir.display());
    let runs = read_runs(&dir.join(RUNS_FILE)).unwrap();
    let preds = read_predictions(&dir.join(SPIDER_PREDICTIONS_FILE)).unwrap();
    let answers = read_answers(&dir.join(MMLU_ANSWERS_FILE)).unwrap();
    let log = read_train_log(&dir.join(TRAIN_LOG_FILE)).unwrap_or_default();
    // Every Spider and MMLU run in runs.parquet has its rows in the row-level files.
    for r in &runs {
        let rows = match r.task.as_str() {
            "spider" => preds.iter().filter(|p| p.run_id.as_deref() == Some(&r.run_id)).count(),
            "mmlu" => answers.iter().filter(|a| a.same_run(&r.model, r.adapter.as_deref(), &r.split)).count(),
            "train" => log.iter().filter(|l| l.run_id == r.run_id).count().max(1),
            _ => 1,
        };
        assert!(rows > 0, "{}: no rows behind this run", r.run_id);
        if r.task != "train" {
            assert_eq!(rows as i64, r.n, "{}: n says {} rows", r.run_id, r.n);
        }
    }
    assert!(runs.iter().any(|r| r.task == "spider" && r.split == "dev" && r.adapter.is_none()), "the base on the whole dev split");
    // The viewer reads the folder as `sqlora view --results study` serves it.
    let folder = sqlora::viewer::listing::read_folder(&dir).unwrap();
    assert_eq!(folder.predictions.len(), preds.len());
}

#[test]
fn the_committed_report_is_what_sqlora_report_makes_of_the_committed_results() {
    let dir = study();
    let tmp = tempfile::tempdir().unwrap();
    copy_inputs(&dir, tmp.path());
    // Run from the copy, so adapter folders named by relative paths in the results (the study's
    // run folders, not committed) are not there to be gathered again.
    let out = Command::new(env!("CARGO_BIN_EXE_sqlora"))
        .args(["report", "--split", "val", "--out-dir", "."])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut made: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md") || n.ends_with(".svg"))
        .collect();
    made.sort();
    assert!(made.contains(&"report.md".to_string()), "{made:?}");
    for name in &made {
        let (new, old) = (std::fs::read_to_string(tmp.path().join(name)).unwrap(), std::fs::read_to_string(dir.join(name)));
        let old = old.unwrap_or_else(|e| panic!("study/{name} is made by the report but not committed: {e}"));
        assert!(new == old, "study/{name} differs from what `sqlora report --split val --out-dir study` makes now: rerun it and commit");
    }
}
