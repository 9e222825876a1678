//! The Spider explorer's model: the questions of one run (optionally beside a second run on the
//! same questions), each with its verdicts and error kind, and the filters a person can set. The
//! search text of every question is prepared once, so filtering the 1,034 dev rows stays instant.
use crate::predictions::PredictionRow;
use std::collections::HashMap;

/// Why a prediction failed, in a few groups a person can filter by.
pub fn error_kind(r: &PredictionRow) -> &'static str {
    let Some(e) = r.error.as_deref() else {
        return match r.ex_official {
            Some(true) => "passed",
            Some(false) => "wrong result",
            None => "not scored",
        };
    };
    let e = e.to_ascii_lowercase();
    let has = |s: &str| e.contains(s);
    if e.starts_with("data error") {
        "data error"
    } else if has("empty query") {
        "no SQL"
    } else if e == "timeout" {
        "timeout"
    } else if has("syntax error") || has("incomplete input") || has("unrecognized token") {
        "syntax error"
    } else if has("no such column") || has("ambiguous column") {
        "unknown column"
    } else if has("no such table") {
        "unknown table"
    } else if has("no such function") || has("wrong number of arguments") || has("misuse of aggregate") {
        "function or aggregate"
    } else {
        "other SQL error"
    }
}

/// The error kinds in the order the filter lists them.
pub const ERROR_KINDS: [&str; 11] = [
    "passed",
    "wrong result",
    "no SQL",
    "syntax error",
    "unknown column",
    "unknown table",
    "function or aggregate",
    "timeout",
    "other SQL error",
    "data error",
    "not scored",
];

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Verdict {
    #[default]
    Any,
    Pass,
    Fail,
}

impl Verdict {
    pub fn parse(s: &str) -> Verdict {
        match s {
            "pass" => Verdict::Pass,
            "fail" => Verdict::Fail,
            _ => Verdict::Any,
        }
    }

    fn keeps(self, v: Option<bool>) -> bool {
        match self {
            Verdict::Any => true,
            Verdict::Pass => v == Some(true),
            Verdict::Fail => v != Some(true),
        }
    }
}

/// How run B did against run A on a question (official mode).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Change {
    #[default]
    Any,
    /// Wrong in A, right in B.
    Fixed,
    /// Right in A, wrong in B.
    Broke,
    Same,
}

impl Change {
    pub fn parse(s: &str) -> Change {
        match s {
            "fixed" => Change::Fixed,
            "broke" => Change::Broke,
            "same" => Change::Same,
            _ => Change::Any,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    pub db: Option<String>,
    pub hardness: Option<String>,
    /// Verdicts of run A in each mode.
    pub seed: Verdict,
    pub official: Verdict,
    pub error_kind: Option<String>,
    /// Case-insensitive, in the question, the gold SQL and the predictions.
    pub text: String,
    pub change: Change,
}

/// One question of run A, with run B's prediction of the same question when B is chosen.
#[derive(Clone, Debug)]
pub struct Pair {
    pub a: usize,
    pub b: Option<usize>,
    haystack: String,
}

/// The rows of the explorer: indices into the folder's predictions.
#[derive(Clone, Debug, Default)]
pub struct Explorer {
    pub run_a: String,
    pub run_b: Option<String>,
    pub pairs: Vec<Pair>,
}

/// The runs that have predictions, in first-seen order.
pub fn prediction_runs(preds: &[PredictionRow]) -> Vec<String> {
    let mut runs: Vec<String> = Vec::new();
    for p in preds {
        let r = p.run_id.clone().unwrap_or_default();
        if !runs.contains(&r) {
            runs.push(r);
        }
    }
    runs
}

/// The rows of one run, with their indices.
fn of_run<'a>(preds: &'a [PredictionRow], run: &'a str) -> impl Iterator<Item = (usize, &'a PredictionRow)> + 'a {
    preds.iter().enumerate().filter(move |(_, p)| p.run_id.as_deref().unwrap_or("") == run)
}

impl Explorer {
    pub fn new(preds: &[PredictionRow], run_a: &str, run_b: Option<&str>) -> Explorer {
        let b_by_id: HashMap<i64, usize> = run_b.map(|b| of_run(preds, b).map(|(i, p)| (p.id, i)).collect()).unwrap_or_default();
        let mut pairs: Vec<Pair> = of_run(preds, run_a)
            .map(|(i, p)| {
                let b = b_by_id.get(&p.id).copied();
                let mut haystack = format!("{}\n{}\n{}", p.question, p.gold, p.predicted);
                if let Some(b) = b {
                    haystack.push('\n');
                    haystack.push_str(&preds[b].predicted);
                }
                Pair { a: i, b, haystack: haystack.to_lowercase() }
            })
            .collect();
        pairs.sort_by_key(|p| preds[p.a].id);
        Explorer { run_a: run_a.into(), run_b: run_b.map(Into::into), pairs }
    }

