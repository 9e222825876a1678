//! The runs table: one row per arm with its settings, Spider EX in both modes and MMLU per group,
//! each with its 95% interval, and the change against a reference arm. Sorting, the
//! "differences only" switch and the CSV export work on this plain table; the page only draws it.
use super::arms::{ArmRuns, Rate};
use crate::compare::groups;
use std::cmp::Ordering;

/// An adapter's own settings, shown first when any arm has them.
pub const ADAPTER_SETTINGS: [&str; 5] = ["rank", "alpha", "lr", "targets", "steps"];

#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub title: String,
    /// A settings column (hidden by "differences only" when every arm has the same value).
    pub setting: bool,
    /// Cells carry a 95% interval (the CSV gets `lo` and `hi` columns beside the value).
    pub interval: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cell {
    pub text: String,
    /// The number the column sorts by; None sorts after every number.
    pub value: Option<f64>,
    pub interval: Option<(f64, f64)>,
}

impl Cell {
    fn text(s: impl Into<String>) -> Cell {
        Cell { text: s.into(), ..Default::default() }
    }

    fn rate(r: Option<Rate>) -> Cell {
        r.map_or_else(Cell::default, |r| Cell {
            text: format!("{:.3} [{:.3}, {:.3}]", r.value, r.lo, r.hi),
            value: Some(r.value),
            interval: Some((r.lo, r.hi)),
        })
    }

