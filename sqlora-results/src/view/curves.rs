//! Training curves from `train_log`: one series per run (the validation loss as a dashed second
//! series), against the step or the tokens seen, with exponential smoothing as TensorBoard does it.
use crate::svg_lines::Series;
use crate::train_log::TrainLogRow;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    Loss,
    Lr,
    TokensPerS,
    GradNorm,
}

impl Metric {
    pub fn parse(s: &str) -> Metric {
        match s {
            "lr" => Metric::Lr,
            "tokens_per_s" => Metric::TokensPerS,
            "grad_norm" => Metric::GradNorm,
            _ => Metric::Loss,
        }
    }

    /// (chart title, y axis label).
    pub fn titles(self) -> (&'static str, &'static str) {
        match self {
            Metric::Loss => ("Loss (train solid, validation dashed)", "cross-entropy, nats/token"),
            Metric::Lr => ("Learning rate", "learning rate"),
            Metric::TokensPerS => ("Training throughput", "tokens/s"),
            Metric::GradNorm => ("Gradient norm (before clipping)", "L2 norm"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XAxis {
    Step,
    Tokens,
}

impl XAxis {
    pub fn parse(s: &str) -> XAxis {
        if s == "tokens" {
            XAxis::Tokens
        } else {
            XAxis::Step
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            XAxis::Step => "optimizer step",
            XAxis::Tokens => "tokens seen",
        }
    }
}

/// Exponential moving average with weight `w` in [0, 1), debiased so the curve starts at the first
/// value rather than at zero (TensorBoard's smoothing). `w` = 0 returns the values unchanged.
pub fn smooth(values: &[f64], w: f64) -> Vec<f64> {
    let w = w.clamp(0.0, 0.999);
    let mut acc = 0.0;
    let mut out = Vec::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        acc = acc * w + (1.0 - w) * v;
        let debias = 1.0 - w.powi(i as i32 + 1);
        out.push(if debias > 0.0 { acc / debias } else { *v });
    }
    out
}

/// The runs of a training log, in first-seen order.
pub fn train_runs(log: &[TrainLogRow]) -> Vec<String> {
    let mut runs: Vec<String> = Vec::new();
    for r in log {
        if !runs.contains(&r.run_id) {
            runs.push(r.run_id.clone());
        }
    }
    runs
}

/// One series per run (and its validation loss for [`Metric::Loss`]), smoothed by `weight`.
pub fn series(log: &[TrainLogRow], metric: Metric, x: XAxis, weight: f64) -> Vec<Series> {
    let mut out = Vec::new();
    for (color, run) in train_runs(log).into_iter().enumerate() {
        let mut rows: Vec<&TrainLogRow> = log.iter().filter(|r| r.run_id == run).collect();
        rows.sort_by_key(|r| r.step);
        let label = rows.first().map_or(run.clone(), |r| r.adapter.clone());
        let xv = |r: &TrainLogRow| match x {
            XAxis::Step => r.step as f64,
            XAxis::Tokens => r.tokens_seen as f64,
        };
        let mut line = |name: String, dashed: bool, value: &dyn Fn(&TrainLogRow) -> Option<f64>| {
            let kept: Vec<(f64, f64)> = rows.iter().filter_map(|&r| value(r).map(|v| (xv(r), v))).collect();
            if kept.is_empty() {
                return;
            }
            let ys = smooth(&kept.iter().map(|p| p.1).collect::<Vec<_>>(), weight);
            out.push(Series { label: name, color, dashed, points: kept.iter().map(|p| p.0).zip(ys).collect() });
        };
        match metric {
            Metric::Loss => {
                line(format!("{label} train"), false, &|r| Some(r.loss));
                line(format!("{label} validation"), true, &|r| r.val_loss);
            }
            Metric::Lr => line(label.clone(), false, &|r| Some(r.lr)),
            Metric::TokensPerS => line(label.clone(), false, &|r| r.tokens_per_s),
            Metric::GradNorm => line(label.clone(), false, &|r| r.grad_norm),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_is_a_debiased_ema() {
        assert_eq!(smooth(&[1.0, 2.0, 3.0], 0.0), vec![1.0, 2.0, 3.0]);
        let s = smooth(&[4.0, 4.0, 4.0], 0.9);
        assert!(s.iter().all(|v| (v - 4.0).abs() < 1e-12), "a constant stays constant: {s:?}");
        let s = smooth(&[0.0, 10.0], 0.5);
        // acc: 0, then 5; debias 0.5, 0.75 -> 0, 6.667
        assert!((s[1] - 20.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn one_series_per_run_and_validation_only_where_measured() {
        let row = |run: &str, step: i64, val: Option<f64>| TrainLogRow {
            run_id: run.into(),
            adapter: run.to_uppercase(),
            step,
            tokens_seen: step * 100,
            loss: 3.0 - step as f64 * 0.1,
            val_loss: val,
            lr: 1e-4,
            ..Default::default()
        };
        let log = vec![row("a", 2, None), row("a", 1, Some(3.1)), row("b", 1, None), row("a", 3, Some(2.9))];
        let s = series(&log, Metric::Loss, XAxis::Tokens, 0.0);
        let labels: Vec<&str> = s.iter().map(|x| x.label.as_str()).collect();
        assert_eq!(labels, vec!["A train", "A validation", "B train"]);
        assert_eq!(s[0].points, vec![(100.0, 2.9), (200.0, 2.8), (300.0, 2.7)], "sorted by step");
        assert_eq!(s[1].points.len(), 2);
        assert!(s[1].dashed && s[0].color == s[1].color && s[2].color != s[0].color);
        assert!(series(&log, Metric::TokensPerS, XAxis::Step, 0.5).is_empty(), "no throughput logged");
    }
}
