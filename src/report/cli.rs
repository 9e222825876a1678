//! `sqlora report`: reads `mmlu_answers.parquet` and `runs.parquet` from the output directory and
//! writes `report.md` with the SVG charts beside it.
use super::compare::{arms, deltas, group_stats, Arm};
use super::markdown::{render, ArmReport};
use super::svg::{category_chart, delta_chart};
use crate::mmlu::cli::SplitArg;
use crate::results::mmlu_answers::{read_answers, MMLU_ANSWERS_FILE};
use crate::results::runs::{read_runs, RunRow, RUNS_FILE};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// The directory `sqlora mmlu` (and the Spider runs) wrote to; the report goes there too.
    #[arg(long, default_value = "results")]
    pub out_dir: PathBuf,
    /// Which MMLU answers to compare.
    #[arg(long, value_enum, default_value = "sample150")]
    pub split: SplitArg,
}

pub const REPORT_FILE: &str = "report.md";
pub const CATEGORY_CHART: &str = "mmlu_categories.svg";
pub const DELTA_CHART: &str = "mmlu_delta.svg";

/// The Spider run of (model, adapter): the dev split when there are several.
fn spider_run<'a>(runs: &'a [RunRow], model: &str, adapter: Option<&str>) -> Option<&'a RunRow> {
    let mine: Vec<&RunRow> = runs.iter().filter(|r| r.task == "spider" && r.model == model && r.adapter.as_deref() == adapter).collect();
    mine.iter().find(|r| r.split == "dev").or(mine.first()).copied()
}

/// Every arm with its statistics, comparisons against its base and Spider runs.
pub fn build(arms: &[Arm], runs: &[RunRow]) -> Vec<ArmReport> {
    arms.iter()
        .map(|a| {
            let base = arms.iter().find(|b| b.model == a.model && b.adapter.is_none());
            ArmReport {
                model: a.model.clone(),
                adapter: a.adapter.clone(),
                stats: group_stats(a),
                vs_base: base.filter(|_| a.adapter.is_some()).map(|b| deltas(b, a)),
                spider: spider_run(runs, &a.model, a.adapter.as_deref()).cloned(),
                spider_base: spider_run(runs, &a.model, None).cloned(),
            }
        })
        .collect()
}

pub fn run_report(a: ReportArgs) -> Result<()> {
    let path = a.out_dir.join(MMLU_ANSWERS_FILE);
    if !path.exists() {
        bail!("{} does not exist: run `sqlora mmlu --out-dir {}` first", path.display(), a.out_dir.display());
    }
    let split = a.split.label();
    let arms = arms(read_answers(&path)?, split);
    if arms.is_empty() {
        bail!("{} has no answers for split {split}", path.display());
    }
    let runs = read_runs(&a.out_dir.join(RUNS_FILE))?;
    let reports = build(&arms, &runs);
    let files = write(&a.out_dir, split, &arms, &reports, &runs)?;
    for f in files {
        println!("wrote {}", f.display());
    }
    Ok(())
}

/// Writes report.md and the charts; returns the paths written.
pub fn write(out_dir: &Path, split: &str, arms: &[Arm], reports: &[ArmReport], runs: &[RunRow]) -> Result<Vec<PathBuf>> {
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
    put(REPORT_FILE, render(split, n, reports, &full, &charts))?;
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
        record_runs(&dir.path().join(RUNS_FILE), vec![spider(None, 0.10), spider(Some("r16"), 0.35)]).unwrap();
        run_report(ReportArgs { out_dir: dir.path().to_path_buf(), split: SplitArg::Sample150 }).unwrap();
        let md = std::fs::read_to_string(dir.path().join(REPORT_FILE)).unwrap();
        assert!(md.contains("| m.gguf | r16 | 0.350 (n=1034) | +25.0 |"), "{md}");
        assert!(md.contains("### m.gguf + r16"), "{md}");
        assert!(dir.path().join(CATEGORY_CHART).exists() && dir.path().join(DELTA_CHART).exists());
    }
}
