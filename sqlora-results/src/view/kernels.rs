//! The Kernels tab: what `sqlora bench --kernels` runs recorded (`kernels.parquet`). Ops down the
//! side (op, pass, phase, shape, weight encoding, numerics), one column per (bench run, ISA level)
//! — the levels of one machine, or two machines, or before and after a change, side by side — each
//! cell the op's median time, what it achieved and the share of the measured peak that binds it,
//! with its speed against the first column; then the measured peaks, and where each profiled step's
//! time went.
use super::html::esc;
use crate::kernels::KernelRow;
use std::fmt::Write;

/// A column: one bench run at one ISA level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelColumn {
    pub run_id: String,
    pub isa: String,
}

/// The ops of every run, pivoted: `cells[i][j]` is op line `i` in column `j`.
#[derive(Clone, Debug, Default)]
pub struct KernelTable {
    pub columns: Vec<KernelColumn>,
    /// (op, pass, phase, shape, encoding, numerics).
    pub lines: Vec<[String; 6]>,
    pub cells: Vec<Vec<Option<KernelRow>>>,
}

fn line_key(r: &KernelRow) -> [String; 6] {
    let o = |x: &Option<String>| x.clone().unwrap_or_default();
    [r.op.clone(), o(&r.pass), o(&r.phase), o(&r.shape), o(&r.encoding), r.numerics.clone()]
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) -> usize {
    v.iter().position(|y| *y == x).unwrap_or_else(|| {
        v.push(x);
        v.len() - 1
    })
}

/// The op rows of `rows` pivoted by (run, ISA level), in the order they first appear.
pub fn kernel_table(rows: &[KernelRow]) -> KernelTable {
    let mut t = KernelTable::default();
    for r in rows.iter().filter(|r| r.kind == "op") {
        let j = push_unique(&mut t.columns, KernelColumn { run_id: r.run_id.clone(), isa: r.isa.clone() });
        let i = push_unique(&mut t.lines, line_key(r));
        t.cells.resize_with(t.lines.len(), Vec::new);
        for line in t.cells.iter_mut() {
            line.resize(t.columns.len(), None);
        }
        t.cells[i][j] = Some(r.clone());
    }
    t
}

/// One cell; `first`: the same op in the first column, when this cell is in another.
fn cell_html(r: &KernelRow, first: Option<&KernelRow>) -> String {
    if r.ok == Some(false) {
        let err = r.err.map_or(String::new(), |e| format!(" {e:.1e}"));
        return format!("<td class=\"wrong\">wrong{err} (not timed)</td>");
    }
    let Some(t) = r.median_s else { return "<td></td>".into() };
    let rate = match (r.gflops, r.gbs, r.bound.as_deref()) {
        (Some(g), _, Some("compute")) => format!("{g:.1} GFLOP/s"),
        (_, Some(b), _) => format!("{b:.1} GB/s"),
        (Some(g), None, _) => format!("{g:.1} GFLOP/s"),
        _ => String::new(),
    };
    let frac = r.peak_frac.map_or(String::new(), |f| {
        let bound = r.bound.as_deref().unwrap_or("");
        format!(" · {:.0}% {bound}<span class=\"bar\" style=\"width:{:.0}%\"></span>", 100.0 * f, (100.0 * f).min(100.0))
    });
    let vs = match first.and_then(|f| f.median_s) {
        Some(f) => format!(" · <b>{:.2}×</b>", f / t),
        _ => String::new(),
    };
    format!("<td class=\"num\" data-median-s=\"{t:e}\">{:.3} ms · {rate}{frac}{vs}</td>", t * 1e3)
}

