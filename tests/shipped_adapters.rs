//! The adapters `models/` ships — the study's headline adapter and its best sweep setting, each as
//! `sqlora export` writes it (f16 PEFT files and adapter.gguf with the run's record), the very form
//! the study evaluated — reproduce the study's committed predictions: greedy decoding is
//! deterministic, so the same adapter on the same questions writes the same SQL; and the two files
//! of each hold the same weights.
mod mmlu_support;
mod spider_support;

use sqlora::results::predictions::{read_predictions, SPIDER_PREDICTIONS_FILE};
use sqlora_kernel::lora::{load_gguf, Adapter};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Questions of dev's fixed stratified slice each adapter answers again.
const SLICE: usize = 8;

fn shipped() -> Vec<PathBuf> {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&models)
        .unwrap_or_else(|e| panic!("{}: {e}", models.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("adapter_model.safetensors").is_file())
        .collect();
    out.sort();
    out
}

#[test]
fn each_shipped_adapter_reproduces_its_committed_predictions_on_a_slice_of_dev() {
    let data = require_data!();
    let model = require!(mmlu_support::model());
    let dirs = shipped();
    assert!(!dirs.is_empty(), "models/ ships no adapter");
    let study = Path::new(env!("CARGO_MANIFEST_DIR")).join("study");
    let committed = read_predictions(&study.join(SPIDER_PREDICTIONS_FILE)).unwrap();
    let cfg = sqlora_kernel::loader::ModelSource::open(&model).unwrap().config().unwrap();
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        // Its two files hold one adapter.
        let (peft, gguf) = (Adapter::load(&dir).unwrap(), load_gguf(&dir.join("adapter.gguf"), &cfg).unwrap());
        assert_eq!((peft.r, peft.scale), (gguf.r, gguf.scale), "{name}");
        assert!(peft.modules == gguf.modules, "{name}: adapter.gguf holds other weights than the PEFT files");
        // The study's whole-dev run of it in its training format.
        let theirs: HashMap<i64, &str> = committed
            .iter()
            .filter(|r| r.run_id.as_deref().is_some_and(|id| id.starts_with("spider/dev@0shot/") && id.ends_with(&format!("/{name}"))))
            .map(|r| (r.id, r.predicted.as_str()))
            .collect();
        assert_eq!(theirs.len(), 1034, "{name}: the study's whole-dev run in the training format");
        let tmp = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_sqlora"))
            .args(["evaluate", "--adapter"])
            .arg(&dir)
            .args(["--prompt", "0shot", "--stratified", &SLICE.to_string(), "--data-dir"])
            .arg(&data)
            .arg("--out-dir")
            .arg(tmp.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let ours = read_predictions(&tmp.path().join(SPIDER_PREDICTIONS_FILE)).unwrap();
        assert_eq!(ours.len(), SLICE);
        for r in &ours {
            assert_eq!(r.predicted, theirs[&r.id], "{name}, question {}: not the committed prediction", r.id);
        }
        println!("{name}: {SLICE} questions of dev's stratified slice, each the committed SQL");
    }
}
