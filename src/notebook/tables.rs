//! The notebooks' tables and charts, read from a results folder: Spider runs with their execution
//! accuracy (overall, by hardness, by database), failures with their SQLite errors, the questions an
//! adapter fixed and broke (both queries run again to show their results), training curves and the
//! MMLU regression. Accuracy comes from `metric::summary` and the MMLU comparison from
//! `compare::deltas`: the code the CLI and the report use.
use super::display::{Rich, Table};
use crate::metric::exec::{ExecLimits, ReadOnlyDb, Rows};
use crate::metric::summary::{summarize, Summary};
use crate::metric::value::Value;
use crate::results::predictions::{read_predictions, SPIDER_PREDICTIONS_FILE};
use crate::results::PredictionRow;
use crate::spider::hardness::Hardness;
use anyhow::Result;
use sqlora_results::compare::{arms, deltas};
use sqlora_results::mmlu_answers::read_answers;
use sqlora_results::svg_lines::line_chart;
use sqlora_results::train_log::TrainLogRow;
use sqlora_results::view::curves::{series, Metric, XAxis};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// "base" or the adapter, and the prompt, from a Spider run id (`spider/<split>/<model>/<adapter>`).
pub fn run_label(run_id: &str) -> String {
    let parts: Vec<&str> = run_id.splitn(4, '/').collect();
    let adapter = parts.get(3).copied().filter(|a| *a != "-").unwrap_or("base");
    let prompt = if parts.get(1).is_some_and(|s| s.ends_with("@0shot")) { "training format" } else { "3-shot" };
    format!("{adapter}, {prompt}")
}

/// The Spider predictions of the runs on `split` (and `split@0shot`), grouped by run id in order.
pub fn spider_runs(results: &Path, split: &str) -> Result<BTreeMap<String, Vec<PredictionRow>>> {
    let path = results.join(SPIDER_PREDICTIONS_FILE);
    let mut out: BTreeMap<String, Vec<PredictionRow>> = BTreeMap::new();
    if !path.is_file() {
        return Ok(out);
    }
    for r in read_predictions(&path)? {
        let Some(id) = r.run_id.clone() else { continue };
        let s = id.split('/').nth(1).unwrap_or("");
        if s == split || s.strip_suffix("@0shot") == Some(split) {
            out.entry(id).or_default().push(r);
        }
    }
    Ok(out)
}

fn pct(x: f64, n: usize) -> String {
    if n == 0 {
        "—".into()
    } else {
        format!("{:.1}%", 100.0 * x)
    }
}

/// One row per run: questions, SQL that ran, failed, EX official and seed.
pub fn ex_table(runs: &BTreeMap<String, Vec<PredictionRow>>) -> Rich {
    let mut t = Table::new(
        "Execution accuracy per run (official: the Spider evaluator's comparison; seed: the seed notebook's)",
        &["run", "questions", "ran", "failed", "success rate", "EX official", "EX seed"],
    );
    for (id, rows) in runs {
        let s = summarize(rows);
        t.row(vec![
            run_label(id),
            s.n.to_string(),
            s.executed.to_string(),
            s.failed.to_string(),
            pct(s.executed as f64 / s.n.max(1) as f64, s.n),
            pct(s.all.official(), s.all.n),
            pct(s.all.seed(), s.all.n),
        ]);
    }
    t.rich()
}

/// EX official by hardness, one column per run.
pub fn by_hardness(runs: &BTreeMap<String, Vec<PredictionRow>>) -> Rich {
    let sums: Vec<(String, Summary)> = runs.iter().map(|(id, r)| (run_label(id), summarize(r))).collect();
    let mut head = vec!["hardness".to_string()];
    head.extend(sums.iter().map(|(l, _)| l.clone()));
    let mut t = Table { caption: "EX official by hardness (n in brackets)".into(), head, rows: vec![] };
    for h in Hardness::ALL {
        let mut row = vec![h.to_string()];
        for (_, s) in &sums {
            let a = &s.by_hardness[h as usize].1;
            row.push(format!("{} ({})", pct(a.official(), a.n), a.n));
        }
        t.row(row);
    }
    t.rich()
}

/// EX official by database, one column per run; the `top` databases with the most questions.
pub fn by_database(runs: &BTreeMap<String, Vec<PredictionRow>>, top: usize) -> Rich {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    if let Some(rows) = runs.values().next() {
        for r in rows {
            *count.entry(r.db_id.as_str()).or_default() += 1;
        }
    }
    let mut dbs: Vec<(&str, usize)> = count.into_iter().collect();
    dbs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    dbs.truncate(top);
    let mut head = vec!["database".to_string(), "questions".to_string()];
    head.extend(runs.keys().map(|id| run_label(id)));
    let mut t = Table { caption: format!("EX official by database (the {} with the most questions)", dbs.len()), head, rows: vec![] };
    for (db, n) in dbs {
        let mut row = vec![db.to_string(), n.to_string()];
        for rows in runs.values() {
            let of: Vec<PredictionRow> = rows.iter().filter(|r| r.db_id == db).cloned().collect();
            let s = summarize(&of);
            row.push(pct(s.all.official(), s.all.n));
        }
        t.row(row);
    }
    t.rich()
}