    /// A change in points (percentage points of an accuracy).
    fn delta(d: Option<f64>) -> Cell {
        d.map_or_else(Cell::default, |d| Cell { text: format!("{:+.1}", d * 100.0), value: Some(d), interval: None })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct RunsTable {
    pub columns: Vec<Column>,
    /// `rows[i]` belongs to arm `arm_of[i]` (sorting reorders both).
    pub rows: Vec<Vec<Cell>>,
    pub arm_of: Vec<usize>,
    pub reference: usize,
}

fn mmlu_rate(a: &ArmRuns, group: &str) -> Option<Rate> {
    let (_, stats) = a.mmlu.as_ref()?;
    let s = stats.iter().find(|s| s.group == group)?;
    (s.n > 0).then_some(Rate { value: s.accuracy, n: s.n, lo: s.lo, hi: s.hi })
}

/// The settings keys to show: the adapter's own first, then the others by name; with
/// `differences_only`, only keys set to different values in two arms (an arm without the key —
/// the base has no rank, a training run no Spider batch — is no difference).
pub fn setting_keys(arms: &[ArmRuns], differences_only: bool) -> Vec<String> {
    let mut keys: Vec<String> =
        ADAPTER_SETTINGS.iter().filter(|k| arms.iter().any(|a| a.settings.contains_key(**k))).map(|k| k.to_string()).collect();
    let mut rest: Vec<String> = arms.iter().flat_map(|a| a.settings.keys().cloned()).filter(|k| !keys.contains(k)).collect();
    rest.sort();
    rest.dedup();
    keys.extend(rest);
    if differences_only {
        keys.retain(|k| {
            let mut values = arms.iter().filter_map(|a| a.settings.get(k));
            let first = values.next();
            values.any(|v| Some(v) != first)
        });
    }
    keys
}

pub fn runs_table(arms: &[ArmRuns], reference: usize, differences_only: bool) -> RunsTable {
    let reference = reference.min(arms.len().saturating_sub(1));
    let keys = setting_keys(arms, differences_only);
    let column = |title: &str, setting: bool, interval: bool| Column { title: title.into(), setting, interval };
    let mut columns = vec![column("run", false, false), column("model", false, false), column("adapter", false, false)];
    columns.extend(keys.iter().map(|k| column(k, true, false)));
    columns.extend([column("Spider split", false, false), column("Spider n", false, false)]);
    columns.extend([column("EX official", false, true), column("EX seed", false, true)]);
    columns.extend(groups().into_iter().map(|g| column(&format!("MMLU {g}"), false, true)));
    columns.extend([column("Δ EX official", false, false), column("Δ MMLU Overall", false, false)]);
    let refa = arms.get(reference);
    let rows = arms
        .iter()
        .map(|a| {
            let mut row =
                vec![Cell::text(a.label()), Cell::text(&a.model), Cell::text(a.adapter.clone().unwrap_or_else(|| "(base)".into()))];
            row.extend(keys.iter().map(|k| Cell::text(a.settings.get(k).cloned().unwrap_or_default())));
            let n = a.spider.as_ref().map(|r| r.n);
            row.push(Cell::text(a.spider.as_ref().map_or(String::new(), |r| r.split.clone())));
            row.push(Cell { text: n.map_or(String::new(), |n| n.to_string()), value: n.map(|n| n as f64), interval: None });
            row.push(Cell::rate(a.ex_official));
            row.push(Cell::rate(a.ex_seed));
            row.extend(groups().into_iter().map(|g| Cell::rate(mmlu_rate(a, g))));
            let diff = |f: &dyn Fn(&ArmRuns) -> Option<Rate>| Some(f(a)?.value - f(refa?)?.value);
            row.push(Cell::delta(diff(&|x| x.ex_official)));
            row.push(Cell::delta(diff(&|x| mmlu_rate(x, crate::compare::OVERALL))));
            row
        })
        .collect();
    RunsTable { columns, rows, arm_of: (0..arms.len()).collect(), reference }
}

impl RunsTable {
    /// Sort by column `col`: numbers by value, text by text; empty cells last either way.
    pub fn sort(&mut self, col: usize, descending: bool) {
        let mut order: Vec<usize> = (0..self.rows.len()).collect();
        let key = |i: usize| &self.rows[i][col];
        order.sort_by(|&x, &y| {
            let (a, b) = (key(x), key(y));
            let empty = |c: &Cell| c.value.is_none() && c.text.is_empty();
            match (empty(a), empty(b)) {
                (true, true) => return Ordering::Equal,
                (true, false) => return Ordering::Greater,
                (false, true) => return Ordering::Less,
                _ => {}
            }
            let o = match (a.value, b.value) {
                (Some(p), Some(q)) => p.total_cmp(&q),
                _ => a.text.cmp(&b.text),
            };
            if descending {
                o.reverse()
            } else {
                o
            }
        });
        self.rows = order.iter().map(|&i| self.rows[i].clone()).collect();
        self.arm_of = order.iter().map(|&i| self.arm_of[i]).collect();
    }

    /// The table as CSV (RFC 4180 quoting); an interval column adds `… lo` and `… hi` columns.
    pub fn to_csv(&self) -> String {
        let quote = |s: &str| if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() };
        let mut header = Vec::new();
        for c in &self.columns {
            header.push(quote(&c.title));
            if c.interval {
                header.push(quote(&format!("{} lo", c.title)));
                header.push(quote(&format!("{} hi", c.title)));
            }
        }
        let mut out = header.join(",") + "\n";
        for row in &self.rows {
            let mut cells = Vec::new();
            for (c, cell) in self.columns.iter().zip(row) {
                if c.interval {
                    let num = |x: Option<f64>| x.map_or(String::new(), |x| format!("{x:.6}"));
                    cells.push(num(cell.value));
                    cells.push(num(cell.interval.map(|i| i.0)));
                    cells.push(num(cell.interval.map(|i| i.1)));
                } else {
                    cells.push(quote(&cell.text));
                }
            }
            out += &(cells.join(",") + "\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn arm(adapter: Option<&str>, ex: Option<f64>, rank: Option<&str>) -> ArmRuns {
        let mut settings = BTreeMap::from([("spider.batch".to_string(), "16".to_string())]);
        if let Some(r) = rank {
            settings.insert("rank".into(), r.into());
        }
        ArmRuns {
            model: "m".into(),
            adapter: adapter.map(Into::into),
            spider: None,
            spider_0shot: None,
            ex_official: ex.map(|e| Rate::of(e, 100)),
            ex_seed: None,
            mmlu: None,
            settings,
        }
    }

    #[test]
    fn deltas_are_against_the_reference_and_differences_only_hides_equal_settings() {
        let arms = vec![arm(None, Some(0.10), None), arm(Some("r8"), Some(0.35), Some("8")), arm(Some("r16"), None, Some("16"))];
        let t = runs_table(&arms, 0, false);
        let col = |t: &RunsTable, name: &str| t.columns.iter().position(|c| c.title == name).unwrap();
        assert_eq!(t.rows[1][col(&t, "Δ EX official")].text, "+25.0");
        assert_eq!(t.rows[2][col(&t, "Δ EX official")].text, "", "no EX, no change");
        assert!(t.columns.iter().any(|c| c.title == "spider.batch"));
        let diff = runs_table(&arms, 1, true);
        assert!(!diff.columns.iter().any(|c| c.title == "spider.batch"), "same in every arm");
        assert!(diff.columns.iter().any(|c| c.title == "rank"));
        assert_eq!(diff.rows[0][col(&diff, "Δ EX official")].text, "-25.0");
    }

    #[test]
    fn sorting_puts_empty_cells_last_and_csv_splits_intervals() {
        let arms = vec![arm(None, Some(0.10), None), arm(Some("r8"), Some(0.35), None), arm(Some("x"), None, None)];
        let mut t = runs_table(&arms, 0, false);
        let ex = t.columns.iter().position(|c| c.title == "EX official").unwrap();
        t.sort(ex, true);
        assert_eq!(t.arm_of, vec![1, 0, 2]);
        t.sort(ex, false);
        assert_eq!(t.arm_of, vec![0, 1, 2]);
        let csv = t.to_csv();
        let header = csv.lines().next().unwrap();
        assert!(header.contains("EX official,EX official lo,EX official hi"), "{header}");
        let first = csv.lines().nth(1).unwrap();
        assert!(first.starts_with("m,m,(base),"), "{first}");
        assert!(first.contains("0.100000,"), "{first}");
    }
}
