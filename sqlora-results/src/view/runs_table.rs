//! The runs table: one row per arm, its metrics first — Spider EX of each prompt (the fixed 3-shot
//! one and the training format), MMLU per group, each with its 95% interval, and the change against
//! a reference arm paired on the same questions with its interval — then its settings. Sorting, the
//! "differences only" switch and the CSV export work on this plain table; the page only draws it.
use super::arms::{ArmRuns, Rate, SpiderRun};
use crate::compare::{deltas, groups, spider_diff, Verdicts, OVERALL};
use crate::stats::PairedDiff;
use std::cmp::Ordering;

/// An adapter's own settings, shown first when any arm has them.
pub const ADAPTER_SETTINGS: [&str; 5] = ["rank", "alpha", "lr", "targets", "steps"];

/// Settings that say where files were and how the work was split, not what was measured: left out
/// of "differences only" (every adapter's path differs, and says nothing the adapter's name does not).
const BOOKKEEPING: [&str; 9] = [
    "adapter_path",
    "model_path",
    "data_dir",
    "resumed_with",
    "threads",
    "batch_tokens",
    "checkpoint_every",
    "questions",
    "letter_token_ids",
];

fn bookkeeping(key: &str) -> bool {
    BOOKKEEPING.contains(&key.rsplit('.').next().unwrap_or(key))
}

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

    /// A change in points (percentage points of an accuracy), with its paired interval when known.
    fn delta(d: Option<Change>) -> Cell {
        let pts = |x: f64| format!("{:+.1}", x * 100.0);
        match d {
            None => Cell::default(),
            Some(Change::Reference) => Cell::text("reference"),
            Some(Change::Unpaired(d)) => Cell { text: pts(d), value: Some(d), interval: None },
            Some(Change::Paired(p)) => {
                Cell { text: format!("{} [{}, {}]", pts(p.diff), pts(p.lo), pts(p.hi)), value: Some(p.diff), interval: Some((p.lo, p.hi)) }
            }
        }
    }
}

/// An arm's change against the reference on one metric.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Change {
    /// This arm is the reference.
    Reference,
    /// Paired on the questions both answered (bootstrap interval), as `sqlora report`.
    Paired(PairedDiff),
    /// Only the two headline numbers are known (no per-question verdicts in the folder).
    Unpaired(f64),
}

/// Each arm against the reference: Spider EX (official) of each prompt against the reference's
/// 3-shot run (the report's baseline), and MMLU overall. Bootstrap intervals take a moment, so the
/// page computes these once per reference, not on every sort.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ArmDeltas {
    pub ex: Option<Change>,
    pub ex_0shot: Option<Change>,
    pub mmlu: Option<Change>,
}

fn ex_change(v: &Verdicts, reference: Option<&SpiderRun>, run: Option<&SpiderRun>) -> Option<Change> {
    let (r, a) = (reference?, run?);
    if r.run.run_id == a.run.run_id {
        return Some(Change::Reference);
    }
    match spider_diff(v, &r.run.run_id, &a.run.run_id) {
        Some(p) => Some(Change::Paired(p)),
        None => Some(Change::Unpaired(a.ex_official?.value - r.ex_official?.value)),
    }
}

pub fn arm_deltas(arms: &[ArmRuns], verdicts: &Verdicts, reference: usize) -> Vec<ArmDeltas> {
    let Some(refa) = arms.get(reference) else { return vec![ArmDeltas::default(); arms.len()] };
    arms.iter()
        .enumerate()
        .map(|(i, a)| {
            let mmlu = match (&refa.mmlu, &a.mmlu) {
                _ if i == reference && a.mmlu.is_some() => Some(Change::Reference),
                (Some((r, _)), Some((x, _))) => deltas(r, x).into_iter().find(|d| d.group == OVERALL).map(|d| Change::Paired(d.paired)),
                _ => None,
            };
            ArmDeltas {
                ex: ex_change(verdicts, refa.spider.as_ref(), a.spider.as_ref()),
                ex_0shot: ex_change(verdicts, refa.spider.as_ref(), a.spider_0shot.as_ref()),
                mmlu,
            }
        })
        .collect()
}

#[derive(Clone, Debug, PartialEq)]
pub struct RunsTable {
    pub columns: Vec<Column>,
    /// `rows[i]` belongs to arm `arm_of[i]` (sorting reorders both).
    pub rows: Vec<Vec<Cell>>,
    pub arm_of: Vec<usize>,
    /// The arm the changes are against (from [`arm_deltas`]).
    pub reference: usize,
}

