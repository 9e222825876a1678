//! The page's pieces as HTML text, so what a person sees is built (and tested) in plain Rust; the
//! wasm layer only puts these strings into the page and wires the controls.
use super::arms::ArmRuns;
use super::explorer::{error_kind, Explorer};
use super::folder::Folder;
use super::mmlu::MmluView;
use super::runs_table::RunsTable;
use crate::predictions::PredictionRow;
use std::fmt::Write;

/// Escape text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// One line per file: its kind and rows, a note, or (in red) why it was not loaded.
pub fn files(folder: &Folder) -> String {
    let mut s = String::from("<ul class=\"files\">");
    for f in &folder.files {
        match (&f.error, f.kind) {
            (Some(e), _) => {
                let _ = write!(s, "<li class=\"error\" role=\"alert\">{}</li>", esc(e));
            }
            (None, Some(k)) => {
                let _ = write!(s, "<li>{}: {} rows of {}", esc(&f.name), f.rows, k.name());
                if let Some(n) = &f.note {
                    let _ = write!(s, " <span class=\"note\">({})</span>", esc(n));
                }
                s.push_str("</li>");
            }
            (None, None) => {}
        }
    }
    s.push_str("</ul>");
    s
}

/// `<option>`s of the arms, `selected` marked.
pub fn arm_options(arms: &[ArmRuns], selected: usize) -> String {
    arms.iter()
        .enumerate()
        .map(|(i, a)| format!("<option value=\"{i}\"{}>{}</option>", if i == selected { " selected" } else { "" }, esc(&a.label())))
        .collect()
}

/// `<option>`s of plain values with an "all" entry first.
pub fn value_options(all_label: &str, values: &[String], selected: Option<&str>) -> String {
    let mut s = format!("<option value=\"\">{}</option>", esc(all_label));
    for v in values {
        let sel = if Some(v.as_str()) == selected { " selected" } else { "" };
        let _ = write!(s, "<option value=\"{0}\"{sel}>{0}</option>", esc(v));
    }
    s
}

/// The runs table; headers carry `data-sort` (the column index) and show the sort direction.
pub fn runs_table(t: &RunsTable, sorted: Option<(usize, bool)>) -> String {
    let mut s = String::from("<table id=\"runs-table\" class=\"grid\"><thead><tr>");
    for (i, c) in t.columns.iter().enumerate() {
        let arrow = match sorted {
            Some((col, true)) if col == i => " ▼",
            Some((col, false)) if col == i => " ▲",
            _ => "",
        };
        let class = if c.setting { " class=\"setting\"" } else { "" };
        let _ = write!(s, "<th data-sort=\"{i}\"{class} title=\"sort\">{}{arrow}</th>", esc(&c.title));
    }
    s.push_str("</tr></thead><tbody>");
    for (row, &arm) in t.rows.iter().zip(&t.arm_of) {
        let class = if arm == t.reference { " class=\"reference\"" } else { "" };
        let _ = write!(s, "<tr data-arm=\"{arm}\"{class}>");
        for (c, cell) in t.columns.iter().zip(row) {
            let num = if cell.value.is_some() { " class=\"num\"" } else { "" };
            let _ = write!(s, "<td{num} data-col=\"{}\">{}</td>", esc(&c.title), esc(&cell.text));
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    s
}

fn pts(x: f64) -> String {
    format!("{:+.1}", x * 100.0)
}

/// The MMLU charts and the regression table.
pub fn mmlu(v: &MmluView) -> String {
    let mut s = format!("<div class=\"chart\" id=\"mmlu-categories\">{}</div>", v.category_svg);
    if let Some(d) = &v.delta_svg {
        let _ = write!(s, "<div class=\"chart\" id=\"mmlu-deltas\">{d}</div>");
    }
    let Some(r) = &v.reference else {
        s.push_str("<p>The reference run has no MMLU answers: choose another reference to see the changes.</p>");
        return s;
    };
    if v.regressions.is_empty() {
        let _ = write!(s, "<p>No other run with MMLU answers to compare with {}.</p>", esc(r));
        return s;
    }
    let _ = write!(
        s,
        "<table id=\"regression-table\" class=\"grid\"><caption>Against {} on split {}: paired difference in points, \
         percentile bootstrap 95% interval ({} resamples, seed {}), exact McNemar p; b = right only in the reference, \
         c = right only in the run.</caption><thead><tr><th>run</th><th>group</th><th>n</th><th>reference</th><th>run</th>\
         <th>change [95%]</th><th>b</th><th>c</th><th>McNemar p</th><th>Δ mean p(gold)</th></tr></thead><tbody>",
        esc(r),
        esc(&v.split),
        crate::compare::BOOTSTRAP_RESAMPLES,
        crate::compare::BOOTSTRAP_SEED
    );
    for (label, ds) in &v.regressions {
        for d in ds {
            let p = &d.paired;
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{:.3}</td><td class=\"num\">{:.3}</td>\
                 <td class=\"num\">{} [{}, {}]</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:.3}</td><td class=\"num\">{:+.4}</td></tr>",
                esc(label),
                d.group,
                d.n,
                d.base_accuracy,
                d.accuracy,
                pts(p.diff),
                pts(p.lo),
                pts(p.hi),
                p.b,
                p.c,
                p.p_mcnemar,
                d.delta_p_gold
            );
        }
    }
    s.push_str("</tbody></table>");
    s
}

fn verdict(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "<span class=\"pass\">pass</span>",
        Some(false) => "<span class=\"fail\">fail</span>",
        None => "<span class=\"none\">–</span>",
    }
}

