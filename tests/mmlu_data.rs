//! The MMLU data loads completely, and the committed 150-question sample is exactly the seeded
//! stratified draw (so it can be audited and, if ever lost, rebuilt).
//! `SQLORA_WRITE_SAMPLE=1` makes the second test (re)write data/mmlu/sample150.tsv instead.
mod mmlu_support;

use sqlora::mmlu::dataset::{load_split, verify, Split};
use sqlora::mmlu::{sample, Categories, CATEGORIES};

#[test]
fn loads_every_split_with_expected_counts_and_manifest() {
    let dir = require!(mmlu_support::data_dir());
    verify(&dir).unwrap();
    let cats = Categories::original();
    for split in [Split::Dev, Split::Val, Split::Test] {
        let qs = load_split(&dir, &cats, split).unwrap();
        assert_eq!(qs.len(), split.expected_len());
        assert!(qs.iter().all(|q| !q.question.is_empty()));
    }
    let dev = load_split(&dir, &cats, Split::Dev).unwrap();
    assert!(cats.subjects().all(|s| dev.iter().filter(|q| q.subject == s).count() == 5));
}

#[test]
fn frozen_sample_is_the_seeded_stratified_draw() {
    let dir = require!(mmlu_support::data_dir());
    let cats = Categories::original();
    let test = load_split(&dir, &cats, Split::Test).unwrap();
    let drawn = sample::draw(&test, &cats, sample::SEED, sample::PER_CATEGORY).unwrap();
    let text = sample::render(&drawn);
    if std::env::var("SQLORA_WRITE_SAMPLE").is_ok_and(|v| v == "1") {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mmlu/sample150.tsv");
        std::fs::write(&p, &text).unwrap();
        eprintln!("wrote {}", p.display());
        return;
    }
    assert_eq!(sample::SAMPLE150_TSV, text, "data/mmlu/sample150.tsv is not the draw (seed {})", sample::SEED);
    let keys = sample::sample150();
    assert_eq!(keys.len(), 150);
    let qs = sample::select(&test, &keys).unwrap();
    let per_cat = CATEGORIES.map(|c| qs.iter().filter(|q| cats.category(&q.subject) == Some(c)).count());
    assert_eq!(per_cat, sample::PER_CATEGORY);
}
