//! The sections of `report.md` that read a study across its runs: each adapter's gain and cost in
//! one row (the README's table), MMLU on every split it was scored on, the data-scaling curve (EX on
//! the fixed stratified slice of dev against the examples an adapter had seen), and the wall time
//! of the study's steps (`steps/`, one file per step that `scripts/study.sh` finished: its seconds
//! and the binary's commit). Each section appears only when its inputs are in the results folder.
use super::compare::{arms, deltas, group_stats, spider_diff, Arm, Verdicts};
use super::markdown::{p_value, paired_pts, ArmReport};
use crate::evaluation::cli::STRATIFIED_PREFIX;
use crate::results::mmlu_answers::AnswerRow;
use crate::results::runs::{is_zero_shot, RunRow};
use anyhow::{Context, Result};
use sqlora_results::stats::{wilson, Z95};
use sqlora_results::svg_lines::{line_chart, Series};
use std::fmt::Write;
use std::path::Path;

/// The folder of step markers `scripts/study.sh` keeps beside the results.
pub const STEPS_DIR: &str = "steps";
/// The data-scaling chart written beside report.md when the results hold slice runs.
pub const SCALING_CHART: &str = "data_scaling.svg";
/// MMLU splits in the order a reader wants them: the seed's sample, validation, test.
const SPLIT_ORDER: [&str; 3] = ["sample150", "val", "test"];

fn hours(s: f64) -> String {
    if s >= 3600.0 {
        format!("{:.1} h", s / 3600.0)
    } else if s < 60.0 {
        format!("{s:.0} s")
    } else {
        format!("{:.0} min", s / 60.0)
    }
}

/// A JSON column (settings, metrics) of a run, or null.
pub(crate) fn json(t: &Option<String>) -> serde_json::Value {
    t.as_deref().and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default()
}

/// One setting of a training row as the report prints it: a list joined by commas, a string bare, a
/// missing one as "—".
pub(crate) fn setting(x: &serde_json::Value) -> String {
    match x {
        serde_json::Value::Null => "—".to_string(),
        serde_json::Value::String(t) => t.clone(),
        serde_json::Value::Array(a) => a.iter().map(|e| e.as_str().map_or(e.to_string(), String::from)).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// The training row of an adapter (its settings and summary), by name.
fn train_row<'a>(train: &'a [RunRow], adapter: &str) -> Option<&'a RunRow> {
    train.iter().find(|r| r.adapter.as_deref() == Some(adapter))
}

/// One row per adapter: Spider EX gained with both prompts, MMLU changed overall and per category
/// (each Δ with its paired interval), the training's wall time and tokens.
pub fn at_a_glance(s: &mut String, split: &str, reports: &[ArmReport], train: &[RunRow]) {
    let with: Vec<&ArmReport> = reports.iter().filter(|a| a.vs_base.is_some()).collect();
    if with.is_empty() {
        return;
    }
    let groups: Vec<&str> = with[0].vs_base.as_ref().expect("filtered").iter().map(|d| d.group).collect();
    let _ = writeln!(s, "## Each adapter at a glance\n");
    let _ = writeln!(
        s,
        "Every Δ is in points against the base model on the same questions, with its paired bootstrap 95% \
         interval: Spider official EX on dev (both against the base's 3-shot run), MMLU `{split}` overall and \
         per category. Wall time and tokens are the fine-tune's own.\n"
    );
    let _ = writeln!(
        s,
        "| adapter | Spider EX Δ, 3-shot | Spider EX Δ, training format | MMLU Δ {} | training | tokens |",
        groups.join(" | MMLU Δ ")
    );
    let _ = writeln!(s, "|---|---|---|{}---|---|", "---|".repeat(groups.len()));
    for a in with {
        let d = |p: &Option<_>| p.as_ref().map_or("—".to_string(), paired_pts);
        let mmlu: Vec<String> = a.vs_base.as_ref().expect("filtered").iter().map(|d| paired_pts(&d.paired)).collect();
        let t = a.adapter.as_deref().and_then(|n| train_row(train, n));
        let wall = t.and_then(|t| t.wall_s).map_or("—".into(), hours);
        let tokens = t.and_then(|t| json(&t.metrics)["tokens_seen"].as_u64()).map_or("—".into(), |k| k.to_string());
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {wall} | {tokens} |",
            a.label(),
            d(&a.spider_vs_base[0]),
            d(&a.spider_vs_base[1]),
            mmlu.join(" | ")
        );
    }
    s.push('\n');
}

