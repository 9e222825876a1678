//! Subject → category, as in the original MMLU release (Hendrycks et al.): STEM 18 subjects,
//! Humanities 13, Social Sciences 12, Other 14. The table is the committed copy of the data dir's
//! `mmlu/categories.tsv` (same sha256 as its `data/MANIFEST` line; a test checks). Note that
//! lm-evaluation-harness files `anatomy` under STEM; here it stays in Other, as in the original.
use anyhow::{bail, Result};
use std::collections::BTreeMap;

pub const CATEGORIES_TSV: &str = include_str!("../../data/mmlu/categories.tsv");

/// The four categories in report order (defined with the `category` column of the results layer).
pub use sqlora_results::mmlu_answers::CATEGORIES;

#[derive(Clone, Debug)]
pub struct Categories {
    /// subject → (subcategory, category), in subject name order.
    map: BTreeMap<String, (String, &'static str)>,
}

impl Categories {
    /// The committed table.
    pub fn original() -> Categories {
        Self::parse(CATEGORIES_TSV).expect("the committed categories.tsv parses")
    }

    /// `subject<TAB>subcategory<TAB>category` lines after a header line.
    pub fn parse(tsv: &str) -> Result<Categories> {
        let mut map = BTreeMap::new();
        for (n, line) in tsv.lines().enumerate().skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            let [subject, sub, cat] = cols[..] else {
                bail!("categories.tsv line {}: expected 3 tab-separated columns", n + 1);
            };
            let Some(cat) = CATEGORIES.iter().find(|c| **c == cat) else {
                bail!("categories.tsv line {}: unknown category {cat:?}", n + 1);
            };
            map.insert(subject.to_string(), (sub.to_string(), *cat));
        }
        if map.len() != 57 {
            bail!("categories.tsv lists {} subjects, expected 57", map.len());
        }
        Ok(Categories { map })
    }

    /// Subjects in name order (the order of every loop over the data).
    pub fn subjects(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }

    pub fn category(&self, subject: &str) -> Option<&'static str> {
        self.map.get(subject).map(|(_, c)| *c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn committed_table_is_the_manifest_file() {
        let line = crate::datadir::MANIFEST.lines().find(|l| l.ends_with("  mmlu/categories.tsv")).unwrap();
        let want = line.split_whitespace().next().unwrap();
        assert_eq!(hex::encode(Sha256::digest(CATEGORIES_TSV.as_bytes())), want);
    }

    #[test]
    fn original_mapping_has_18_13_12_14_subjects() {
        let c = Categories::original();
        let count = |cat: &str| c.subjects().filter(|s| c.category(s) == Some(cat)).count();
        assert_eq!(CATEGORIES.map(count), [18, 13, 12, 14]);
        assert_eq!(c.category("anatomy"), Some("Other"));
    }
}
