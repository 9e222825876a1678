//! Score many (db_id, gold, predicted) triples in parallel, one read-only connection per thread and
//! database; the output has one outcome per input, in input order.
use super::accuracy::{ExConfig, ExOutcome};
use super::exec_accuracy::score_db;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use std::path::Path;

/// One example to score. A `None` field is a data error for that example, not for the batch.
#[derive(Clone, Debug, Default)]
pub struct Pair {
    pub db_id: Option<String>,
    pub gold: Option<String>,
    pub predicted: String,
}

/// Score every pair; `progress` draws a bar on stderr (hidden when stderr is not a terminal).
pub fn score_all(data_dir: &Path, pairs: &[Pair], cfg: &ExConfig, progress: bool) -> Vec<ExOutcome> {
    let bar = if progress { ProgressBar::new(pairs.len() as u64) } else { ProgressBar::hidden() };
    bar.set_style(ProgressStyle::with_template("scoring {bar:40} {pos}/{len} {elapsed}").expect("valid template"));
    let out = pairs
        .par_iter()
        .map(|p| {
            let o = match (&p.db_id, &p.gold) {
                (Some(db), Some(gold)) => score_db(data_dir, db, gold, &p.predicted, cfg),
                (None, _) => ExOutcome::data_error("missing field `db_id`"),
                (_, None) => ExOutcome::data_error("missing field `gold`"),
            };
            bar.inc(1);
            o
        })
        .collect();
    bar.finish_and_clear();
    out
}