/// An adapter named with this prefix is its sweep's reference setting (`data/finetune/study.toml`).
pub const REFERENCE_PREFIX: &str = "ref-";
/// The settings a one-factor-at-a-time sweep varies, as the training rows spell them.
const FACTORS: [(&str, &str); 5] = [("rank", "r"), ("alpha", "α"), ("lr", "lr"), ("targets", "targets"), ("epochs", "epochs")];

/// The settings where `a` differs from `reference`, as "r 8, α 16" (their training rows' settings).
fn differences(a: &serde_json::Value, reference: &serde_json::Value) -> String {
    let d: Vec<String> =
        FACTORS.iter().filter(|(k, _)| a[*k] != reference[*k]).map(|(k, label)| format!("{label} {}", setting(&a[*k]))).collect();
    if d.is_empty() {
        "—".into()
    } else {
        d.join(", ")
    }
}

/// The sweep read the way it was designed: each setting paired with the reference setting (the
/// adapter named `ref-…`) on the same questions — Spider official EX with both prompts, MMLU `split`
/// overall — so that "does rank 32 beat rank 16" has an interval and a p, not two intervals against
/// the base to eyeball. Only adapters trained on as many examples as the reference (its sweep).
pub fn against_reference(s: &mut String, split: &str, arms: &[Arm], reports: &[ArmReport], train: &[RunRow], v: &Verdicts) {
    let Some(reference) = reports.iter().find(|r| r.adapter.as_deref().is_some_and(|n| n.starts_with(REFERENCE_PREFIX))) else {
        return;
    };
    let name = reference.label();
    let Some(ref_train) = train_row(train, &name) else { return };
    let settings = json(&ref_train.settings);
    let rows: Vec<(&ArmReport, &RunRow)> = reports
        .iter()
        .filter(|r| r.model == reference.model && r.adapter.is_some() && r.label() != name)
        .filter_map(|r| train_row(train, &r.label()).filter(|t| t.n == ref_train.n).map(|t| (r, t)))
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(s, "## Each setting against the reference `{name}`\n");
    let _ = writeln!(
        s,
        "The sweep changes one setting of `{name}` at a time; each row is that change, paired with `{name}` \
         on the same questions (points, paired bootstrap 95% interval, exact McNemar p): Spider official EX on \
         dev with the 3-shot prompt and in the training format, MMLU `{split}` overall. An interval that holds \
         0 cannot rank the two settings.\n"
    );
    let _ = writeln!(s, "| adapter | differs in | Spider EX Δ, 3-shot | Spider EX Δ, training format | MMLU Δ | final val loss |");
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    let arm_of = |r: &ArmReport| arms.iter().find(|a| a.model == r.model && a.adapter == r.adapter);
    for (r, t) in rows {
        let spider = |ours: &Option<RunRow>, theirs: &Option<RunRow>| match (ours, theirs) {
            (Some(o), Some(b)) => {
                spider_diff(v, &b.run_id, &o.run_id).map_or("—".into(), |d| format!("{}, {}", paired_pts(&d), p_value(d.p_mcnemar)))
            }
            _ => "—".into(),
        };
        let mmlu = match (arm_of(reference), arm_of(r)) {
            (Some(b), Some(a)) => {
                let d = &deltas(b, a)[0];
                format!("{}, {}", paired_pts(&d.paired), p_value(d.paired.p_mcnemar))
            }
            _ => "—".into(),
        };
        let loss = json(&t.metrics)["final_val_loss"].as_f64().map_or("—".into(), |l| format!("{l:.4}"));
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {mmlu} | {loss} |",
            r.label(),
            differences(&json(&t.settings), &settings),
            spider(&r.spider, &reference.spider),
            spider(&r.spider_zero, &reference.spider_zero)
        );
    }
    s.push('\n');
}

