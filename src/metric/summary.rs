//! Accuracy of a scored predictions file: overall, without wta_1 (dev-972) and by hardness.
use crate::results::PredictionRow;
use crate::spider::hardness::Hardness;
use crate::spider::sqlshape::shape_of;
use std::fmt;
use std::time::Duration;

/// The dev database whose SQLite file is an approximate rebuild (see the data README).
pub const APPROXIMATE_DB: &str = "wta_1";

/// Hits among the scored rows of one subset.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Acc {
    /// Rows scored (data errors excluded).
    pub n: usize,
    pub seed_hits: usize,
    pub official_hits: usize,
}

impl Acc {
    fn add(&mut self, r: &PredictionRow) {
        if let (Some(s), Some(o)) = (r.ex_seed, r.ex_official) {
            self.n += 1;
            self.seed_hits += usize::from(s);
            self.official_hits += usize::from(o);
        }
    }

    pub fn seed(&self) -> f64 {
        ratio(self.seed_hits, self.n)
    }

    pub fn official(&self) -> f64 {
        ratio(self.official_hits, self.n)
    }
}

fn ratio(a: usize, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        a as f64 / n as f64
    }
}

#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Rows in the file.
    pub n: usize,
    /// Predictions that ran (on a scored row).
    pub executed: usize,
    /// Predictions that failed: error, timeout, denied, empty.
    pub failed: usize,
    /// Rows not scored: gold failed, database missing, fields missing. Not in any accuracy.
    pub data_errors: usize,
    pub all: Acc,
    /// Without the approximate wta_1 database ("dev-972" on the dev split).
    pub exact_dbs: Acc,
    pub by_hardness: Vec<(Hardness, Acc)>,
    /// Wall time of the scoring, when the caller measured it.
    pub elapsed: Option<Duration>,
}

/// Summarize scored rows; a row without hardness gets it from its gold SQL.
pub fn summarize(rows: &[PredictionRow]) -> Summary {
    let mut s = Summary { n: rows.len(), ..Summary::default() };
    s.by_hardness = Hardness::ALL.iter().map(|&h| (h, Acc::default())).collect();
    for r in rows {
        let scored = r.ex_seed.is_some() && r.ex_official.is_some();
        if !scored {
            s.data_errors += 1;
            continue;
        }
        if r.error.is_some() {
            s.failed += 1;
        } else {
            s.executed += 1;
        }
        s.all.add(r);
        if r.db_id != APPROXIMATE_DB {
            s.exact_dbs.add(r);
        }
        let h = r.hardness.as_deref().and_then(Hardness::parse).unwrap_or_else(|| shape_of(&r.gold).hardness());
        s.by_hardness[h as usize].1.add(r);
    }
    s
}

impl Summary {
    /// "dev-1034"/"dev-972" when the counts are the dev split's, plain names otherwise.
    fn labels(&self) -> (String, String) {
        let total = self.all.n + self.data_errors;
        if total == 1034 {
            ("dev-1034 (all)".into(), format!("dev-972 (without {APPROXIMATE_DB})"))
        } else {
            ("all".into(), format!("without {APPROXIMATE_DB}"))
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "n={}  executed={}  failed={}  data errors={}", self.n, self.executed, self.failed, self.data_errors)?;
        if self.data_errors > 0 {
            writeln!(f, "WARNING: {} rows not scored (data errors); they are in no accuracy below", self.data_errors)?;
        }
        let (all, exact) = self.labels();
        writeln!(f, "{:<24} {:>5}  {:>8}  {:>8}", "subset", "n", "seed", "official")?;
        // An empty subset has no accuracy: a dash, not a misleading 0.0000.
        let mut line = |name: &str, a: &Acc| {
            let acc = |x: f64| if a.n == 0 { "—".to_string() } else { format!("{x:.4}") };
            writeln!(f, "{name:<24} {:>5}  {:>8}  {:>8}", a.n, acc(a.seed()), acc(a.official()))
        };
        line(&all, &self.all)?;
        line(&exact, &self.exact_dbs)?;
        for (h, a) in &self.by_hardness {
            line(&format!("  {h}"), a)?;
        }
        if let Some(e) = self.elapsed {
            writeln!(f, "elapsed {:.2} s", e.as_secs_f64())?;
        }
        Ok(())
    }
}