/// The whole tab, or a hint when the folder has no kernel runs.
pub fn kernels_html(rows: &[KernelRow]) -> String {
    if rows.is_empty() {
        return "<p>No kernel benchmarks in this folder (kernels.parquet: <code>sqlora bench --kernels</code> writes it).</p>".into();
    }
    let t = kernel_table(rows);
    let mut s = String::new();
    let head = |s: &mut String, first: &str, cols: &[KernelColumn]| {
        let _ = write!(s, "<thead><tr>{first}");
        for c in cols {
            let _ = write!(s, "<th>{}<br><span class=\"note\">{}</span></th>", esc(&c.isa), esc(&c.run_id));
        }
        s.push_str("</tr></thead><tbody>");
    };
    // The measured limits each column's percentages are of.
    s.push_str("<h3>Measured peaks</h3><table id=\"kernel-peaks\" class=\"grid\">");
    head(&mut s, "<th>limit</th>", &t.columns);
    for (op, unit) in [("f32_fma", "GFLOP/s"), ("int8_dot", "GOP/s"), ("bf16_dot", "GFLOP/s"), ("memory", "GB/s")] {
        let _ = write!(s, "<tr><td>{op}</td>");
        for c in &t.columns {
            let p = rows.iter().find(|r| r.kind == "peak" && r.op == op && r.run_id == c.run_id && r.isa == c.isa);
            let v = p.and_then(|p| if op == "memory" { p.gbs } else { p.gflops });
            let _ = write!(s, "<td class=\"num\">{}</td>", v.map_or("—".into(), |v| format!("{v:.1} {unit}")));
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    let _ = write!(
        s,
        "<h3>Ops</h3><p class=\"hint\">Median time per call · achieved rate · share of the measured peak that binds it \
         (compute: f32 FMA, or 8-bit dot for int8 products; memory: the triad bandwidth — over 100% means the data \
         stayed in cache){}. Every op was checked against its f64 reference first; a wrong one is not timed.</p>",
        if t.columns.len() > 1 { " · speed against the first column" } else { "" }
    );
    s.push_str("<table id=\"kernel-ops\" class=\"grid\">");
    head(&mut s, "<th>op</th><th>pass</th><th>phase</th><th>shape</th><th>weight</th><th>numerics</th>", &t.columns);
    for (line, cells) in t.lines.iter().zip(&t.cells) {
        s.push_str("<tr>");
        for x in line {
            let _ = write!(s, "<td>{}</td>", esc(x));
        }
        let first = cells.first().and_then(Option::as_ref);
        for (j, c) in cells.iter().enumerate() {
            s.push_str(&c.as_ref().map_or_else(|| "<td></td>".to_string(), |r| cell_html(r, first.filter(|_| j > 0))));
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    // Profiled steps: per (run, step kind, numerics), the ops by their share of the step.
    let mut steps: Vec<(String, String, String, String)> = Vec::new();
    for r in rows.iter().filter(|r| r.kind.ends_with("_step")) {
        push_unique(&mut steps, (r.run_id.clone(), r.kind.clone(), r.numerics.clone(), r.shape.clone().unwrap_or_default()));
    }
    for (run, kind, numerics, what) in steps {
        let _ = write!(
            s,
            "<h3>Where the time goes: {}, {} numerics</h3><p class=\"note\">{} — {}</p>",
            esc(&kind.replace('_', " ")),
            esc(&numerics),
            esc(&run),
            esc(&what)
        );
        s.push_str("<table class=\"grid kernel-step\"><thead><tr><th>op</th><th>share</th><th>s</th><th>calls</th></tr></thead><tbody>");
        let mut ops: Vec<&KernelRow> = rows.iter().filter(|r| r.run_id == run && r.kind == kind && r.numerics == numerics).collect();
        ops.sort_by(|a, b| b.share.unwrap_or(0.0).total_cmp(&a.share.unwrap_or(0.0)));
        for r in ops {
            let share = r.share.unwrap_or(0.0);
            let _ = write!(
                s,
                "<tr><td>{}</td><td class=\"num\">{:.1}%<span class=\"bar\" style=\"width:{:.0}%\"></span></td><td class=\"num\">{:.4}</td><td class=\"num\">{}</td></tr>",
                esc(&r.op),
                100.0 * share,
                100.0 * share.min(1.0),
                r.median_s.unwrap_or(0.0),
                r.calls.unwrap_or(0)
            );
        }
        s.push_str("</tbody></table>");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(run: &str, isa: &str, name: &str, t: Option<f64>, ok: bool) -> KernelRow {
        KernelRow {
            run_id: run.into(),
            kind: "op".into(),
            op: name.into(),
            pass: Some("fwd".into()),
            phase: Some("train".into()),
            shape: Some("m=8".into()),
            encoding: Some("f32".into()),
            numerics: "exact".into(),
            isa: isa.into(),
            median_s: t,
            gflops: t.map(|t| 1.0 / t),
            gbs: Some(1.0),
            peak_frac: Some(0.5),
            bound: Some("compute".into()),
            ok: Some(ok),
            err: Some(if ok { 1e-7 } else { 0.3 }),
            ..Default::default()
        }
    }

    #[test]
    fn runs_and_levels_side_by_side_with_the_speed_against_the_first() {
        let rows = vec![
            op("before", "avx512", "matmul", Some(2e-3), true),
            op("before", "avx512", "rope", Some(1e-4), true),
            op("after", "avx512", "matmul", Some(1e-3), true),
            op("after", "avx512", "rope", None, false),
            op("after", "avx2", "matmul", Some(4e-3), true),
        ];
        let t = kernel_table(&rows);
        assert_eq!(t.columns.len(), 3);
        assert_eq!(t.lines.iter().map(|l| l[0].as_str()).collect::<Vec<_>>(), vec!["matmul", "rope"]);
        assert!(t.cells[1][2].is_none(), "rope was not run at avx2");
        let html = kernels_html(&rows);
        assert!(html.contains("2.000 ms") && html.contains("<b>2.00×</b>") && html.contains("<b>0.50×</b>"), "{html}");
        assert!(html.contains("wrong 3.0e-1 (not timed)"), "{html}");
        assert!(kernels_html(&[]).contains("sqlora bench --kernels"));
    }
}
