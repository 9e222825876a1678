//! The notebooks' library calls, phase by phase, at the CI size on the real model and data: what each
//! cell of `notebooks/fase-0N.ipynb` shows, checked here as plain Rust (the notebooks themselves run
//! under Jupyter in `notebooks/execute.py`).
mod mmlu_support;
mod spider_support;

use sqlora::notebook::{Notebook, Size};

#[test]
fn the_four_phases_run_and_show_their_results() {
    let _data = require_data!();
    let _model = require!(mmlu_support::model());
    let tmp = tempfile::tempdir().unwrap();
    // SAFETY: set before any thread of this test reads the environment; the only test in this file.
    unsafe {
        std::env::set_var("SQLORA_NOTEBOOK_RESULTS", tmp.path());
        std::env::set_var("SQLORA_BIN", env!("CARGO_BIN_EXE_sqlora"));
    }
    let mut size = Size::of(false, true);
    size.dev_questions = Some(4);
    size.mmlu_questions = Some(4);
    let nb = Notebook::with_size(false, "cpu", size).unwrap();
    assert!(Notebook::with_size(false, "tpu", Size::of(false, true)).unwrap_err().to_string().contains("unknown device \"tpu\""));
    // `cuda` is the binary's to check (built with the feature), so a plain library accepts it.
    assert!(Notebook::with_size(false, "cuda", Size::of(false, true)).unwrap().describe().contains("on cuda"));

    // 01: the prompt, the baseline, its summary and failures.
    let p = nb.prompt(0).unwrap();
    assert!(p.plain.contains("-- Question: How many singers do we have?\n-- SQL:"), "{}", p.plain);
    assert!(p.html.contains("<pre") && !p.html.contains("<script"));
    nb.baseline("3shot").unwrap();
    let s = nb.spider_summary().unwrap();
    assert!(s.plain.contains("base, 3-shot") && s.plain.contains("EX official by hardness"), "{}", s.plain);
    assert!(s.html.contains("<table>"));
    nb.failures(None, "3shot", 3).unwrap();

    // 02: the sweep at two steps a setting, its curves.
    assert!(nb.evaluate_all().unwrap_err().to_string().contains("run fase-02"), "phase 3 before 2 says so");
    let curves = nb.sweep().unwrap();
    assert!(curves.html.starts_with("<svg") && curves.html.contains("class=\"curve\""), "{}", curves.html);
    assert_eq!(nb.adapter_names().unwrap(), vec!["r16-all", "r16-attn"]);
    // The study's committed runs: the runs table, the committed adapters' loss curves once any
    // trained adapter is committed, and what models/ ships (or that it ships nothing yet).
    let study = nb.study().unwrap();
    assert!(study.html.contains("<table"), "{}", study.plain);
    let committed_training = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("study/train_log.parquet").is_file();
    assert_eq!(study.html.contains("<svg"), committed_training, "{}", study.plain);
    assert!(study.plain.contains("models/"), "{}", study.plain);

    // 03: every arm with both prompts; tables; fixed and broken with results.
    nb.evaluate_all().unwrap();
    let runs = nb.spider_runs().unwrap();
    assert_eq!(runs.len(), 6, "base and two adapters, two prompts each: {:?}", runs.keys().collect::<Vec<_>>());
    assert!(runs.values().all(|r| r.len() == 4));
    let db = nb.by_database(5).unwrap();
    assert!(db.plain.contains("r16-attn, training format"), "{}", db.plain);
    let fb = nb.fixed_and_broken("r16-all", "0shot", 2).unwrap();
    assert!(fb.plain.contains("fixed and") && fb.plain.contains("broken in all, of 4 answered by both"), "{}", fb.plain);

    // 04: MMLU for the base and both adapters, the regression table with its charts.
    nb.mmlu(&nb.adapters_or_hint().unwrap()).unwrap();
    let r = nb.mmlu_regression().unwrap();
    assert!(r.plain.contains("r16-all") && r.plain.contains("r16-attn") && r.plain.contains("Overall"), "{}", r.plain);
    assert_eq!(r.html.matches("<svg").count(), 2, "the category chart and the change chart");
}
