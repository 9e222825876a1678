//! Accuracy and mean gold-letter probability of a set of answers, overall and per category: micro
//! averages over questions (not means of subject accuracies), as in mmlu.md.
use super::categories::CATEGORIES;
use crate::results::mmlu_answers::AnswerRow;
use serde::Serialize;

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Group {
    pub n: usize,
    pub correct: usize,
    pub accuracy: f64,
    pub mean_p_gold: f64,
}

impl Group {
    pub fn of<'a>(rows: impl IntoIterator<Item = &'a AnswerRow>) -> Group {
        let (mut n, mut correct, mut p) = (0usize, 0usize, 0f64);
        for r in rows {
            n += 1;
            correct += usize::from(r.correct);
            p += r.p_gold;
        }
        let d = n.max(1) as f64;
        Group { n, correct, accuracy: correct as f64 / d, mean_p_gold: p / d }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    pub overall: Group,
    /// In [`CATEGORIES`] order.
    pub categories: Vec<(String, Group)>,
}

pub fn summarize(rows: &[AnswerRow]) -> Summary {
    Summary {
        overall: Group::of(rows),
        categories: CATEGORIES.iter().map(|c| (c.to_string(), Group::of(rows.iter().filter(|r| r.category == *c)))).collect(),
    }
}

impl Summary {
    /// For `runs.parquet`'s `metrics` column.
    pub fn to_json(&self) -> serde_json::Value {
        let cats: serde_json::Map<String, serde_json::Value> =
            self.categories.iter().map(|(c, g)| (c.clone(), serde_json::to_value(g).expect("plain struct"))).collect();
        serde_json::json!({
            "accuracy": self.overall.accuracy,
            "mean_p_gold": self.overall.mean_p_gold,
            "correct": self.overall.correct,
            "categories": cats,
        })
    }

    /// "0.2867 (STEM 0.2632, Humanities …)".
    pub fn one_line(&self) -> String {
        let cats: Vec<String> = self.categories.iter().map(|(c, g)| format!("{c} {:.4} of {}", g.accuracy, g.n)).collect();
        format!(
            "accuracy {:.4} ({}/{}; {}); mean p(gold) {:.4}",
            self.overall.accuracy,
            self.overall.correct,
            self.overall.n,
            cats.join(", "),
            self.overall.mean_p_gold
        )
    }
}
