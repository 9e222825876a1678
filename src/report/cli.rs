//! `sqlora report`: reads `mmlu_answers.parquet` and `runs.parquet` from the output directory and
//! writes `report.md` with the SVG charts beside it.
use super::compare::{arms, deltas, group_stats, spider_diff, verdicts, Arm, Verdicts};
use super::markdown::{render, ArmReport, StudySections};
use super::study;
use super::svg::{category_chart, delta_chart};
use crate::mmlu::cli::SplitArg;
use crate::results::mmlu_answers::{read_answers, MMLU_ANSWERS_FILE};
use crate::results::predictions::{read_predictions, SPIDER_PREDICTIONS_FILE};
use crate::results::runs::{read_runs, spider_run, RunRow, RUNS_FILE};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// The folder `sqlora mmlu` (and the Spider runs) wrote to; the report goes there too.
    #[command(flatten)]
    pub out: crate::cli_args::OutDirArg,
    /// Which MMLU answers to compare.
    #[arg(long, value_enum, default_value = "sample150")]
    pub split: SplitArg,
}

pub const REPORT_FILE: &str = "report.md";
pub const CATEGORY_CHART: &str = "mmlu_categories.svg";
pub const DELTA_CHART: &str = "mmlu_delta.svg";

/// Every arm with its statistics, comparisons against its base and Spider runs.
pub fn build(arms: &[Arm], runs: &[RunRow], v: &Verdicts) -> Vec<ArmReport> {
    arms.iter()
        .map(|a| {
            let base = arms.iter().find(|b| b.model == a.model && b.adapter.is_none());
            let spider_base = spider_run(runs, &a.model, None, false).cloned();
            let spider = spider_run(runs, &a.model, a.adapter.as_deref(), false).cloned();
            let spider_zero = spider_run(runs, &a.model, a.adapter.as_deref(), true).cloned();
            let diff = |r: &Option<RunRow>| match (&spider_base, r) {
                (Some(b), Some(r)) if a.adapter.is_some() => spider_diff(v, &b.run_id, &r.run_id),
                _ => None,
            };
            ArmReport {
                model: a.model.clone(),
                adapter: a.adapter.clone(),
                stats: group_stats(a),
                vs_base: base.filter(|_| a.adapter.is_some()).map(|b| deltas(b, a)),
                spider_vs_base: [diff(&spider), diff(&spider_zero)],
                spider,
                spider_zero,
                spider_base,
            }
        })
        .collect()
}

pub fn run(a: ReportArgs) -> Result<()> {
    let path = a.out.out_dir.join(MMLU_ANSWERS_FILE);
    if !path.exists() {
        bail!("{} does not exist: run `sqlora mmlu --out-dir {}` first", path.display(), a.out.out_dir.display());
    }
    let split = a.split.label();
    let answers = read_answers(&path)?;
    let arms = arms(answers.clone(), split);
    if arms.is_empty() {
        bail!("{} has no answers for split {split}", path.display());
    }
    // Folders written before evaluations gathered their adapters' training get it now.
    let gathered = crate::finetune::gather::gather_recorded(&a.out.out_dir)?;
    if gathered > 0 {
        println!("gathered the training log and settings of {gathered} adapter(s) into {}", a.out.out_dir.display());
    }
    let runs = read_runs(&a.out.out_dir.join(RUNS_FILE))?;
    let preds = a.out.out_dir.join(SPIDER_PREDICTIONS_FILE);
    let v = if preds.exists() { verdicts(&read_predictions(&preds)?) } else { Verdicts::new() };
    let reports = build(&arms, &runs, &v);
    let files = write(&a.out.out_dir, split, &arms, &reports, &runs, &Study { answers: &answers, verdicts: &v })?;
    for f in files {
        println!("wrote {}", f.display());
    }
    Ok(())
}

/// What the study's sections read besides the one split's arms: every MMLU answer, every Spider verdict.
pub struct Study<'a> {
    pub answers: &'a [crate::results::mmlu_answers::AnswerRow],
    pub verdicts: &'a Verdicts,
}

/// Writes report.md and the charts; returns the paths written.
pub fn write(out_dir: &Path, split: &str, arms: &[Arm], reports: &[ArmReport], runs: &[RunRow], with: &Study<'_>) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let mut put = |name: &str, text: String| -> Result<()> {
        let p = out_dir.join(name);
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
        written.push(p);
        Ok(())
    };
    let mut charts = vec![CATEGORY_CHART];
    let stats: Vec<(String, Vec<_>)> =
        reports.iter().map(|r| (format!("{}{}", r.label(), model_suffix(reports, &r.model)), r.stats.clone())).collect();
    put(CATEGORY_CHART, category_chart(&format!("MMLU accuracy per category ({split})"), &stats))?;
    let deltas: Vec<(String, Vec<_>)> = reports.iter().filter_map(|r| r.vs_base.clone().map(|d| (r.label(), d))).collect();
    if !deltas.is_empty() {
        put(DELTA_CHART, delta_chart(&format!("MMLU change against the base ({split})"), &deltas))?;
        charts.push(DELTA_CHART);
    }
    let n = arms.iter().map(|a| a.rows.len()).max().unwrap_or(0);
    let full: Vec<RunRow> = runs.iter().filter(|r| r.task == "mmlu" && r.split != "sample150").cloned().collect();
    let train: Vec<RunRow> = runs.iter().filter(|r| r.task == "train").cloned().collect();
    let mut sections = StudySections::default();
    study::at_a_glance(&mut sections.glance, split, reports, &train);
    study::against_reference(&mut sections.glance, split, arms, reports, &train, with.verdicts);
    study::every_split(&mut sections.rest, with.answers);
    let points = study::scaling_points(runs, &train);
    if let Some(svg) = study::data_scaling(&mut sections.rest, &points, with.verdicts) {
        put(study::SCALING_CHART, svg)?;
    }
    study::wall_time(&mut sections.rest, &study::read_steps(out_dir)?);
    put(REPORT_FILE, render(split, n, reports, &full, &train, &charts, &sections))?;
    Ok(written)
}