/// MMLU overall for every arm on every split it was scored on, each adapter paired with its base.
pub fn every_split(s: &mut String, answers: &[AnswerRow]) {
    let mut splits: Vec<String> = answers.iter().map(|r| r.split.clone()).collect();
    splits.sort_by_key(|x| (SPLIT_ORDER.iter().position(|o| o == x).unwrap_or(SPLIT_ORDER.len()), x.clone()));
    splits.dedup();
    if splits.len() < 2 {
        return;
    }
    let _ = writeln!(s, "## MMLU on every split\n");
    let _ = writeln!(
        s,
        "Overall accuracy (Wilson 95%) and the change against the base on the same questions (paired \
         bootstrap 95% interval, exact McNemar p). The larger splits narrow the interval: about ±7 points \
         on 150 questions, ±2 on the 1,531 of validation, under ±1 on the 14,042 of test.\n"
    );
    let _ = writeln!(s, "| split | n | adapter | accuracy | Δ (pts) [95% CI] | McNemar p |");
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    for split in &splits {
        let of: Vec<AnswerRow> = answers.iter().filter(|r| &r.split == split).cloned().collect();
        let all: Vec<Arm> = arms(of, split);
        for a in &all {
            let overall = &group_stats(a)[0];
            let base = all.iter().find(|b| b.model == a.model && b.adapter.is_none());
            let (d, p) = match (base, &a.adapter) {
                (Some(b), Some(_)) => {
                    let d = &deltas(b, a)[0];
                    (paired_pts(&d.paired), p_value(d.paired.p_mcnemar))
                }
                _ => ("—".into(), "—".into()),
            };
            let _ = writeln!(
                s,
                "| {split} | {} | {} | {:.3} [{:.3}, {:.3}] | {d} | {p} |",
                overall.n,
                a.label(),
                overall.accuracy,
                overall.lo,
                overall.hi
            );
        }
    }
    s.push('\n');
}

/// One point of the data-scaling curve: a run on the stratified slice in the training format.
pub struct ScalePoint {
    pub label: String,
    pub examples_seen: usize,
    pub run: RunRow,
}

/// The slice runs in the training format, each with the examples its adapter had seen (the base:
/// none; a snapshot: its `examples_seen`; a finished run: its train examples × epochs), in order.
pub fn scaling_points(runs: &[RunRow], train: &[RunRow]) -> Vec<ScalePoint> {
    let mut out: Vec<ScalePoint> = runs
        .iter()
        .filter(|r| r.task == "spider" && r.split.starts_with(STRATIFIED_PREFIX) && is_zero_shot(&r.split))
        .filter_map(|r| {
            let seen = match &r.adapter {
                None => 0,
                Some(name) => {
                    let t = train_row(train, name)?;
                    let (m, set) = (json(&t.metrics), json(&t.settings));
                    match m["examples_seen"].as_u64() {
                        Some(k) => k as usize,
                        None => (m["train_examples"].as_u64()? * set["epochs"].as_u64().unwrap_or(1)) as usize,
                    }
                }
            };
            Some(ScalePoint { label: r.adapter.clone().unwrap_or_else(|| "base".into()), examples_seen: seen, run: r.clone() })
        })
        .collect();
    out.sort_by_key(|p| (p.run.split.clone(), p.run.model.clone(), p.examples_seen, p.label.clone()));
    out
}

