//! The tables of `report.md`, from the computed arms (formatting only; the numbers come from
//! `compare`).
use super::compare::{groups, Delta, GroupStat, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED};
use crate::results::runs::RunRow;
use sqlora_results::stats::PairedDiff;
use std::fmt::Write;

/// One arm of the report with everything computed about it.
pub struct ArmReport {
    pub model: String,
    pub adapter: Option<String>,
    pub stats: Vec<GroupStat>,
    /// Against the same model's base (None for the base itself, or when the base was not run).
    pub vs_base: Option<Vec<Delta>>,
    /// Its Spider runs (3-shot prompt, training format), and the base model's 3-shot run, from runs.parquet.
    pub spider: Option<RunRow>,
    pub spider_zero: Option<RunRow>,
    pub spider_base: Option<RunRow>,
    /// Each of its two Spider runs against the base's 3-shot run, paired by question (official EX).
    pub spider_vs_base: [Option<PairedDiff>; 2],
}

impl ArmReport {
    pub fn label(&self) -> String {
        self.adapter.clone().unwrap_or_else(|| "base".into())
    }
}

fn pts(x: f64) -> String {
    format!("{:+.1}", x * 100.0)
}

fn ci_pts(d: &Delta) -> String {
    paired_pts(&d.paired)
}

pub(crate) fn paired_pts(p: &PairedDiff) -> String {
    format!("{} [{}, {}]", pts(p.diff), pts(p.lo), pts(p.hi))
}

pub(crate) fn p_value(p: f64) -> String {
    if p < 0.001 {
        format!("{p:.1e}")
    } else {
        format!("{p:.3}")
    }
}

/// The study's sections (`super::study`), already rendered: `glance` opens the report after its
/// introduction, `rest` follows the per-adapter tables.
#[derive(Default)]
pub struct StudySections {
    pub glance: String,
    pub rest: String,
}

/// `train_runs`: the adapters' `task = "train"` rows (settings and summary of each fine-tune).
pub fn render(
    split: &str,
    n_questions: usize,
    arms: &[ArmReport],
    full_runs: &[RunRow],
    train_runs: &[RunRow],
    charts: &[&str],
    study: &StudySections,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# sqlora report: what fine-tuning gained and what it cost\n");
    let _ = writeln!(
        s,
        "MMLU split `{split}` ({n_questions} questions{}); 4-shot, original prompt format (one space after \
         \"about\"), answer = argmax of the next-token logits of \" A\"…\" D\". Categories: the original MMLU \
         mapping (`anatomy` is under Other; lm-evaluation-harness puts it under STEM). Accuracy = micro average \
         over questions; intervals of an accuracy are Wilson 95%. Changes are paired on the same questions: \
         percentile bootstrap 95% interval ({BOOTSTRAP_RESAMPLES} resamples, seed {BOOTSTRAP_SEED}) and exact \
         McNemar p (two-sided binomial test on the discordant pairs: b = right only in the base, c = right \
         only with the adapter). A change whose interval holds 0 is within the noise of this sample.\n",
        if split == "sample150" {
            format!(", the frozen stratified sample: seed {}, equal allocation per category", crate::mmlu::sample::SEED)
        } else {
            String::new()
        }
    );
    s.push_str(&study.glance);
    gained_and_cost(&mut s, arms);
    training(&mut s, train_runs);
    per_category(&mut s, arms);
    changes(&mut s, arms);
    full_set(&mut s, full_runs);
    s.push_str(&study.rest);
    if !charts.is_empty() {
        let _ = writeln!(s, "## Charts\n");
        for c in charts {
            let _ = writeln!(s, "![{c}]({c})\n");
        }
    }
    s
}

fn gained_and_cost(s: &mut String, arms: &[ArmReport]) {
    let _ = writeln!(s, "## Gained (Spider) and cost (MMLU)\n");
    let _ = writeln!(
        s,
        "Spider: official execution accuracy on dev with the fixed 3-shot prompt, and with the training format (no \
         shots); each Δ is against the base model's 3-shot run on the same questions (paired bootstrap 95% \
         interval, exact McNemar p).\n"
    );
    let _ = writeln!(s, "| model | adapter | Spider EX 3-shot | Δ (pts) [95% CI], p | Spider EX training format | Δ (pts) [95% CI], p | MMLU accuracy | Δ MMLU (pts) [95% CI] | McNemar p | Δ mean p(gold) |");
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|");
    for a in arms {
        let ex = |r: &Option<RunRow>| r.as_ref().map_or("—".into(), |r| format!("{:.3} (n={})", r.score, r.n));
        let d = |p: &Option<PairedDiff>| p.as_ref().map_or("—".into(), |p| format!("{}, {}", paired_pts(p), p_value(p.p_mcnemar)));
        let overall = &a.stats[0];
        let (d_mmlu, p, dp) = match &a.vs_base {
            Some(d) => (ci_pts(&d[0]), p_value(d[0].paired.p_mcnemar), format!("{:+.4}", d[0].delta_p_gold)),
            None => ("—".into(), "—".into(), "—".into()),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {:.3} | {d_mmlu} | {p} | {dp} |",
            a.model,
            a.label(),
            ex(&a.spider),
            d(&a.spider_vs_base[0]),
            ex(&a.spider_zero),
            d(&a.spider_vs_base[1]),
            overall.accuracy
        );
    }
    if arms.iter().all(|a| a.spider.is_none() && a.spider_zero.is_none()) {
        let _ = writeln!(s, "\nNo Spider runs in runs.parquet yet (rows with task `spider`).");
    }
    s.push('\n');
}

