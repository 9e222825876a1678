//! The report's charts as hand-written SVG (no plotting or font crates): per-category accuracy of
//! every arm with Wilson 95% intervals, and each adapter's paired change against its base with
//! bootstrap 95% intervals. Text uses the viewer's generic sans-serif font; sizes are fixed so
//! labels fit without measuring glyphs.
use super::compare::{groups, Delta, GroupStat};
use std::fmt::Write;

pub(crate) const PALETTE: [&str; 8] = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c"];

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

pub(crate) fn open(w: f64, h: f64, title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">{}</text>\n",
        w / 2.0,
        esc(title)
    )
}

/// Grouped bars: for each group (Overall and the categories) one bar per arm, with its interval.
pub fn category_chart(title: &str, arms: &[(String, Vec<GroupStat>)]) -> String {
    let (w, h) = (820.0, 400.0);
    let (left, right, top, bottom) = (60.0, 20.0, 40.0, 90.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let top_val = arms.iter().flat_map(|(_, g)| g.iter().map(|s| s.hi)).fold(0.5f64, f64::max);
    let ymax = ((top_val * 10.0).ceil() / 10.0).min(1.0);
    let y = |v: f64| top + ph * (1.0 - v / ymax);
    let mut s = open(w, h, title);
    for i in 0..=(ymax * 10.0).round() as usize {
        let v = i as f64 / 10.0;
        let _ = writeln!(s, "<line x1=\"{left}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#e0e0e0\"/>", left + pw, y(v), y(v));
        let _ = writeln!(s, "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{v:.1}</text>", left - 6.0, y(v) + 4.0);
    }
    let _ = writeln!(
        s,
        "<text transform=\"translate(16 {:.1}) rotate(-90)\" text-anchor=\"middle\">accuracy (95% Wilson interval)</text>",
        top + ph / 2.0
    );
    let gs = groups();
    let gw = pw / gs.len() as f64;
    let bw = gw * 0.8 / arms.len().max(1) as f64;
    for (gi, g) in gs.iter().enumerate() {
        let x0 = left + gi as f64 * gw + gw * 0.1;
        let n = arms.first().and_then(|(_, st)| st.iter().find(|x| x.group == *g)).map_or(0, |x| x.n);
        let _ = writeln!(s, "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{} (n={n})</text>", x0 + gw * 0.4, top + ph + 18.0, esc(g));
        for (ai, (_, stats)) in arms.iter().enumerate() {
            let Some(st) = stats.iter().find(|x| x.group == *g) else { continue };
            let (x, color) = (x0 + ai as f64 * bw, PALETTE[ai % PALETTE.len()]);
            let _ = writeln!(
                s,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\"><title>{:.3} [{:.3}, {:.3}]</title></rect>",
                y(st.accuracy),
                bw * 0.9,
                (y(0.0) - y(st.accuracy)).max(0.0),
                st.accuracy,
                st.lo,
                st.hi
            );
            let cx = x + bw * 0.45;
            let _ = writeln!(
                s,
                "<path d=\"M{cx:.1} {:.1}V{:.1}M{:.1} {:.1}h{:.1}M{:.1} {:.1}h{:.1}\" stroke=\"black\" fill=\"none\"/>",
                y(st.lo),
                y(st.hi),
                cx - 4.0,
                y(st.lo),
                8.0,
                cx - 4.0,
                y(st.hi),
                8.0
            );
        }
    }
    // Chance level for four options.
    let _ = writeln!(
        s,
        "<line x1=\"{left}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#c00\" stroke-dasharray=\"5 4\"/>\n\
         <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#c00\">chance 0.25</text>",
        left + pw,
        y(0.25),
        y(0.25),
        left + pw - 4.0,
        y(0.25) - 4.0
    );
    let _ = writeln!(s, "<line x1=\"{left}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"black\"/>", left + pw, y(0.0), y(0.0));
    legend(&mut s, arms.iter().map(|(l, _)| l.as_str()), left, h - 40.0);
    s.push_str("</svg>\n");
    s
}

fn legend<'a>(s: &mut String, labels: impl Iterator<Item = &'a str>, x0: f64, y0: f64) {
    let (mut x, mut y) = (x0, y0);
    for (i, l) in labels.enumerate() {
        // Fixed advance per character: generous for a 12px sans-serif.
        let width = 30.0 + 7.5 * l.chars().count() as f64;
        if x + width > 800.0 && x > x0 {
            x = x0;
            y += 18.0;
        }
        let _ = writeln!(
            s,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            y - 10.0,
            PALETTE[i % PALETTE.len()],
            x + 16.0,
            y,
            esc(l)
        );
        x += width;
    }
}