/// The data-scaling table; returns the chart's SVG when there is a curve to draw (two points or more).
pub fn data_scaling(s: &mut String, points: &[ScalePoint], v: &Verdicts) -> Option<String> {
    let adapters = points.iter().filter(|p| p.run.adapter.is_some()).count();
    if adapters == 0 {
        return None;
    }
    let _ = writeln!(s, "## Data scaling: EX against examples seen\n");
    let _ = writeln!(
        s,
        "Official EX on a fixed stratified slice of dev (its hardness mix, the databases taking turns), the \
         training format, for the base and each adapter kept along a run; Δ against the base on the slice, \
         and against the point before it on the curve, so a rise or a dip between two sizes reads with its \
         noise (paired bootstrap 95%, exact McNemar p).\n"
    );
    let _ =
        writeln!(s, "| adapter | examples seen | slice | EX official [Wilson 95%] | Δ vs base (pts) [95% CI], p | Δ vs the point before |");
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    let diff = |a: &ScalePoint, b: &ScalePoint| {
        spider_diff(v, &a.run.run_id, &b.run.run_id).map_or("—".into(), |d| format!("{}, {}", paired_pts(&d), p_value(d.p_mcnemar)))
    };
    for (i, p) in points.iter().enumerate() {
        let r = &p.run;
        let k = (r.score * r.n as f64).round() as usize;
        let (lo, hi) = wilson(k, r.n.max(0) as usize, Z95);
        let same_curve = |b: &&ScalePoint| b.run.split == r.split && b.run.model == r.model;
        let base = points.iter().filter(same_curve).find(|b| b.run.adapter.is_none());
        // Points are sorted by curve, then examples seen: the one before on the same curve, if any.
        let before = points[..i].iter().rev().find(same_curve);
        // The base is the curve's first point: it is compared with nothing.
        let vs = |other: Option<&ScalePoint>| other.filter(|_| r.adapter.is_some()).map_or("—".into(), |o| diff(o, p));
        let (d, step) = (vs(base), vs(before));
        let _ = writeln!(
            s,
            "| {} | {} | {} (n={}) | {:.3} [{:.3}, {:.3}] | {d} | {step} |",
            p.label, p.examples_seen, r.split, r.n, r.score, lo, hi
        );
    }
    s.push('\n');
    if points.len() < 2 {
        return None;
    }
    let _ = writeln!(s, "![{SCALING_CHART}]({SCALING_CHART})\n");
    let series = Series {
        label: "EX official, slice".into(),
        color: 0,
        dashed: false,
        points: points.iter().map(|p| (p.examples_seen as f64, p.run.score)).collect(),
    };
    Some(line_chart("Spider EX on the stratified slice against examples seen", "examples seen", "EX official", &[series]))
}

/// A finished step of the study: its name, wall seconds, the commit of the binary that ran it and the
/// machine it ran on (the study spans sittings, and a sitting may get another CPU).
pub struct Step {
    pub name: String,
    pub seconds: u64,
    pub commit: String,
    pub machine: String,
}

