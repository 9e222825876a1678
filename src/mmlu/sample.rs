//! The frozen 150-question sample of the MMLU test split, so every model and adapter is scored on
//! exactly the same questions. Drawn once by [`draw`] and committed as `data/mmlu/sample150.tsv`;
//! the harness reads the committed file, and a test checks that the draw still gives it.
//!
//! Method: stratified by category with equal allocation (38 STEM, 38 Humanities, 37 Social
//! Sciences, 37 Other: about ±14 points of 95% interval per category at 25% accuracy, where
//! proportional allocation would give STEM 32 questions and ±15); within a category, simple random sampling
//! without replacement over all its test questions (subjects in name order, rows in file order), by
//! a partial Fisher–Yates shuffle driven by SplitMix64 seeded with [`SEED`], one stream for the four
//! categories in the order above. Because the allocation is equal, the sample's overall accuracy
//! weights the categories equally, not by their share of the test set.
use super::categories::{Categories, CATEGORIES};
use super::dataset::Question;
use crate::rng::SplitMix64;
use anyhow::{bail, Context, Result};
use std::collections::HashMap;

pub const SAMPLE150_TSV: &str = include_str!("../../data/mmlu/sample150.tsv");
pub const SEED: u64 = 150;
/// Questions drawn per category, in [`CATEGORIES`] order.
pub const PER_CATEGORY: [usize; 4] = [38, 38, 37, 37];

/// A question's identity: subject and row index in its test CSV.
pub type Key = (String, usize);

/// The stratified draw described above, sorted by subject then row.
pub fn draw(test: &[Question], cats: &Categories, seed: u64, per_category: [usize; 4]) -> Result<Vec<Key>> {
    let mut rng = SplitMix64::new(seed);
    let mut out = Vec::new();
    for (cat, k) in CATEGORIES.iter().zip(per_category) {
        let pool: Vec<&Question> = test.iter().filter(|q| cats.category(&q.subject) == Some(*cat)).collect();
        if pool.len() < k {
            bail!("category {cat} has {} questions, cannot draw {k}", pool.len());
        }
        out.extend(rng.choose(pool.len(), k).into_iter().map(|i| (pool[i].subject.clone(), pool[i].row)));
    }
    out.sort();
    Ok(out)
}

/// The file text: a comment header recording the method, then `subject<TAB>row` lines.
pub fn render(keys: &[Key]) -> String {
    let mut s = format!(
        "# MMLU test-split sample of {} questions, frozen: every model and adapter is scored on these.\n\
         # Drawn by sqlora::mmlu::sample::draw: stratified by category (original MMLU mapping), equal\n\
         # allocation STEM {} / Humanities {} / Social Sciences {} / Other {}; within a category simple\n\
         # random sampling without replacement (partial Fisher-Yates, SplitMix64, seed {SEED}, one stream\n\
         # over the categories in that order; candidates in subject-name then row order).\n\
         # row = 0-based index of the record in mmlu/test/<subject>_test.csv (the files have no header).\n\
         subject\trow\n",
        keys.len(),
        PER_CATEGORY[0],
        PER_CATEGORY[1],
        PER_CATEGORY[2],
        PER_CATEGORY[3]
    );
    for (subject, row) in keys {
        s.push_str(&format!("{subject}\t{row}\n"));
    }
    s
}

/// The keys of a sample file (comment lines and the header skipped).
pub fn parse(text: &str) -> Result<Vec<Key>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.starts_with('#') || line == "subject\trow" || line.trim().is_empty() {
            continue;
        }
        let (s, r) = line.split_once('\t').with_context(|| format!("sample line {}: expected subject<TAB>row", n + 1))?;
        let row = r.parse().with_context(|| format!("sample line {}: bad row {r:?}", n + 1))?;
        out.push((s.to_string(), row));
    }
    Ok(out)
}

/// The questions of `keys`, in key order; every key must exist.
pub fn select(test: &[Question], keys: &[Key]) -> Result<Vec<Question>> {
    let by_key: HashMap<(&str, usize), &Question> = test.iter().map(|q| ((q.subject.as_str(), q.row), q)).collect();
    keys.iter()
        .map(|(s, r)| {
            by_key
                .get(&(s.as_str(), *r))
                .map(|q| (*q).clone())
                .with_context(|| format!("sample question {s} row {r} is not in the test split"))
        })
        .collect()
}

/// The committed 150-question sample.
pub fn sample150() -> Vec<Key> {
    parse(SAMPLE150_TSV).expect("the committed sample150.tsv parses")
}