/// The first `n` predictions of a run that failed to run, with SQLite's error.
pub fn failures(rows: &[PredictionRow], n: usize) -> Rich {
    let mut t = Table::new("Predictions that did not run, with SQLite's error", &["#", "database", "question", "predicted SQL", "error"]);
    for r in rows.iter().filter(|r| r.error.is_some()).take(n) {
        t.row(vec![r.id.to_string(), r.db_id.clone(), r.question.clone(), r.predicted.clone(), r.error.clone().unwrap_or_default()]);
    }
    if t.rows.is_empty() {
        return Rich::note("Every prediction of this run ran.");
    }
    t.rich()
}

fn value_text(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Int(i) => i.to_string(),
        Value::Real(f) => crate::metric::value::python_float_repr(*f),
        Value::Text(s) => s.clone(),
        Value::Blob(b) => format!("<{} bytes>", b.len()),
    }
}

/// A query's result as text: its first rows, one per line, or the error.
pub fn result_text(data_dir: &Path, db_id: &str, sql: &str, max_rows: usize) -> String {
    let limits = ExecLimits { timeout: Duration::from_secs(5), ..ExecLimits::default() };
    let run = || -> Result<Rows, String> {
        let mut db = ReadOnlyDb::open(&crate::spider::dataset::db_path(data_dir, db_id)).map_err(|e| e.to_string())?;
        db.query(sql, &limits).map_err(|e| e.to_string())
    };
    match run() {
        Ok(rows) => {
            let mut lines: Vec<String> =
                rows.rows.iter().take(max_rows).map(|r| r.iter().map(value_text).collect::<Vec<_>>().join(" | ")).collect();
            if rows.rows.len() > max_rows {
                lines.push(format!("… {} rows in all", rows.rows.len()));
            }
            if lines.is_empty() {
                lines.push("(no rows)".into());
            }
            lines.join("\n")
        }
        Err(e) => format!("error: {e}"),
    }
}

/// The questions `other` answered right and `base` wrong (fixed), and the reverse (broken), up to
/// `n` of each, with both queries and their results side by side.
pub fn fixed_and_broken(data_dir: &Path, base: &[PredictionRow], other: &[PredictionRow], n: usize) -> Rich {
    let by_id: BTreeMap<i64, &PredictionRow> = base.iter().map(|r| (r.id, r)).collect();
    let mut t = Table::new(
        "Questions the adapter fixed and broke (EX official), both answers run on the database",
        &["change", "question", "base SQL", "base result", "adapter SQL", "adapter result"],
    );
    let (mut fixed, mut broken) = (0, 0);
    for o in other {
        let Some(b) = by_id.get(&o.id) else { continue };
        let change = match (b.ex_official, o.ex_official) {
            (Some(false), Some(true)) if fixed < n => {
                fixed += 1;
                "fixed"
            }
            (Some(true), Some(false)) if broken < n => {
                broken += 1;
                "broke"
            }
            _ => continue,
        };
        t.row(vec![
            change.into(),
            format!("{} [{}]", o.question, o.db_id),
            b.predicted.clone(),
            result_text(data_dir, &b.db_id, &b.predicted, 4),
            o.predicted.clone(),
            result_text(data_dir, &o.db_id, &o.predicted, 4),
        ]);
    }
    let (f, k) = count_changes(base, other);
    let summary = Rich::note(&format!("{f} questions fixed and {k} broken in all, of {} answered by both.", paired(base, other)));
    Rich::join([summary, t.rich()])
}

fn paired(base: &[PredictionRow], other: &[PredictionRow]) -> usize {
    let ids: std::collections::HashSet<i64> = base.iter().map(|r| r.id).collect();
    other.iter().filter(|r| ids.contains(&r.id)).count()
}

/// (fixed, broken): questions right only in `other`, right only in `base`.
pub fn count_changes(base: &[PredictionRow], other: &[PredictionRow]) -> (usize, usize) {
    let by_id: BTreeMap<i64, Option<bool>> = base.iter().map(|r| (r.id, r.ex_official)).collect();
    let (mut f, mut b) = (0, 0);
    for o in other {
        match (by_id.get(&o.id).copied().flatten(), o.ex_official) {
            (Some(false), Some(true)) => f += 1,
            (Some(true), Some(false)) => b += 1,
            _ => {}
        }
    }
    (f, b)
}