fn mmlu_rate(a: &ArmRuns, group: &str) -> Option<Rate> {
    let (_, stats) = a.mmlu.as_ref()?;
    let s = stats.iter().find(|s| s.group == group)?;
    (s.n > 0).then_some(Rate { value: s.accuracy, n: s.n, lo: s.lo, hi: s.hi })
}

/// The settings keys to show: the adapter's own first, then the others by name; with
/// `differences_only`, only keys set to different values in two arms (an arm without the key —
/// the base has no rank, a training run no Spider batch — is no difference), bookkeeping left out.
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
            !bookkeeping(k) && values.any(|v| Some(v) != first)
        });
    }
    keys
}

/// The training format's columns say so; the 3-shot prompt's are the plain names (the report's).
pub const TRAINING_FORMAT: &str = ", training format";

/// The table of `arms` with their changes against arm `reference` (`deltas`, from [`arm_deltas`]).
pub fn runs_table(arms: &[ArmRuns], deltas: &[ArmDeltas], reference: usize, differences_only: bool) -> RunsTable {
    let keys = setting_keys(arms, differences_only);
    let column = |title: &str, setting: bool, interval: bool| Column { title: title.into(), setting, interval };
    let metric = |title: &str, interval: bool| column(title, false, interval);
    let zero = |title: &str| format!("{title}{TRAINING_FORMAT}");
    let mut columns = vec![metric("run", false), metric("model", false), metric("adapter", false)];
    columns.extend([
        metric("EX official", true),
        metric("EX seed", true),
        metric(&zero("EX official"), true),
        metric(&zero("EX seed"), true),
    ]);
    columns.extend(groups().into_iter().map(|g| metric(&format!("MMLU {g}"), true)));
    columns.extend([metric("Δ EX official", true), metric(&zero("Δ EX official"), true), metric("Δ MMLU Overall", true)]);
    columns.extend([metric("Spider split", false), metric("Spider n", false)]);
    columns.extend(keys.iter().map(|k| column(k, true, false)));
    let no_deltas = ArmDeltas::default();
    let rows = arms
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let d = deltas.get(i).unwrap_or(&no_deltas);
            let mut row =
                vec![Cell::text(a.label()), Cell::text(&a.model), Cell::text(a.adapter.clone().unwrap_or_else(|| "(base)".into()))];
            for s in [&a.spider, &a.spider_0shot] {
                row.push(Cell::rate(s.as_ref().and_then(|s| s.ex_official)));
                row.push(Cell::rate(s.as_ref().and_then(|s| s.ex_seed)));
            }
            row.extend(groups().into_iter().map(|g| Cell::rate(mmlu_rate(a, g))));
            row.extend([Cell::delta(d.ex), Cell::delta(d.ex_0shot), Cell::delta(d.mmlu)]);
            let shown = a.spider.as_ref().or(a.spider_0shot.as_ref()).map(|s| &s.run);
            let n = shown.map(|r| r.n);
            row.push(Cell::text(shown.map_or(String::new(), |r| r.split.clone())));
            row.push(Cell { text: n.map_or(String::new(), |n| n.to_string()), value: n.map(|n| n as f64), interval: None });
            row.extend(keys.iter().map(|k| Cell::text(a.settings.get(k).cloned().unwrap_or_default())));
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
    use crate::compare::verdicts;
    use crate::predictions::PredictionRow;
    use crate::runs::{run_id, RunRow};
    use std::collections::BTreeMap;

    fn spider(adapter: Option<&str>, split: &str, ex: f64) -> SpiderRun {
        let run = RunRow { run_id: run_id("spider", split, "m", adapter), split: split.into(), n: 100, ..Default::default() };
        SpiderRun { run, ex_official: Some(Rate::of(ex, 100)), ex_seed: None }
    }

    fn arm(adapter: Option<&str>, ex: Option<f64>, rank: Option<&str>) -> ArmRuns {
        let mut settings = BTreeMap::from([("spider.batch".to_string(), "16".to_string())]);
        if let Some(r) = rank {
            settings.insert("rank".into(), r.into());
            settings.insert("adapter_path".into(), format!("runs/{r}"));
        }
        ArmRuns {
            model: "m".into(),
            adapter: adapter.map(Into::into),
            spider: ex.map(|e| spider(adapter, "dev", e)),
            spider_0shot: None,
            mmlu: None,
            settings,
        }
    }

    fn col(t: &RunsTable, name: &str) -> usize {
        t.columns.iter().position(|c| c.title == name).unwrap_or_else(|| panic!("no column {name}"))
    }

    #[test]
    fn deltas_are_against_the_reference_and_differences_only_hides_equal_settings() {
        let arms = vec![arm(None, Some(0.10), None), arm(Some("r8"), Some(0.35), Some("8")), arm(Some("r16"), None, Some("16"))];
        let none = Verdicts::new();
        let t = runs_table(&arms, &arm_deltas(&arms, &none, 0), 0, false);
        assert_eq!(t.rows[0][col(&t, "Δ EX official")].text, "reference");
        assert_eq!(t.rows[1][col(&t, "Δ EX official")].text, "+25.0", "no verdicts: the plain difference");
        assert_eq!(t.rows[2][col(&t, "Δ EX official")].text, "", "no EX, no change");
        assert!(t.columns.iter().any(|c| c.title == "spider.batch") && t.columns.iter().any(|c| c.title == "adapter_path"));
        let diff = runs_table(&arms, &arm_deltas(&arms, &none, 1), 1, true);
        assert!(!diff.columns.iter().any(|c| c.title == "spider.batch"), "same in every arm");
        assert!(!diff.columns.iter().any(|c| c.title == "adapter_path"), "bookkeeping");
        assert!(diff.columns.iter().any(|c| c.title == "rank"));
        assert_eq!(diff.rows[0][col(&diff, "Δ EX official")].text, "-25.0");
        // Metrics first: every setting column after every metric column.
        let first_setting = t.columns.iter().position(|c| c.setting).unwrap();
        assert!(t.columns[first_setting..].iter().all(|c| c.setting), "{:?}", t.columns);
    }

    /// Both prompts of an adapter in their own columns, each paired against the reference's 3-shot
    /// run on the questions both answered.
    #[test]
    fn the_training_format_has_its_own_columns_and_paired_intervals() {
        let mut base = arm(None, Some(0.25), None);
        let mut adapter = arm(Some("r8"), Some(0.5), Some("8"));
        adapter.spider_0shot = Some(spider(Some("r8"), "dev@0shot", 0.75));
        base.spider.as_mut().unwrap().run.n = 4;
        let rows = |run: &str, right: [bool; 4]| -> Vec<PredictionRow> {
            let row = |(i, ok)| PredictionRow { run_id: Some(run.to_string()), id: i as i64, ex_official: Some(ok), ..Default::default() };
            right.into_iter().enumerate().map(row).collect()
        };
        let base_id = base.spider.as_ref().unwrap().run.run_id.clone();
        let (three, zero) =
            (adapter.spider.as_ref().unwrap().run.run_id.clone(), adapter.spider_0shot.as_ref().unwrap().run.run_id.clone());
        let preds =
            [rows(&base_id, [true, false, false, false]), rows(&three, [true, true, false, false]), rows(&zero, [true, true, true, false])]
                .concat();
        let arms = vec![base, adapter];
        let t = runs_table(&arms, &arm_deltas(&arms, &verdicts(&preds), 0), 0, true);
        let cell = |name: &str| &t.rows[1][col(&t, name)];
        assert!(cell("EX official").text.starts_with("0.500 ["), "{:?}", cell("EX official"));
        assert!(cell("EX official, training format").text.starts_with("0.750 ["));
        let d0 = cell("Δ EX official, training format");
        assert_eq!(d0.value, Some(0.5));
        assert!(d0.text.starts_with("+50.0 [") && d0.interval.is_some_and(|(lo, hi)| lo <= 0.5 && 0.5 <= hi), "{d0:?}");
        assert_eq!(cell("Δ EX official").value, Some(0.25));
        assert_eq!(t.rows[0][col(&t, "EX official, training format")].text, "", "the base has no run in that format");
    }

    #[test]
    fn sorting_puts_empty_cells_last_and_csv_splits_intervals() {
        let arms = vec![arm(None, Some(0.10), None), arm(Some("r8"), Some(0.35), None), arm(Some("x"), None, None)];
        let mut t = runs_table(&arms, &arm_deltas(&arms, &Verdicts::new(), 0), 0, false);
        let ex = col(&t, "EX official");
        t.sort(ex, true);
        assert_eq!(t.arm_of, vec![1, 0, 2]);
        t.sort(ex, false);
        assert_eq!(t.arm_of, vec![0, 1, 2]);
        let csv = t.to_csv();
        let header = csv.lines().next().unwrap();
        assert!(header.contains("EX official,EX official lo,EX official hi"), "{header}");
        let first = csv.lines().nth(1).unwrap();
        assert!(first.starts_with("m,m,(base),0.100000,"), "{first}");
    }
}
