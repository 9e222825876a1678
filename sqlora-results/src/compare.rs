//! The numbers of the regression report: each arm's (base model, or base + adapter) accuracy per
//! category with its Wilson interval, and each adapter against its base on the same questions —
//! paired difference, bootstrap interval, exact McNemar p, change in mean gold-letter probability;
//! Spider runs paired the same way on their questions' verdicts. `sqlora report` and the viewer
//! both compute them here.
use super::stats::{paired_diff, wilson, PairedDiff, Z95};
use crate::mmlu_answers::{AnswerRow, CATEGORIES};
use crate::predictions::PredictionRow;
use std::collections::{BTreeMap, HashMap};

pub const BOOTSTRAP_RESAMPLES: usize = 10_000;
pub const BOOTSTRAP_SEED: u64 = 2021;
pub const OVERALL: &str = "Overall";

/// "Overall" then the four categories.
pub fn groups() -> Vec<&'static str> {
    std::iter::once(OVERALL).chain(CATEGORIES).collect()
}

fn in_group(r: &AnswerRow, group: &str) -> bool {
    group == OVERALL || r.category == group
}

/// One model, alone or with one adapter, on one split.
#[derive(Clone, Debug)]
pub struct Arm {
    pub model: String,
    pub adapter: Option<String>,
    pub rows: Vec<AnswerRow>,
}

impl Arm {
    pub fn label(&self) -> String {
        self.adapter.clone().unwrap_or_else(|| "base".into())
    }
}

/// The arms of `split`, per model the base first, then its adapters by name.
pub fn arms(rows: Vec<AnswerRow>, split: &str) -> Vec<Arm> {
    let mut by: BTreeMap<(String, Option<String>), Vec<AnswerRow>> = BTreeMap::new();
    for r in rows.into_iter().filter(|r| r.split == split) {
        by.entry((r.model.clone(), r.adapter.clone())).or_default().push(r);
    }
    // BTreeMap order puts None (the base) before any adapter of the same model.
    by.into_iter().map(|((model, adapter), rows)| Arm { model, adapter, rows }).collect()
}

#[derive(Clone, Debug, PartialEq)]
pub struct GroupStat {
    pub group: &'static str,
    pub n: usize,
    pub correct: usize,
    pub accuracy: f64,
    /// Wilson 95% interval of the accuracy.
    pub lo: f64,
    pub hi: f64,
    pub mean_p_gold: f64,
}

/// Accuracy of an arm in each of [`groups`].
pub fn group_stats(arm: &Arm) -> Vec<GroupStat> {
    groups()
        .into_iter()
        .map(|g| {
            let rows: Vec<&AnswerRow> = arm.rows.iter().filter(|r| in_group(r, g)).collect();
            let n = rows.len();
            let correct = rows.iter().filter(|r| r.correct).count();
            let (lo, hi) = wilson(correct, n, Z95);
            let mean_p_gold = rows.iter().map(|r| r.p_gold).sum::<f64>() / n.max(1) as f64;
            GroupStat { group: g, n, correct, accuracy: correct as f64 / n.max(1) as f64, lo, hi, mean_p_gold }
        })
        .collect()
}

#[derive(Clone, Debug, PartialEq)]
pub struct Delta {
    pub group: &'static str,
    /// Questions both arms answered.
    pub n: usize,
    pub base_accuracy: f64,
    pub accuracy: f64,
    /// accuracy - base_accuracy, with its paired bootstrap interval and McNemar test.
    pub paired: super::stats::PairedDiff,
    /// Relative change in percent of the base accuracy (None when the base is 0).
    pub relative_pct: Option<f64>,
    pub delta_p_gold: f64,
}

