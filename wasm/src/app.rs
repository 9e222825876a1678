//! The page's state and what each control does. Every number, table and chart comes from
//! `sqlora_results::view`; this file only keeps the choices a person made and redraws.
use crate::dom;
use sqlora_results::compare::{verdicts, Verdicts};
use sqlora_results::view::arms::{arms, default_reference, mmlu_split, ArmRuns};
use sqlora_results::view::curves::{series, train_runs, Metric, XAxis};
use sqlora_results::view::explorer::{distinct, prediction_runs, Change, Explorer, Filter, Verdict, ERROR_KINDS};
use sqlora_results::view::folder::{FileStatus, Folder};
use sqlora_results::view::html;
use sqlora_results::view::mmlu::mmlu_view;
use sqlora_results::view::runs_table::{arm_deltas, runs_table, ArmDeltas};
use std::cell::RefCell;

/// Height of one explorer row in pixels (the CSS gives `.xrow` the same).
const ROW_H: u32 = 26;
/// Rows drawn above and below the visible part of the explorer list.
const OVERSCAN: usize = 8;

#[derive(Default)]
struct App {
    folder: Folder,
    arms: Vec<ArmRuns>,
    reference: usize,
    /// Each Spider run's verdicts by question, and each arm's changes against the reference: kept
    /// between draws (the bootstrap intervals are the slow part of the Runs tab).
    verdicts: Verdicts,
    deltas: Vec<ArmDeltas>,
    sort: Option<(usize, bool)>,
    tab: String,
    explorer: Explorer,
    shown: Vec<usize>,
    selected: Option<usize>,
    first_render_ms: Option<f64>,
}

thread_local! {
    static APP: RefCell<App> = RefCell::new(App { tab: "runs".into(), ..Default::default() });
}

fn with<R>(f: impl FnOnce(&mut App) -> R) -> R {
    APP.with(|a| f(&mut a.borrow_mut()))
}

pub fn add_file(name: &str, bytes: Vec<u8>) {
    with(|a| a.folder.add_file(name, bytes));
    render_files();
}

/// A problem that is not about one file's content (a fetch that failed, a bad index).
pub fn report_error(msg: &str) {
    with(|a| a.folder.files.push(FileStatus { name: String::new(), kind: None, rows: 0, note: None, error: Some(msg.into()) }));
    render_files();
}

/// After a batch of files: rebuild the arms and the explorer, then draw.
pub fn loaded(files: usize) {
    with(|a| {
        a.arms = arms(&a.folder);
        a.reference = default_reference(&a.arms);
        a.verdicts = verdicts(&a.folder.predictions);
        a.deltas = arm_deltas(&a.arms, &a.verdicts, a.reference);
        let runs = prediction_runs(&a.folder.predictions);
        let run_a = runs.first().cloned().unwrap_or_default();
        a.explorer = Explorer::new(&a.folder.predictions, &run_a, None);
        a.selected = None;
    });
    let (n_arms, errors) = with(|a| (a.arms.len(), a.folder.errors().count()));
    let problems = if errors > 0 { format!(" — {errors} file(s) could not be read, see below") } else { String::new() };
    dom::set_text("status", &format!("Loaded {files} file(s): {n_arms} run(s){problems}"));
    render_all();
    with(|a| {
        if a.first_render_ms.is_none() && n_arms > 0 {
            let ms = dom::now_ms();
            a.first_render_ms = Some(ms);
            if let Some(b) = dom::document().body() {
                let _ = b.set_attribute("data-first-render-ms", &format!("{ms:.0}"));
            }
        }
    });
}

pub fn render_all() {
    render_files();
    render_controls();
    render_tab();
}

fn render_files() {
    let html = with(|a| html::files(&a.folder));
    dom::set_html("files", &html);
}

/// The menus whose entries depend on the data: reference arm, explorer runs and filter values.
fn render_controls() {
    with(|a| {
        dom::set_html("reference", &html::arm_options(&a.arms, a.reference));
        let runs = prediction_runs(&a.folder.predictions);
        let opts = |sel: Option<&str>| html::value_options("(none)", &runs, sel);
        dom::set_html("run-a", &html::value_options("(none)", &runs, Some(a.explorer.run_a.as_str())));
        dom::set_html("run-b", &opts(a.explorer.run_b.as_deref()));
        filter_menus(a);
        let kinds: Vec<String> = ERROR_KINDS.iter().map(|k| k.to_string()).collect();
        dom::set_html("f-kind", &html::value_options("any outcome", &kinds, None));
    });
}

/// The database and hardness menus list what run A has.
fn filter_menus(a: &App) {
    let preds = &a.folder.predictions;
    dom::set_html("f-db", &html::value_options("every database", &distinct(preds, &a.explorer, |r| Some(r.db_id.as_str())), None));
    dom::set_html("f-hardness", &html::value_options("any hardness", &distinct(preds, &a.explorer, |r| r.hardness.as_deref()), None));
}

fn render_tab() {
    let tab = with(|a| a.tab.clone());
    for t in ["runs", "mmlu", "training", "spider", "kernels"] {
        if let Some(s) = dom::by_id(&format!("tab-{t}")) {
            let _ = if t == tab { s.remove_attribute("hidden") } else { s.set_attribute("hidden", "") };
        }
        if let Some(b) = dom::by_id(&format!("tab-button-{t}")) {
            let _ = b.class_list().toggle_with_force("active", t == tab);
        }
    }
    match tab.as_str() {
        "mmlu" => render_mmlu(),
        "training" => render_training(),
        "spider" => refilter(),
        "kernels" => render_kernels(),
        _ => render_runs(),
    }
}

pub fn show_tab(tab: &str) {
    with(|a| a.tab = tab.to_string());
    render_tab();
}

