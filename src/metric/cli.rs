//! `sqlora score`: execution accuracy of a whole predictions file, in parallel.
use super::accuracy::{ExConfig, ExOutcome};
use super::batch::{score_all, Pair};
use super::summary::summarize;
use crate::results::table::{read_table, write_table, Table};
use crate::results::{spider_predictions_schema, PredictionRow};
use anyhow::{bail, Result};
use serde_json::{json, Value as Json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug, Clone)]
pub struct ScoreArgs {
    /// Predictions: JSONL (one object per line with `db_id`, `gold`, `predicted`, optional `id`; other
    /// fields are kept) or Parquet with those columns.
    #[arg(long)]
    pub predictions: PathBuf,
    /// Write every input field plus ex_seed, ex_official (0/1), error and details; Parquet when the name
    /// ends in .parquet, JSONL otherwise.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub data: crate::cli_args::DataArg,
    /// Time limit per query, in seconds; a prediction past it scores 0 with reason "timeout".
    #[arg(long, default_value_t = 30.0)]
    pub timeout_s: f64,
    /// Official mode: keep DISTINCT instead of deleting it (the official --keep_distinct).
    #[arg(long)]
    pub keep_distinct: bool,
}

pub fn run(args: ScoreArgs) -> Result<()> {
    if !(args.timeout_s > 0.0 && args.timeout_s.is_finite()) {
        bail!("--timeout-s must be a positive number of seconds, got {}", args.timeout_s);
    }
    let data_dir = args.data.resolve()?;
    let total = Instant::now();
    let mut table = read_table(&args.predictions)?;
    let pairs: Vec<Pair> = table.rows.iter().map(pair_of).collect();
    let mut cfg = ExConfig::with_timeout(Duration::from_secs_f64(args.timeout_s));
    cfg.keep_distinct = args.keep_distinct;
    let start = Instant::now();
    let outcomes = score_all(&data_dir, &pairs, &cfg, true);
    let scoring = start.elapsed();
    for (i, o) in outcomes.iter().enumerate() {
        record(&mut table, i, o);
    }
    if let Some(out) = &args.out {
        write_table(out, &table, &spider_predictions_schema())?;
    }
    report_data_errors(&table, &outcomes);
    let rows: Vec<PredictionRow> = table.rows.iter().zip(&outcomes).map(|(r, o)| summary_row(r, o)).collect();
    let mut summary = summarize(&rows);
    summary.elapsed = Some(scoring);
    print!("{summary}");
    println!(
        "scored {} pairs in {:.2} s ({:.2} s with reading and writing files)",
        rows.len(),
        scoring.as_secs_f64(),
        total.elapsed().as_secs_f64()
    );
    if summary.n > 0 && summary.data_errors == summary.n {
        bail!("no row of {} could be scored: every one is a data error (see above)", args.predictions.display());
    }
    Ok(())
}

fn text(row: &serde_json::Map<String, Json>, key: &str) -> Option<String> {
    match row.get(key) {
        None | Some(Json::Null) => None,
        Some(Json::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    }
}

/// A missing or null `predicted` is an empty prediction (scored 0), never a dropped row.
fn pair_of(row: &serde_json::Map<String, Json>) -> Pair {
    Pair { db_id: text(row, "db_id"), gold: text(row, "gold"), predicted: text(row, "predicted").unwrap_or_default() }
}

fn record(t: &mut Table, i: usize, o: &ExOutcome) {
    let flag = |b: Option<bool>| b.map_or(Json::Null, |b| json!(i8::from(b)));
    t.set(i, "ex_seed", flag(o.ex_seed));
    t.set(i, "ex_official", flag(o.ex_official));
    t.set(i, "error", o.error().map_or(Json::Null, Json::from));
    let scored = o.data_error.is_none();
    t.set(i, "order_matters", if scored { json!(o.order_matters) } else { Json::Null });
    t.set(i, "gold_rows", o.gold_rows.map_or(Json::Null, |n| json!(n)));
    t.set(i, "pred_rows", o.pred_rows.map_or(Json::Null, |n| json!(n)));
    t.set(i, "exec_ms", json!((o.elapsed_ms * 1000.0).round() / 1000.0));
}

/// Data errors are not the model's fault and must not pass unnoticed: name each on stderr.
fn report_data_errors(t: &Table, outcomes: &[ExOutcome]) {
    const SHOWN: usize = 20;
    let errors: Vec<String> =
        outcomes.iter().zip(&t.origins).filter_map(|(o, origin)| o.data_error.as_ref().map(|e| format!("  {origin}: {e}"))).collect();
    if errors.is_empty() {
        return;
    }
    eprintln!("WARNING: {} rows could not be scored (data errors, excluded from accuracy):", errors.len());
    for e in errors.iter().take(SHOWN) {
        eprintln!("{e}");
    }
    if errors.len() > SHOWN {
        eprintln!("  ... and {} more (see the `error` column)", errors.len() - SHOWN);
    }
}

fn summary_row(r: &serde_json::Map<String, Json>, o: &ExOutcome) -> PredictionRow {
    PredictionRow {
        db_id: text(r, "db_id").unwrap_or_default(),
        gold: text(r, "gold").unwrap_or_default(),
        hardness: text(r, "hardness"),
        ex_seed: o.ex_seed,
        ex_official: o.ex_official,
        error: o.error(),
        ..PredictionRow::default()
    }
}