/// The visible window `start..end` of the filtered rows (`shown` indexes `ex.pairs`), each row
/// placed at its own offset inside a spacer as tall as the whole list: only what is on screen is
/// in the page, however many rows there are.
pub fn explorer_window(
    preds: &[PredictionRow],
    ex: &Explorer,
    shown: &[usize],
    start: usize,
    end: usize,
    row_h: u32,
    selected: Option<usize>,
) -> String {
    let mut s = format!("<div class=\"spacer\" style=\"height:{}px\">", shown.len() as u32 * row_h);
    for (pos, &i) in shown.iter().enumerate().take(end.min(shown.len())).skip(start) {
        let pair = &ex.pairs[i];
        let a = &preds[pair.a];
        let b = pair.b.map(|b| &preds[b]);
        let sel = if selected == Some(i) { " selected" } else { "" };
        let _ = write!(
            s,
            "<div class=\"xrow{sel}\" data-pair=\"{i}\" style=\"top:{}px;height:{row_h}px\"><span class=\"id\">{}</span>\
             <span class=\"db\">{}</span><span class=\"hard\">{}</span><span class=\"v\">{}</span><span class=\"v\">{}</span>",
            pos as u32 * row_h,
            a.id,
            esc(&a.db_id),
            esc(a.hardness.as_deref().unwrap_or("")),
            verdict(a.ex_seed),
            verdict(a.ex_official),
        );
        if let Some(b) = b {
            let _ = write!(s, "<span class=\"v\">{}</span>", verdict(b.ex_official));
        }
        let _ = write!(s, "<span class=\"kind\">{}</span><span class=\"q\">{}</span></div>", error_kind(a), esc(&a.question));
    }
    s.push_str("</div>");
    s
}

fn sql_panel(title: &str, sql: &str, verdicts: Option<&PredictionRow>) -> String {
    let mut s = format!("<div class=\"sql\"><h4>{}</h4><pre>{}</pre>", esc(title), esc(sql));
    if let Some(r) = verdicts {
        let _ = write!(s, "<p>seed {} · official {} · {}</p>", verdict(r.ex_seed), verdict(r.ex_official), esc(error_kind(r)));
        if let Some(e) = &r.error {
            let _ = write!(s, "<p class=\"error-text\">{}</p>", esc(e));
        }
    }
    s.push_str("</div>");
    s
}

/// One question in full: gold and predicted SQL side by side with the error, and run B's
/// prediction beside them when B is chosen.
pub fn explorer_detail(preds: &[PredictionRow], ex: &Explorer, pair: usize) -> String {
    let Some(p) = ex.pairs.get(pair) else { return String::new() };
    let a = &preds[p.a];
    let mut s = format!(
        "<div class=\"detail\" data-id=\"{}\"><p class=\"question\"><b>#{} · {} · {}</b> {}</p><div class=\"side\">",
        a.id,
        a.id,
        esc(&a.db_id),
        esc(a.hardness.as_deref().unwrap_or("")),
        esc(&a.question)
    );
    s += &sql_panel("gold", &a.gold, None);
    s += &sql_panel(&format!("predicted · {}", ex.run_a), &a.predicted, Some(a));
    if let (Some(b), Some(name)) = (p.b.map(|b| &preds[b]), &ex.run_b) {
        s += &sql_panel(&format!("predicted · {name}"), &b.predicted, Some(b));
    }
    s.push_str("</div></div>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::explorer::Explorer;

    #[test]
    fn the_explorer_window_holds_only_the_visible_rows_at_their_offsets() {
        let preds: Vec<PredictionRow> = (0..100)
            .map(|i| PredictionRow {
                run_id: Some("r".into()),
                id: i,
                db_id: "d".into(),
                question: format!("q<{i}>"),
                ..Default::default()
            })
            .collect();
        let ex = Explorer::new(&preds, "r", None);
        let shown: Vec<usize> = (0..100).collect();
        let html = explorer_window(&preds, &ex, &shown, 10, 20, 28, Some(12));
        assert_eq!(html.matches("class=\"xrow").count(), 10);
        assert!(html.contains("height:2800px"));
        assert!(html.contains("data-pair=\"10\" style=\"top:280px;"));
        assert!(html.contains("xrow selected\" data-pair=\"12\""));
        assert!(html.contains("q&lt;15&gt;"));
        let detail = explorer_detail(&preds, &ex, 3);
        assert!(detail.contains("#3") && detail.contains("<h4>gold</h4>"));
    }
}