fn current_table() -> sqlora_results::view::runs_table::RunsTable {
    with(|a| {
        let mut t = runs_table(&a.arms, &a.deltas, a.reference, dom::checked("diff-only"));
        if let Some((col, desc)) = a.sort.filter(|(c, _)| *c < t.columns.len()) {
            t.sort(col, desc);
        }
        t
    })
}

fn render_runs() {
    let t = current_table();
    let sort = with(|a| a.sort);
    if t.rows.is_empty() {
        dom::set_html("runs", "<p>No runs yet: a results folder holds runs.parquet and the files beside it.</p>");
        return;
    }
    dom::set_html("runs", &html::runs_table(&t, sort));
}

/// A click on a header: sort by it, again to reverse.
pub fn sort_by(col: usize) {
    with(|a| {
        a.sort = Some(match a.sort {
            Some((c, desc)) if c == col => (col, !desc),
            _ => (col, true),
        })
    });
    render_runs();
}

pub fn set_reference(i: usize) {
    with(|a| {
        a.reference = i.min(a.arms.len().saturating_sub(1));
        a.deltas = arm_deltas(&a.arms, &a.verdicts, a.reference);
    });
    render_tab();
}

pub fn export_csv() {
    let csv = current_table().to_csv();
    if let Err(e) = dom::download("sqlora-runs.csv", "text/csv", &csv) {
        report_error(&format!("CSV export failed: {e:?}"));
    }
}

fn render_mmlu() {
    let html = with(|a| {
        let split = mmlu_split(&a.folder).unwrap_or_default();
        mmlu_view(&a.arms, a.reference, &split).map(|v| html::mmlu(&v))
    });
    dom::set_html("mmlu", &html.unwrap_or_else(|| "<p>No MMLU answers in this folder (mmlu_answers.parquet).</p>".into()));
}

fn render_kernels() {
    let html = with(|a| sqlora_results::view::kernels::kernels_html(&a.folder.kernels));
    dom::set_html("kernels", &html);
}

pub fn render_training() {
    let weight: f64 = dom::value("t-smooth").parse().unwrap_or(0.0);
    dom::set_text("t-smooth-value", &format!("{weight:.2}"));
    let svg = with(|a| {
        let log = &a.folder.train_log;
        if log.is_empty() {
            return None;
        }
        let metric = Metric::parse(&dom::value("t-metric"));
        let x = XAxis::parse(&dom::value("t-x"));
        let (title, y) = metric.titles();
        let s = series(log, metric, x, weight);
        Some((sqlora_results::svg_lines::line_chart(title, x.label(), y, &s), train_runs(log).len()))
    });
    match svg {
        Some((svg, runs)) => {
            dom::set_html("training", &format!("<p>{runs} training run(s)</p><div class=\"chart\" id=\"train-chart\">{svg}</div>"))
        }
        None => dom::set_html("training", "<p>No training log in this folder (train_log.parquet: <code>sqlora evaluate</code>, <code>mmlu</code> and <code>report</code> gather it from the folders of the adapters they name).</p>"),
    }
}

fn filter_from_page() -> Filter {
    let opt = |id: &str| Some(dom::value(id)).filter(|v| !v.is_empty());
    Filter {
        db: opt("f-db"),
        hardness: opt("f-hardness"),
        seed: Verdict::parse(&dom::value("f-seed")),
        official: Verdict::parse(&dom::value("f-official")),
        error_kind: opt("f-kind"),
        text: dom::value("f-text"),
        change: Change::parse(&dom::value("f-change")),
    }
}

/// Run A or B changed: pair the rows again.
pub fn choose_runs() {
    with(|a| {
        let b = Some(dom::value("run-b")).filter(|v| !v.is_empty());
        let run_a = dom::value("run-a");
        let new_a = run_a != a.explorer.run_a;
        a.explorer = Explorer::new(&a.folder.predictions, &run_a, b.as_deref());
        a.selected = None;
        if new_a {
            filter_menus(a);
        }
    });
    refilter();
}

/// A filter changed: recompute the shown rows and draw from the top.
pub fn refilter() {
    let f = filter_from_page();
    let (n, total, two) = with(|a| {
        a.shown = a.explorer.filter(&a.folder.predictions, &f);
        (a.shown.len(), a.explorer.pairs.len(), a.explorer.run_b.is_some())
    });
    dom::set_text("x-count", &format!("{n} of {total} questions"));
    if let Some(h) = dom::by_id("x-head") {
        let _ = h.class_list().toggle_with_force("two", two);
    }
    if let Some(l) = dom::by_id("xlist") {
        l.set_scroll_top(0);
    }
    render_window();
    render_detail();
}

/// Draw the rows in view of the explorer list (called on scroll).
pub fn render_window() {
    let Some(list) = dom::by_id("xlist") else { return };
    let top = list.scroll_top().max(0) as u32;
    let height = list.client_height().max(ROW_H as i32) as u32;
    let start = (top / ROW_H) as usize;
    let start = start.saturating_sub(OVERSCAN);
    let end = ((top + height) / ROW_H) as usize + 1 + OVERSCAN;
    let html = with(|a| html::explorer_window(&a.folder.predictions, &a.explorer, &a.shown, start, end, ROW_H, a.selected));
    list.set_inner_html(&html);
}

pub fn select(pair: usize) {
    with(|a| a.selected = Some(pair));
    render_window();
    render_detail();
}

fn render_detail() {
    let html = with(|a| match a.selected {
        Some(p) => html::explorer_detail(&a.folder.predictions, &a.explorer, p),
        None => "<p class=\"hint\">Click a question to see the gold and predicted SQL side by side.</p>".into(),
    });
    dom::set_html("x-detail", &html);
}
