//! Execution accuracy of one (gold, predicted) pair on one database, in both modes at once.
use super::compare::{official_eq, seed_eq};
use super::exec::{ExecError, ExecLimits, ReadOnlyDb, Rows, Run};
use super::textfix::{official_gold_text, official_pred_text, order_matters, seed_text};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The seed's rule: results equal as row multisets, SQL run as written.
    Seed,
    /// The official test-suite `exec` rule.
    Official,
}

#[derive(Clone, Debug, Default)]
pub struct ExConfig {
    pub limits: ExecLimits,
    /// Official mode: keep DISTINCT instead of deleting it (the official `--keep_distinct`).
    pub keep_distinct: bool,
}

impl ExConfig {
    pub fn with_timeout(timeout: Duration) -> ExConfig {
        ExConfig { limits: ExecLimits { timeout, ..ExecLimits::default() }, ..ExConfig::default() }
    }
}

/// The verdict on one example. `ex_*` is `None` when the example could not be scored because of a
/// data error (the gold query failed, the database is missing): that is not the model's fault.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExOutcome {
    pub ex_seed: Option<bool>,
    pub ex_official: Option<bool>,
    pub order_matters: bool,
    /// The prediction failed to run (syntax error, timeout, denied write, empty).
    pub pred_error: Option<String>,
    /// The example cannot be scored: gold failed, database missing, field missing.
    pub data_error: Option<String>,
    pub gold_rows: Option<usize>,
    pub pred_rows: Option<usize>,
    pub elapsed_ms: f64,
}

impl ExOutcome {
    /// A data error: nothing was scored.
    pub fn data_error(reason: impl Into<String>) -> ExOutcome {
        ExOutcome { data_error: Some(reason.into()), ..ExOutcome::default() }
    }

    pub fn ex(&self, mode: Mode) -> Option<bool> {
        match mode {
            Mode::Seed => self.ex_seed,
            Mode::Official => self.ex_official,
        }
    }

    /// The one-line reason stored in the `error` column: the data error, else the prediction's error.
    pub fn error(&self) -> Option<String> {
        self.data_error.as_ref().map(|e| format!("data error: {e}")).or_else(|| self.pred_error.clone())
    }
}

/// A query text run at most once per side: seed and official texts are often the same.
struct Runs {
    done: Vec<(String, Result<Rows, ExecError>)>,
}

impl Runs {
    fn run(&mut self, db: &mut ReadOnlyDb, sql: &str, run: Run<'_>) -> usize {
        if let Some(i) = self.done.iter().position(|(s, _)| s == sql) {
            return i;
        }
        let result = db.run(sql, run);
        self.done.push((sql.to_string(), result));
        self.done.len() - 1
    }
}

/// Score `pred` against `gold` on `db` in both modes.
pub fn score_pair(db: &mut ReadOnlyDb, gold: &str, pred: &str, cfg: &ExConfig) -> ExOutcome {
    let start = Instant::now();
    let (mut gold_runs, mut pred_runs) = (Runs { done: vec![] }, Runs { done: vec![] });
    let g_seed = gold_runs.run(db, &seed_text(gold), Run::now(&cfg.limits));
    let g_off_text = official_gold_text(gold, cfg.keep_distinct);
    let g_off = gold_runs.run(db, &g_off_text, Run::now(&cfg.limits));
    let mut out = ExOutcome { order_matters: order_matters(&g_off_text), ..ExOutcome::default() };
    if let Some(Err(e)) = [g_seed, g_off].iter().map(|&i| &gold_runs.done[i].1).find(|r| r.is_err()) {
        out.data_error = Some(format!("gold query failed on {}: {e}", db.path().display()));
        out.elapsed_ms = start.elapsed().as_secs_f64() * 1e3;
        return out;
    }
    let gold_of = |i: usize| gold_runs.done[i].1.as_ref().expect("gold errors returned above");
    let (seed_g, off_g) = (gold_of(g_seed), gold_of(g_off));
    // The prediction's runs in both modes share one time limit, and neither reads past one row more
    // than the larger gold result has: with more rows it matches in neither mode (both compare row
    // counts). One cap for both, as a text the two modes share runs once.
    let cap = seed_g.rows.len().max(off_g.rows.len()) + 1;
    let pred_run = Run { deadline: start + cfg.limits.timeout, limits: &cfg.limits, stop_after: Some(cap) };
    let p_seed = pred_runs.run(db, &seed_text(pred), pred_run);
    let p_off = pred_runs.run(db, &official_pred_text(pred, cfg.keep_distinct), pred_run);
    out.gold_rows = Some(seed_g.rows.len());
    out.ex_seed = Some(match &pred_runs.done[p_seed].1 {
        Ok(p) => {
            // A cut result ran and is wrong (more rows than the gold); its full row count is unknown.
            out.pred_rows = (!p.cut).then_some(p.rows.len());
            seed_eq(seed_g, p)
        }
        Err(e) => {
            out.pred_error = Some(e.to_string());
            false
        }
    });
    out.ex_official = Some(match &pred_runs.done[p_off].1 {
        Ok(p) => official_eq(&off_g.rows, &p.rows, out.order_matters),
        Err(e) => {
            out.pred_error.get_or_insert_with(|| e.to_string());
            false
        }
    });
    out.elapsed_ms = start.elapsed().as_secs_f64() * 1e3;
    out
}