/// What each adapter's training was: the settings a study varies, and what it cost (steps, tokens,
/// wall time) and reached (the final validation loss), from the gathered `train` rows.
fn training(s: &mut String, runs: &[RunRow]) {
    if runs.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "## Training
"
    );
    let _ = writeln!(
        s,
        "| adapter | examples | r | α | lr | targets | epochs | numerics | steps | tokens | wall | tokens/s | final val loss |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let json = super::study::json;
    for r in runs {
        let (set, sum) = (json(&r.settings), json(&r.metrics));
        let v = super::study::setting;
        let wall =
            r.wall_s.map_or("—".into(), |w| if w >= 3600.0 { format!("{:.1} h", w / 3600.0) } else { format!("{:.0} min", w / 60.0) });
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {wall} | {} | {} |",
            r.adapter.as_deref().unwrap_or("—"),
            r.n,
            v(&set["rank"]),
            v(&set["alpha"]),
            v(&set["lr"]),
            v(&set["targets"]),
            v(&set["epochs"]),
            // Fine-tunes from before the setting existed ran exact.
            set["numerics"].as_str().unwrap_or("exact"),
            v(&set["steps"]),
            v(&sum["tokens_seen"]),
            sum["tokens_per_s"].as_f64().map_or("—".into(), |t| format!("{t:.0}")),
            sum["final_val_loss"].as_f64().map_or("—".into(), |l| format!("{l:.4}")),
        );
    }
    let _ = writeln!(
        s,
        "
Wall time is the run's own (it includes validation and checkpoints), on the machine it ran on.
"
    );
}

fn per_category(s: &mut String, arms: &[ArmReport]) {
    let _ = writeln!(s, "## MMLU accuracy per category\n");
    let gs = groups();
    let header: Vec<String> = gs.iter().map(|g| g.to_string()).collect();
    let _ = writeln!(s, "| model | adapter | {} | mean p(gold) |", header.join(" | "));
    let _ = writeln!(s, "|---|---|{}---|", "---|".repeat(gs.len()));
    if let Some(a) = arms.first() {
        let ns: Vec<String> = a.stats.iter().map(|g| format!("n={}", g.n)).collect();
        let _ = writeln!(s, "| | questions | {} | |", ns.join(" | "));
    }
    for a in arms {
        let cells: Vec<String> = a.stats.iter().map(|g| format!("{:.3} [{:.2}, {:.2}]", g.accuracy, g.lo, g.hi)).collect();
        let _ = writeln!(s, "| {} | {} | {} | {:.4} |", a.model, a.label(), cells.join(" | "), a.stats[0].mean_p_gold);
    }
    s.push('\n');
}

fn changes(s: &mut String, arms: &[ArmReport]) {
    let with: Vec<&ArmReport> = arms.iter().filter(|a| a.vs_base.is_some()).collect();
    if with.is_empty() {
        let _ = writeln!(s, "## Change against the base\n\nNo adapter runs on this split yet.\n");
        return;
    }
    let _ = writeln!(s, "## Change against the base (same questions)\n");
    for a in with {
        let _ = writeln!(s, "### {} + {}\n", a.model, a.label());
        let _ = writeln!(s, "| group | n | base | adapter | Δ (pts) [95% CI] | Δ relative | b / c | McNemar p | Δ mean p(gold) |");
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
        for d in a.vs_base.as_ref().expect("filtered") {
            let rel = d.relative_pct.map_or("—".into(), |r| format!("{r:+.1}%"));
            let _ = writeln!(
                s,
                "| {} | {} | {:.3} | {:.3} | {} | {rel} | {} / {} | {} | {:+.4} |",
                d.group,
                d.n,
                d.base_accuracy,
                d.accuracy,
                ci_pts(d),
                d.paired.b,
                d.paired.c,
                p_value(d.paired.p_mcnemar),
                d.delta_p_gold
            );
        }
        s.push('\n');
    }
}

fn full_set(s: &mut String, runs: &[RunRow]) {
    if runs.is_empty() {
        return;
    }
    let _ = writeln!(s, "## Full-split references (runs.parquet)\n");
    let gs = groups();
    let _ = writeln!(s, "| model | adapter | split | n | {} | mean p(gold) |", gs.join(" | "));
    let _ = writeln!(s, "|---|---|---|---|{}---|", "---|".repeat(gs.len()));
    for r in runs {
        let m: serde_json::Value = r.metrics.as_deref().and_then(|m| serde_json::from_str(m).ok()).unwrap_or_default();
        let mut cells = vec![format!("{:.4}", r.score)];
        for g in &gs[1..] {
            let c = &m["categories"][*g];
            cells.push(match (c["accuracy"].as_f64(), c["n"].as_u64()) {
                (Some(acc), Some(n)) => format!("{acc:.4} (n={n})"),
                _ => "—".into(),
            });
        }
        let mp = m["mean_p_gold"].as_f64().map_or("—".into(), |x| format!("{x:.4}"));
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {mp} |",
            r.model,
            r.adapter.as_deref().unwrap_or("base"),
            r.split,
            r.n,
            cells.join(" | ")
        );
    }
    s.push('\n');
}