/// The training and validation loss of these runs' logs, one chart.
pub fn loss_chart(log: &[TrainLogRow]) -> Rich {
    let s = series(log, Metric::Loss, XAxis::Step, 0.0);
    let (title, y) = Metric::Loss.titles();
    // In words: each curve at up to 10 of its points, evenly spaced, the last always.
    let plain = s
        .iter()
        .map(|s| {
            let n = s.points.len();
            let picks: Vec<String> = (0..n.min(10))
                .map(|i| if n <= 10 { i } else { i * (n - 1) / 9 })
                .map(|i| format!("{:.3} @{}", s.points[i].1, s.points[i].0))
                .collect();
            format!("{}: {}", s.label, picks.join(", "))
        })
        .collect::<Vec<_>>()
        .join("\n");
    Rich::new(line_chart(title, XAxis::Step.label(), y, &s), plain)
}

/// The MMLU regression of every adapter against the base on `split`: overall and per category,
/// points and % change, the paired bootstrap interval and McNemar p; then the report's two charts.
pub fn mmlu_regression(results: &Path, split: &str) -> Result<Rich> {
    let path = results.join(sqlora_results::mmlu_answers::MMLU_ANSWERS_FILE);
    if !path.is_file() {
        return Ok(Rich::note(&format!("No MMLU answers in {} yet.", results.display())));
    }
    let all = arms(read_answers(&path)?, split);
    let Some(base) = all.iter().find(|a| a.adapter.is_none()) else {
        return Ok(Rich::note(&format!("No base-model answers on {split} to compare with.")));
    };
    let mut t = Table::new(
        &format!("MMLU {split}: each adapter against the base model on the same questions"),
        &["adapter", "group", "n", "base", "adapter acc.", "change (pts) [95%]", "% change", "McNemar p"],
    );
    let mut charted = Vec::new();
    for a in all.iter().filter(|a| a.adapter.is_some()) {
        let ds = deltas(base, a);
        for d in &ds {
            let p = &d.paired;
            let rel = if d.base_accuracy > 0.0 {
                format!("{:+.1}%", 100.0 * (d.accuracy - d.base_accuracy) / d.base_accuracy)
            } else {
                "—".into()
            };
            t.row(vec![
                a.adapter.clone().unwrap_or_default(),
                d.group.to_string(),
                d.n.to_string(),
                format!("{:.3}", d.base_accuracy),
                format!("{:.3}", d.accuracy),
                format!("{:+.1} [{:+.1}, {:+.1}]", 100.0 * p.diff, 100.0 * p.lo, 100.0 * p.hi),
                rel,
                format!("{:.3}", p.p_mcnemar),
            ]);
        }
        charted.push((a.adapter.clone().unwrap_or_default(), ds));
    }
    let stats: Vec<(String, Vec<_>)> =
        all.iter().map(|a| (a.adapter.clone().unwrap_or_else(|| "base".into()), sqlora_results::compare::group_stats(a))).collect();
    let mut parts = vec![t.rich()];
    parts.push(Rich::new(
        sqlora_results::svg::category_chart(&format!("MMLU accuracy per category ({split})"), &stats),
        "chart: accuracy per category, one bar per model".into(),
    ));
    if !charted.is_empty() {
        parts.push(Rich::new(
            sqlora_results::svg::delta_chart(&format!("Change against the base ({split})"), &charted),
            "chart: each adapter's change per category with its 95% interval".into(),
        ));
    }
    Ok(Rich::join(parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, ok: Option<bool>) -> PredictionRow {
        PredictionRow {
            id,
            db_id: "concert_singer".into(),
            gold: "SELECT 1".into(),
            predicted: "SELECT 1".into(),
            ex_official: ok,
            ex_seed: ok,
            ..PredictionRow::default()
        }
    }

    #[test]
    fn run_labels_name_the_arm_and_the_prompt() {
        assert_eq!(run_label("spider/dev-subset-10/m.gguf/-"), "base, 3-shot");
        assert_eq!(run_label("spider/dev@0shot/m.gguf/r8-all"), "r8-all, training format");
    }

    #[test]
    fn changes_pair_questions_by_id() {
        let base = vec![row(0, Some(false)), row(1, Some(true)), row(2, Some(true)), row(3, None)];
        let other = vec![row(1, Some(false)), row(0, Some(true)), row(2, Some(true)), row(3, Some(true)), row(9, Some(true))];
        assert_eq!(count_changes(&base, &other), (1, 1));
        assert_eq!(paired(&base, &other), 4);
    }
}