/// A forest plot: one line per (adapter, group), the paired change in points with its interval.
pub fn delta_chart(title: &str, adapters: &[(String, Vec<Delta>)]) -> String {
    let rows: Vec<(usize, &str, &Delta)> =
        adapters.iter().enumerate().flat_map(|(ai, (l, ds))| ds.iter().map(move |d| (ai, l.as_str(), d))).collect();
    let (left, right, top, row_h) = (250.0, 230.0, 50.0, 22.0);
    let w = 900.0;
    let h = top + rows.len() as f64 * row_h + 50.0;
    let pw = w - left - right;
    let span = rows.iter().map(|(_, _, d)| d.paired.lo.abs().max(d.paired.hi.abs())).fold(0.1f64, f64::max);
    let xmax = (span * 20.0).ceil() / 20.0;
    let x = |v: f64| left + pw * (v + xmax) / (2.0 * xmax);
    let mut s = open(w, h, title);
    let bottom = top + rows.len() as f64 * row_h;
    let steps = (xmax * 20.0).round() as i64;
    for i in -steps..=steps {
        let v = i as f64 / 20.0;
        let stroke = if i == 0 { "black" } else { "#e0e0e0" };
        let _ = writeln!(s, "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{top}\" y2=\"{bottom}\" stroke=\"{stroke}\"/>", x(v), x(v));
        if i % 2 == 0 || steps <= 4 {
            let _ = writeln!(s, "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{:+.0}</text>", x(v), bottom + 16.0, v * 100.0);
        }
    }
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">change in accuracy vs base, points (paired bootstrap 95% interval)</text>",
        left + pw / 2.0,
        bottom + 36.0
    );
    for (i, (ai, label, d)) in rows.iter().enumerate() {
        let yc = top + (i as f64 + 0.5) * row_h;
        let color = PALETTE[(ai + 1) % PALETTE.len()];
        let weight = if d.group == crate::compare::OVERALL { " font-weight=\"bold\"" } else { "" };
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\"{weight}>{} · {}</text>",
            left - 8.0,
            yc + 4.0,
            esc(label),
            d.group
        );
        let p = &d.paired;
        let _ = writeln!(
            s,
            "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{yc:.1}\" y2=\"{yc:.1}\" stroke=\"{color}\" stroke-width=\"2\"/>\
             <circle cx=\"{:.1}\" cy=\"{yc:.1}\" r=\"4\" fill=\"{color}\"/>",
            x(p.lo),
            x(p.hi),
            x(p.diff)
        );
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\">{:+.1} [{:+.1}, {:+.1}]  p={:.3}  n={}</text>",
            left + pw + 8.0,
            yc + 4.0,
            p.diff * 100.0,
            p.lo * 100.0,
            p.hi * 100.0,
            p.p_mcnemar,
            d.n
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{arms, deltas, group_stats};
    use crate::mmlu_answers::{AnswerRow, CATEGORIES};

    fn rows() -> Vec<AnswerRow> {
        let mut v = Vec::new();
        for (adapter, shift) in [(None, 0), (Some("r8 <&>".to_string()), 1)] {
            for i in 0..40 {
                v.push(AnswerRow {
                    model: "m".into(),
                    adapter: adapter.clone(),
                    split: "sample150".into(),
                    subject: "s".into(),
                    category: CATEGORIES[i % 4].into(),
                    row: i as i64,
                    correct: (i + shift) % 3 == 0,
                    p_gold: 0.25,
                    ..Default::default()
                });
            }
        }
        v
    }

    #[test]
    fn charts_are_well_formed_svg_with_escaped_labels() {
        let a = arms(rows(), "sample150");
        let stats: Vec<(String, Vec<GroupStat>)> = a.iter().map(|x| (x.label(), group_stats(x))).collect();
        let d = vec![(a[1].label(), deltas(&a[0], &a[1]))];
        for svg in [category_chart("t", &stats), delta_chart("t", &d)] {
            assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
            assert!(svg.contains("r8 &lt;&amp;&gt;"), "labels are escaped");
            assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
            // Every opened element is closed (self-closing or with an end tag).
            let opened = svg.matches("<rect").count() + svg.matches("<text").count();
            let closed = svg.matches("/>").count() + svg.matches("</text>").count() + svg.matches("</rect>").count();
            assert!(closed >= opened);
        }
    }
}