/// `other` against `base` on the questions they share, per group.
pub fn deltas(base: &Arm, other: &Arm) -> Vec<Delta> {
    let base_by: HashMap<(&str, i64), &AnswerRow> = base.rows.iter().map(|r| ((r.subject.as_str(), r.row), r)).collect();
    let pairs: Vec<(&AnswerRow, &AnswerRow)> =
        other.rows.iter().filter_map(|o| base_by.get(&(o.subject.as_str(), o.row)).map(|b| (*b, o))).collect();
    groups()
        .into_iter()
        .map(|g| {
            let ps: Vec<&(&AnswerRow, &AnswerRow)> = pairs.iter().filter(|(b, _)| in_group(b, g)).collect();
            let n = ps.len();
            let bc: Vec<bool> = ps.iter().map(|(b, _)| b.correct).collect();
            let oc: Vec<bool> = ps.iter().map(|(_, o)| o.correct).collect();
            let mean = |v: &[bool]| v.iter().filter(|&&x| x).count() as f64 / n.max(1) as f64;
            let (base_accuracy, accuracy) = (mean(&bc), mean(&oc));
            let paired = paired_diff(&bc, &oc, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED);
            let delta_p_gold = ps.iter().map(|(b, o)| o.p_gold - b.p_gold).sum::<f64>() / n.max(1) as f64;
            let relative_pct = (base_accuracy > 0.0).then(|| 100.0 * paired.diff / base_accuracy);
            Delta { group: g, n, base_accuracy, accuracy, paired, relative_pct, delta_p_gold }
        })
        .collect()
}

/// Per Spider run, each question's official verdict (by question id).
pub type Verdicts = HashMap<String, HashMap<i64, bool>>;

pub fn verdicts(rows: &[PredictionRow]) -> Verdicts {
    let mut out: Verdicts = HashMap::new();
    for r in rows {
        if let Some(run) = &r.run_id {
            out.entry(run.clone()).or_default().insert(r.id, r.ex_official == Some(true));
        }
    }
    out
}

/// Spider run `other` against run `base` on the questions both answered (official EX; paired
/// bootstrap interval, McNemar); None when either has no verdicts or they share no question.
pub fn spider_diff(v: &Verdicts, base: &str, other: &str) -> Option<PairedDiff> {
    let (b, o) = (v.get(base)?, v.get(other)?);
    let mut ids: Vec<i64> = b.keys().filter(|i| o.contains_key(i)).copied().collect();
    ids.sort_unstable();
    if ids.is_empty() {
        return None;
    }
    let bs: Vec<bool> = ids.iter().map(|i| b[i]).collect();
    let os: Vec<bool> = ids.iter().map(|i| o[i]).collect();
    Some(paired_diff(&bs, &os, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(adapter: Option<&str>, category: &str, i: i64, correct: bool, p_gold: f64) -> AnswerRow {
        AnswerRow {
            model: "m".into(),
            adapter: adapter.map(Into::into),
            split: "sample150".into(),
            subject: format!("s_{category}"),
            category: category.into(),
            row: i,
            correct,
            p_gold,
            ..Default::default()
        }
    }

    #[test]
    fn deltas_pair_the_same_questions_per_category() {
        let mut rows = Vec::new();
        for i in 0..10 {
            rows.push(row(None, "STEM", i, i < 5, 0.3));
            rows.push(row(Some("a"), "STEM", i, i < 3, 0.2));
            rows.push(row(None, "Other", i, false, 0.25));
            rows.push(row(Some("a"), "Other", i, i < 1, 0.35));
        }
        let arms = arms(rows, "sample150");
        assert_eq!(arms.iter().map(Arm::label).collect::<Vec<_>>(), vec!["base", "a"]);
        let d = deltas(&arms[0], &arms[1]);
        let stem = d.iter().find(|d| d.group == "STEM").unwrap();
        assert_eq!((stem.n, stem.paired.b, stem.paired.c), (10, 2, 0));
        assert!((stem.paired.diff + 0.2).abs() < 1e-12);
        assert!((stem.relative_pct.unwrap() + 40.0).abs() < 1e-9);
        assert!((stem.delta_p_gold + 0.1).abs() < 1e-12);
        let overall = &d[0];
        assert_eq!((overall.n, overall.paired.b, overall.paired.c), (20, 2, 1));
        assert!((overall.paired.diff + 0.05).abs() < 1e-12);
        let other = d.iter().find(|d| d.group == "Other").unwrap();
        assert_eq!(other.relative_pct, None);
    }

    #[test]
    fn group_stats_are_micro_averages() {
        let rows = vec![row(None, "STEM", 0, true, 0.5), row(None, "STEM", 1, false, 0.5), row(None, "Other", 0, true, 0.2)];
        let s = group_stats(&arms(rows, "sample150")[0]);
        assert_eq!((s[0].n, s[0].correct), (3, 2));
        assert!((s[0].accuracy - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(s.iter().find(|g| g.group == "Humanities").unwrap().n, 0);
    }
}
