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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mmlu_answers::{AnswerRow, CATEGORIES};
    use crate::view::arms::arms;
    use crate::view::folder::Folder;

    #[test]
    fn every_other_arm_is_paired_against_the_chosen_reference() {
        let row = |adapter: Option<&str>, i: usize, correct: bool| AnswerRow {
            model: "m".into(),
            adapter: adapter.map(Into::into),
            split: "sample150".into(),
            subject: "s".into(),
            category: CATEGORIES[i % 4].into(),
            row: i as i64,
            correct,
            p_gold: 0.25,
            ..Default::default()
        };
        let mut answers = Vec::new();
        for i in 0..40 {
            answers.push(row(None, i, i % 3 == 0));
            answers.push(row(Some("r8"), i, i % 2 == 0));
        }
        let a = arms(&Folder { answers, ..Default::default() });
        let v = mmlu_view(&a, 0, "sample150").unwrap();
        assert_eq!(v.reference.as_deref(), Some("m"));
        assert_eq!(v.regressions.len(), 1);
        let (label, deltas) = &v.regressions[0];
        assert_eq!((label.as_str(), deltas.len()), ("m + r8", 5));
        // The same numbers as the report's comparison of these two arms.
        let base = &a[0].mmlu.as_ref().unwrap().0;
        let other = &a[1].mmlu.as_ref().unwrap().0;
        assert_eq!(deltas, &crate::compare::deltas(base, other));
        assert!(v.delta_svg.is_some() && v.category_svg.starts_with("<svg"));
        // Against itself there is nothing to pair; another reference swaps the roles.
        assert_eq!(mmlu_view(&a, 1, "sample150").unwrap().regressions[0].0, "m");
    }
}