/// " (model)" when the report holds more than one base model, so legend entries stay distinct.
fn model_suffix(reports: &[ArmReport], model: &str) -> String {
    if reports.iter().any(|r| r.model != model) {
        format!(" ({model})")
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::mmlu_answers::{record_answers, AnswerRow};
    use crate::results::predictions::PredictionRow;
    use crate::results::runs::{record_runs, run_id};

    #[test]
    fn report_puts_spider_gain_beside_mmlu_cost_and_writes_charts() {
        let dir = tempfile::tempdir().unwrap();
        let answers = dir.path().join(MMLU_ANSWERS_FILE);
        for (adapter, right_every) in [(None, 3), (Some("r16"), 4)] {
            let rows: Vec<AnswerRow> = (0..80)
                .map(|i| AnswerRow {
                    model: "m.gguf".into(),
                    adapter: adapter.map(Into::into),
                    split: "sample150".into(),
                    subject: "s".into(),
                    category: crate::mmlu::CATEGORIES[i % 4].into(),
                    row: i as i64,
                    correct: i % right_every == 0,
                    p_gold: 0.3,
                    ..Default::default()
                })
                .collect();
            record_answers(&answers, "m.gguf", adapter, "sample150", rows).unwrap();
        }
        let spider = |adapter: Option<&str>, score: f64| RunRow {
            run_id: run_id("spider", "dev", "m.gguf", adapter),
            task: "spider".into(),
            split: "dev".into(),
            model: "m.gguf".into(),
            adapter: adapter.map(Into::into),
            metric: "ex_official".into(),
            score,
            n: 1034,
            ..Default::default()
        };
        let zero = RunRow {
            run_id: run_id("spider", "dev@0shot", "m.gguf", Some("r16")),
            split: "dev@0shot".into(),
            score: 0.5,
            ..spider(Some("r16"), 0.5)
        };
        let train = RunRow {
            run_id: run_id("train", "spider-train", "m.gguf", Some("r16")),
            task: "train".into(),
            split: "spider-train".into(),
            metric: "final_val_loss".into(),
            score: 0.41,
            n: 2000,
            settings: Some(r#"{"rank":16,"alpha":32.0,"lr":0.0005,"targets":["all"],"epochs":1,"numerics":"int8","steps":640}"#.into()),
            metrics: Some(r#"{"tokens_seen":1234567,"tokens_per_s":402.5,"final_val_loss":0.4101}"#.into()),
            wall_s: Some(3067.0),
            ..spider(Some("r16"), 0.0)
        };
        record_runs(&dir.path().join(RUNS_FILE), vec![spider(None, 0.10), spider(Some("r16"), 0.35), zero.clone(), train]).unwrap();
        // Per-question verdicts of the three runs on 20 questions: base right on 2, the adapter on
        // 7 (3-shot, a superset) and on 10 (training format).
        let preds: Vec<PredictionRow> = [(spider(None, 0.0).run_id, 2), (spider(Some("r16"), 0.0).run_id, 7), (zero.run_id, 10)]
            .into_iter()
            .flat_map(|(run, right)| {
                (0..20).map(move |i| PredictionRow { id: i, run_id: Some(run.clone()), ex_official: Some(i < right), ..Default::default() })
            })
            .collect();
        crate::results::write_predictions(&dir.path().join(SPIDER_PREDICTIONS_FILE), &preds).unwrap();
        run(ReportArgs { out: crate::cli_args::OutDirArg { out_dir: dir.path().to_path_buf() }, split: SplitArg::Sample150 }).unwrap();
        let md = std::fs::read_to_string(dir.path().join(REPORT_FILE)).unwrap();
        // Paired on the 20 questions: 3-shot +25 pts (b = 0, c = 5: McNemar p = 2·0.5⁵ = 0.0625), training
        // format +40 pts (c = 8: p = 2·0.5⁸ = 0.008).
        assert!(md.contains("| m.gguf | r16 | 0.350 (n=1034) | +25.0 ["), "{md}");
        assert!(md.contains("], 0.062 | 0.500 (n=1034) | +40.0 ["), "{md}");
        assert!(md.contains("], 0.008 |"), "{md}");
        assert!(md.contains("### m.gguf + r16"), "{md}");
        // The training table: settings, cost and the loss reached, from the train row.
        assert!(md.contains("| r16 | 2000 | 16 | 32.0 | 0.0005 | all | 1 | int8 | 640 | 1234567 | 51 min | 402 | 0.4101 |"), "{md}");
        assert!(dir.path().join(CATEGORY_CHART).exists() && dir.path().join(DELTA_CHART).exists());
    }
}
