//! The MMLU data: 57 subjects, each with dev (the 5 few-shot examples), val and test CSVs under
//! `<data dir>/mmlu/`, checked against the `mmlu/` lines of `data/MANIFEST` before use.
use super::categories::Categories;
use super::csv;
use anyhow::{bail, Context, Result};
use std::path::Path;

/// Every subject's dev rows (the few-shot examples), by subject.
pub type Shots = std::collections::HashMap<String, Vec<Question>>;

/// A split of the data set, as named in the file names (`<subject>_<split>.csv`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    Dev,
    Val,
    Test,
}

impl Split {
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Dev => "dev",
            Split::Val => "val",
            Split::Test => "test",
        }
    }

    /// Questions in the split over all 57 subjects.
    pub fn expected_len(self) -> usize {
        match self {
            Split::Dev => 285,
            Split::Val => 1531,
            Split::Test => 14042,
        }
    }
}

pub const LETTERS: [char; 4] = ['A', 'B', 'C', 'D'];

/// One multiple-choice question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    pub subject: String,
    /// Index of the row in its CSV file (0-based; the files have no header).
    pub row: usize,
    pub question: String,
    pub choices: [String; 4],
    /// 0..4 for A..D.
    pub answer: usize,
}

impl Question {
    pub fn gold_letter(&self) -> char {
        LETTERS[self.answer]
    }
}

/// One split's questions of every subject, subjects in name order, rows in file order.
pub fn load_split(data_dir: &Path, cats: &Categories, split: Split) -> Result<Vec<Question>> {
    let mut out = Vec::with_capacity(split.expected_len());
    for subject in cats.subjects() {
        out.extend(load_subject(data_dir, subject, split)?);
    }
    if out.len() != split.expected_len() {
        bail!("MMLU {}: {} questions, expected {}", split.as_str(), out.len(), split.expected_len());
    }
    Ok(out)
}

/// The questions of one subject's CSV.
pub fn load_subject(data_dir: &Path, subject: &str, split: Split) -> Result<Vec<Question>> {
    let path = data_dir.join("mmlu").join(split.as_str()).join(format!("{subject}_{}.csv", split.as_str()));
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let records = csv::parse(&text).with_context(|| path.display().to_string())?;
    records
        .into_iter()
        .enumerate()
        .map(|(row, r)| to_question(subject, row, r).with_context(|| format!("{} row {row}", path.display())))
        .collect()
}

fn to_question(subject: &str, row: usize, r: Vec<String>) -> Result<Question> {
    let [question, a, b, c, d, answer]: [String; 6] = match r.try_into() {
        Ok(a) => a,
        Err(r) => bail!("expected 6 columns (question,A,B,C,D,answer), got {}", r.len()),
    };
    let Some(answer) = LETTERS.iter().position(|l| answer.len() == 1 && answer.starts_with(*l)) else {
        bail!("answer {answer:?} is not one of A, B, C, D");
    };
    Ok(Question { subject: subject.to_string(), row, question, choices: [a, b, c, d], answer })
}

/// Checks every `mmlu/` file of `data/MANIFEST` under `data_dir` (the Spider files are not read).
pub fn verify(data_dir: &Path) -> Result<()> {
    let mmlu_lines: String = crate::datadir::MANIFEST.lines().filter(|l| l.contains("  mmlu/")).map(|l| format!("{l}\n")).collect();
    let report = crate::datadir::verify_against(data_dir, &mmlu_lines)?;
    if !report.is_ok() {
        bail!("the MMLU data does not match data/MANIFEST:\n{report}");
    }
    Ok(())
}