    /// Indices into `pairs` of the rows that pass the filter, in dev order.
    pub fn filter(&self, preds: &[PredictionRow], f: &Filter) -> Vec<usize> {
        let text = f.text.trim().to_lowercase();
        self.pairs
            .iter()
            .enumerate()
            .filter(|(_, pair)| {
                let a = &preds[pair.a];
                let b = pair.b.map(|b| &preds[b]);
                let change_ok = match (f.change, b) {
                    (Change::Any, _) => true,
                    (_, None) => false,
                    (Change::Fixed, Some(b)) => a.ex_official != Some(true) && b.ex_official == Some(true),
                    (Change::Broke, Some(b)) => a.ex_official == Some(true) && b.ex_official != Some(true),
                    (Change::Same, Some(b)) => (a.ex_official == Some(true)) == (b.ex_official == Some(true)),
                };
                f.db.as_ref().is_none_or(|d| &a.db_id == d)
                    && f.hardness.as_ref().is_none_or(|h| a.hardness.as_ref() == Some(h))
                    && f.seed.keeps(a.ex_seed)
                    && f.official.keeps(a.ex_official)
                    && f.error_kind.as_ref().is_none_or(|k| error_kind(a) == k.as_str())
                    && (text.is_empty() || pair.haystack.contains(&text))
                    && change_ok
            })
            .map(|(i, _)| i)
            .collect()
    }
}

/// Sorted distinct values of a column of run A's rows (for the filter menus).
pub fn distinct<'a>(preds: &'a [PredictionRow], ex: &Explorer, value: impl Fn(&'a PredictionRow) -> Option<&'a str>) -> Vec<String> {
    let mut v: Vec<String> = ex.pairs.iter().filter_map(|p| value(&preds[p.a]).map(String::from)).collect();
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(run: &str, id: i64, db: &str, official: Option<bool>, error: Option<&str>, q: &str) -> PredictionRow {
        PredictionRow {
            run_id: Some(run.into()),
            id,
            db_id: db.into(),
            question: q.into(),
            hardness: Some(if id % 2 == 0 { "easy" } else { "hard" }.into()),
            gold: "SELECT count(*) FROM singer".into(),
            predicted: format!("SELECT {id}"),
            ex_seed: official,
            ex_official: official,
            error: error.map(Into::into),
            ..Default::default()
        }
    }

    fn preds() -> Vec<PredictionRow> {
        vec![
            p("base", 1, "concert_singer", Some(false), Some("x.sqlite: no such column: nam"), "How many singers?"),
            p("base", 0, "pets_1", Some(true), None, "How many pets?"),
            p("base", 2, "pets_1", Some(false), None, "Oldest pet?"),
            p("r8", 0, "pets_1", Some(false), Some("empty query"), "How many pets?"),
            p("r8", 1, "concert_singer", Some(true), None, "How many singers?"),
            p("r8", 2, "pets_1", Some(false), None, "Oldest pet?"),
        ]
    }

    #[test]
    fn filters_combine_and_keep_dev_order() {
        let preds = preds();
        let ex = Explorer::new(&preds, "base", None);
        let ids = |f: &Filter| ex.filter(&preds, f).iter().map(|&i| preds[ex.pairs[i].a].id).collect::<Vec<_>>();
        assert_eq!(ids(&Filter::default()), vec![0, 1, 2]);
        assert_eq!(ids(&Filter { db: Some("pets_1".into()), ..Default::default() }), vec![0, 2]);
        assert_eq!(ids(&Filter { official: Verdict::Fail, hardness: Some("easy".into()), ..Default::default() }), vec![2]);
        assert_eq!(ids(&Filter { error_kind: Some("unknown column".into()), ..Default::default() }), vec![1]);
        assert_eq!(ids(&Filter { error_kind: Some("wrong result".into()), ..Default::default() }), vec![2]);
        assert_eq!(ids(&Filter { text: "SINGERS".into(), ..Default::default() }), vec![1]);
        assert_eq!(ids(&Filter { text: "select 2".into(), ..Default::default() }), vec![2], "search covers the SQL");
        assert_eq!(distinct(&preds, &ex, |r| Some(r.db_id.as_str())), vec!["concert_singer", "pets_1"]);
    }

    #[test]
    fn two_runs_pair_on_the_same_question_and_show_what_changed() {
        let preds = preds();
        let ex = Explorer::new(&preds, "base", Some("r8"));
        let ids = |c: Change| {
            ex.filter(&preds, &Filter { change: c, ..Default::default() }).iter().map(|&i| preds[ex.pairs[i].a].id).collect::<Vec<_>>()
        };
        assert_eq!(ids(Change::Fixed), vec![1]);
        assert_eq!(ids(Change::Broke), vec![0]);
        assert_eq!(ids(Change::Same), vec![2]);
        let pair = &ex.pairs[0];
        assert_eq!((preds[pair.a].run_id.as_deref(), preds[pair.b.unwrap()].run_id.as_deref()), (Some("base"), Some("r8")));
        assert_eq!(error_kind(&preds[3]), "no SQL");
        assert_eq!(prediction_runs(&preds), vec!["base", "r8"]);
    }
}
