//! Line charts as hand-written SVG, in the style of the report's charts: one polyline per series
//! (training curves overlaid), linear axes with round ticks, a legend. Each curve is a `<path
//! class="curve">` whose `data-points` says how many points it holds, so a test can tell a drawn
//! curve from an empty frame.
use crate::svg::{esc, open, PALETTE};
use std::fmt::Write;

#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub label: String,
    /// Index into the palette: the same run keeps its colour across charts.
    pub color: usize,
    /// Drawn dashed (validation loss beside the training loss).
    pub dashed: bool,
    pub points: Vec<(f64, f64)>,
}

/// Round tick values covering `lo..=hi`, about `target` of them (steps of 1, 2 or 5 × 10^k).
pub fn ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    // NaN bounds fail `hi > lo` as well.
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) || !lo.is_finite() || !hi.is_finite() {
        return vec![lo];
    }
    let raw = (hi - lo) / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

fn fmt_tick(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.0e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    let (w, h) = (820.0, 380.0);
    let (left, right, top, bottom) = (70.0, 20.0, 40.0, 80.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let all = || series.iter().flat_map(|s| s.points.iter()).filter(|(x, y)| x.is_finite() && y.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in all() {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    let mut s = open(w, h, title);
    if !x0.is_finite() {
        let _ = writeln!(s, "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">no data</text>\n</svg>", w / 2.0, h / 2.0);
        return s;
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= y0 {
        (y0, y1) = (y0 - 0.5 * y0.abs().max(1e-9), y1 + 0.5 * y1.abs().max(1e-9));
    }
    let pad = (y1 - y0) * 0.05;
    let (y0, y1) = (y0 - pad, y1 + pad);
    let px = |x: f64| left + pw * (x - x0) / (x1 - x0);
    let py = |y: f64| top + ph * (1.0 - (y - y0) / (y1 - y0));
    for t in ticks(y0, y1, 6) {
        let _ = writeln!(s, "<line x1=\"{left}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#e0e0e0\"/>", left + pw, py(t), py(t));
        let _ = writeln!(s, "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>", left - 6.0, py(t) + 4.0, fmt_tick(t));
    }
    for t in ticks(x0, x1, 8) {
        let _ = writeln!(s, "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>", px(t), top + ph + 16.0, fmt_tick(t));
    }
    let _ = writeln!(s, "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>", left + pw / 2.0, top + ph + 34.0, esc(x_label));
    let _ =
        writeln!(s, "<text transform=\"translate(16 {:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>", top + ph / 2.0, esc(y_label));
    let _ = writeln!(s, "<rect x=\"{left}\" y=\"{top}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"black\"/>");
    for se in series {
        let pts: Vec<&(f64, f64)> = se.points.iter().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
        if pts.is_empty() {
            continue;
        }
        let mut d = String::new();
        for (i, (x, y)) in pts.iter().enumerate() {
            let _ = write!(d, "{}{:.1} {:.1}", if i == 0 { "M" } else { "L" }, px(*x), py(*y));
        }
        let dash = if se.dashed { " stroke-dasharray=\"6 4\"" } else { "" };
        let _ = writeln!(
            s,
            "<path class=\"curve\" data-points=\"{}\" d=\"{d}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.6\"{dash}><title>{}</title></path>",
            pts.len(),
            PALETTE[se.color % PALETTE.len()],
            esc(&se.label)
        );
    }
    // Legend: one entry per series in its own colour (dashed entries drawn as a dashed line).
    let (mut x, y) = (left, h - 22.0);
    for se in series {
        let dash = if se.dashed { " stroke-dasharray=\"4 3\"" } else { "" };
        let color = PALETTE[se.color % PALETTE.len()];
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{color}\" stroke-width=\"2\"{dash}/><text x=\"{:.1}\" y=\"{y:.1}\">{}</text>",
            x + 18.0,
            y - 4.0,
            y - 4.0,
            x + 22.0,
            esc(&se.label)
        );
        x += 34.0 + 7.0 * se.label.chars().count() as f64;
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(0.0, 10.0, 5), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let t = ticks(0.13, 0.87, 6);
        assert!(t.first().unwrap() >= &0.13 && t.last().unwrap() <= &0.87 && t.len() >= 4, "{t:?}");
        assert_eq!(fmt_tick(0.0002), "2e-4");
        assert_eq!(fmt_tick(1.5), "1.5");
    }

    #[test]
    fn each_series_is_one_path_with_its_points_and_escaped_label() {
        let a = Series { label: "r8 <a>".into(), color: 1, dashed: false, points: vec![(1.0, 2.0), (2.0, 1.5), (3.0, 1.2)] };
        let b = Series { label: "r8 val".into(), color: 1, dashed: true, points: vec![(3.0, 1.4)] };
        let svg = line_chart("loss", "step", "nats/token", &[a, b]);
        assert_eq!(svg.matches("class=\"curve\"").count(), 2);
        assert!(svg.contains("data-points=\"3\" d=\"M70.0 "), "{svg}");
        assert!(svg.contains("stroke-dasharray"));
        assert!(svg.contains("r8 &lt;a&gt;"));
        assert!(!svg.contains("NaN"));
        let empty = line_chart("loss", "step", "y", &[]);
        assert!(empty.contains("no data") && !empty.contains("class=\"curve\""));
    }
}
