//! The MMLU view: per-category accuracy of every arm with answers (the report's chart), and each
//! arm against the chosen reference on the same questions (the report's paired bootstrap interval
//! and exact McNemar p, from `compare::deltas`, the code `sqlora report` runs).
use super::arms::ArmRuns;
use crate::compare::{deltas, Delta};
use crate::svg::{category_chart, delta_chart};

pub struct MmluView {
    pub split: String,
    pub reference: Option<String>,
    /// (arm label, its deltas against the reference) for every other arm with answers.
    pub regressions: Vec<(String, Vec<Delta>)>,
    pub category_svg: String,
    pub delta_svg: Option<String>,
}

/// None when no arm has MMLU answers.
pub fn mmlu_view(arms: &[ArmRuns], reference: usize, split: &str) -> Option<MmluView> {
    let with: Vec<&ArmRuns> = arms.iter().filter(|a| a.mmlu.is_some()).collect();
    if with.is_empty() {
        return None;
    }
    let stats: Vec<(String, Vec<_>)> = with.iter().map(|a| (a.label(), a.mmlu.as_ref().unwrap().1.clone())).collect();
    let category_svg = category_chart(&format!("MMLU accuracy per category ({split})"), &stats);
    let refa = arms.get(reference).filter(|a| a.mmlu.is_some());
    let regressions: Vec<(String, Vec<Delta>)> = match refa {
        Some(r) => with
            .iter()
            .filter(|a| a.label() != r.label())
            .map(|a| (a.label(), deltas(&r.mmlu.as_ref().unwrap().0, &a.mmlu.as_ref().unwrap().0)))
            .collect(),
        None => Vec::new(),
    };
    let delta_svg = (!regressions.is_empty()).then(|| {
        let title = format!("MMLU change against {} ({split})", refa.map(ArmRuns::label).unwrap_or_default());
        delta_chart(&title, &regressions)
    });
    Some(MmluView { split: split.into(), reference: refa.map(ArmRuns::label), regressions, category_svg, delta_svg })
}