/// The step markers in `dir/steps` (none when the folder is not a study's).
pub fn read_steps(dir: &Path) -> Result<Vec<Step>> {
    let steps = dir.join(STEPS_DIR);
    if !steps.is_dir() {
        return Ok(vec![]);
    }
    let mut out = Vec::new();
    for e in std::fs::read_dir(&steps).with_context(|| format!("reading {}", steps.display()))? {
        let p = e?.path();
        let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        // One line: seconds, commit, then the machine as free text (markers older than it have none).
        let mut f = text.trim().splitn(3, ' ');
        let seconds = f.next().and_then(|x| x.parse().ok()).with_context(|| format!("{}: no seconds", p.display()))?;
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let commit = f.next().unwrap_or("unknown").to_string();
        out.push(Step { name, seconds, commit, machine: f.next().unwrap_or("unknown").trim().to_string() });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The study's wall time: the sum over its finished steps, and each step's share.
pub fn wall_time(s: &mut String, steps: &[Step]) {
    if steps.is_empty() {
        return;
    }
    let total: u64 = steps.iter().map(|x| x.seconds).sum();
    let mut commits: Vec<&str> = steps.iter().map(|x| &x.commit[..x.commit.len().min(7)]).collect();
    commits.sort_unstable();
    commits.dedup();
    let _ = writeln!(s, "## Wall time of the study\n");
    let _ = writeln!(
        s,
        "{} steps finished, **{}** of wall time in all (each step's own clock, on the machine that ran it; \
         binaries of commit {}).\n",
        steps.len(),
        hours(total as f64),
        commits.join(", ")
    );
    // Each machine's share: wall times are only comparable on one machine.
    let mut machines: Vec<&str> = steps.iter().map(|x| x.machine.as_str()).collect();
    machines.sort_unstable();
    machines.dedup();
    let _ = writeln!(s, "| machine | steps | wall |\n|---|---|---|");
    for m in &machines {
        let on: Vec<&Step> = steps.iter().filter(|x| x.machine == *m).collect();
        let _ = writeln!(s, "| {m} | {} | {} |", on.len(), hours(on.iter().map(|x| x.seconds as f64).sum()));
    }
    let _ = writeln!(s, "\n| step | wall | machine |\n|---|---|---|");
    for x in steps {
        let _ = writeln!(s, "| {} | {} | {} |", x.name, hours(x.seconds as f64), x.machine);
    }
    s.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spider(split: &str, adapter: Option<&str>, score: f64, n: i64) -> RunRow {
        RunRow {
            run_id: crate::results::runs::run_id("spider", split, "m", adapter),
            task: "spider".into(),
            split: split.into(),
            model: "m".into(),
            adapter: adapter.map(Into::into),
            score,
            n,
            ..Default::default()
        }
    }

    fn train(adapter: &str, metrics: &str, settings: &str) -> RunRow {
        RunRow {
            task: "train".into(),
            adapter: Some(adapter.into()),
            metrics: Some(metrics.into()),
            settings: Some(settings.into()),
            wall_s: Some(5400.0),
            ..Default::default()
        }
    }

    /// Snapshots sit at the examples they had seen, a finished run at its examples × epochs, the base
    /// at zero; runs on the whole split or with the 3-shot prompt are not on the curve.
    #[test]
    fn the_scaling_curve_places_each_slice_run_at_its_examples_seen() {
        let runs = vec![
            spider("dev-strat-300@0shot", Some("h"), 0.2, 300),
            spider("dev-strat-300@0shot", None, 0.03, 300),
            spider("dev-strat-300@0shot", Some("h-at-000500"), 0.1, 300),
            spider("dev@0shot", Some("h"), 0.15, 1034),
            spider("dev-strat-300", Some("h"), 0.1, 300),
            spider("dev-strat-300@0shot", Some("untrained-here"), 0.1, 300),
        ];
        let train = vec![
            train("h", r#"{"train_examples": 4000, "tokens_seen": 9}"#, r#"{"epochs": 2}"#),
            train("h-at-000500", r#"{"examples_seen": 504, "train_examples": 504}"#, r#"{"epochs": 1}"#),
        ];
        let p = scaling_points(&runs, &train);
        let got: Vec<(&str, usize)> = p.iter().map(|p| (p.label.as_str(), p.examples_seen)).collect();
        assert_eq!(got, vec![("base", 0), ("h-at-000500", 504), ("h", 8000)]);
        // Four questions: the base right on none, the snapshot on the first two, the finished run on
        // the first one and the last two; each point is paired with the base and with the one before.
        let mut v = Verdicts::new();
        for (point, right) in [(&p[0], [false; 4]), (&p[1], [true, true, false, false]), (&p[2], [true, false, true, true])] {
            v.insert(point.run.run_id.clone(), (0..4).map(|q| (q as i64, right[q])).collect());
        }
        let mut s = String::new();
        let svg = data_scaling(&mut s, &p, &v).expect("three points draw a curve");
        let row = |label: &str| s.lines().find(|l| l.starts_with(&format!("| {label} |"))).unwrap_or_default().to_string();
        let cells = |label: &str| row(label).trim_end_matches(" |").split(" | ").map(str::to_string).collect::<Vec<_>>();
        assert!(row("h").starts_with("| h | 8000 | dev-strat-300@0shot (n=300) | 0.200 [") && svg.starts_with("<svg"), "{s}");
        // +75 points against the base (0 → 3 of 4), +25 against the snapshot (2 → 3 of 4).
        assert!(cells("h")[4].starts_with("+75.0 [") && cells("h")[5].starts_with("+25.0 ["), "{s}");
        // The first snapshot's point before it is the base itself.
        assert!(cells("h-at-000500")[4].starts_with("+50.0 [") && cells("h-at-000500")[5] == cells("h-at-000500")[4], "{s}");
        assert!(row("base").ends_with("| — | — |"), "{s}");
    }

    /// A sweep setting is paired with the reference on the same questions, named by what it changed;
    /// an adapter of another training size (the headline) is not part of the sweep's table.
    #[test]
    fn each_setting_is_paired_with_the_reference() {
        use crate::results::mmlu_answers::AnswerRow;
        // MMLU: 40 questions; the reference right on the first 10, r8 on the first 14 (+10 pts, c = 4).
        let answers: Vec<AnswerRow> = [(None, 0), (Some("ref-r16"), 10), (Some("r8"), 14), (Some("big"), 0)]
            .into_iter()
            .flat_map(|(adapter, right)| {
                (0..40).map(move |i| AnswerRow {
                    model: "m".into(),
                    adapter: adapter.map(Into::into),
                    split: "val".into(),
                    subject: "s".into(),
                    category: crate::mmlu::CATEGORIES[i % 4].into(),
                    row: i as i64,
                    correct: i < right,
                    ..Default::default()
                })
            })
            .collect();
        let all = arms(answers, "val");
        let mut runs = Vec::new();
        let mut v = Verdicts::new();
        // Spider: 20 questions; 3-shot the reference right on 8, r8 on 2 (−30 pts, b = 6: p = 2·0.5⁶).
        for (adapter, right) in [(None, 1), (Some("ref-r16"), 8), (Some("r8"), 2), (Some("big"), 9)] {
            let r = spider("dev", adapter, right as f64 / 20.0, 20);
            v.insert(r.run_id.clone(), (0..20).map(|i| (i, i < right)).collect());
            runs.push(r);
        }
        runs.push(train("ref-r16", r#"{"final_val_loss": 0.47}"#, r#"{"rank": 16, "alpha": 32.0, "lr": 0.0005, "epochs": 1}"#));
        runs.push(train("r8", r#"{"final_val_loss": 0.51}"#, r#"{"rank": 8, "alpha": 16.0, "lr": 0.0005, "epochs": 1}"#));
        runs.push(RunRow { n: 8000, ..train("big", "{}", r#"{"rank": 16}"#) });
        let reports = crate::report::cli::build(&all, &runs, &v);
        let train: Vec<RunRow> = runs.iter().filter(|r| r.task == "train").cloned().collect();
        let mut s = String::new();
        against_reference(&mut s, "val", &all, &reports, &train, &v);
        assert!(s.contains("## Each setting against the reference `ref-r16`"), "{s}");
        assert!(s.contains("| r8 | r 8, α 16.0 | -30.0 ["), "{s}");
        assert!(s.contains("], 0.031 | — | +10.0 ["), "{s}");
        assert!(s.contains("], 0.125 | 0.5100 |"), "{s}");
        assert!(!s.contains("| big |"), "another training size is not a sweep setting: {s}");
        // Without a reference there is nothing to pair with.
        let without: Vec<ArmReport> = reports.into_iter().filter(|r| r.adapter.as_deref() != Some("ref-r16")).collect();
        let mut none = String::new();
        against_reference(&mut none, "val", &all, &without, &train, &v);
        assert!(none.is_empty());
    }

    #[test]
    fn the_wall_time_sums_the_steps_markers() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_steps(dir.path()).unwrap().is_empty(), "no steps folder: not a study");
        std::fs::create_dir(dir.path().join(STEPS_DIR)).unwrap();
        std::fs::write(dir.path().join(STEPS_DIR).join("base-dev-3shot"), "600 d773a258bebb\n").unwrap();
        std::fs::write(dir.path().join(STEPS_DIR).join("r8-all-train"), "6600 e0d9452aaaa AMD EPYC, 2 cores, avx512f\n").unwrap();
        let steps = read_steps(dir.path()).unwrap();
        let mut s = String::new();
        wall_time(&mut s, &steps);
        assert!(
            s.contains("2 steps finished, **2.0 h**")
                && s.contains("d773a25, e0d9452")
                && s.contains("| r8-all-train | 1.8 h | AMD EPYC, 2 cores, avx512f |")
                && s.contains("| base-dev-3shot | 10 min | unknown |")
                && s.contains("| AMD EPYC, 2 cores, avx512f | 1 | 1.8 h |"),
            "{s}"
        );
        std::fs::write(dir.path().join(STEPS_DIR).join("torn"), "").unwrap();
        assert!(read_steps(dir.path()).is_err(), "a marker without seconds is named");
    }
}
