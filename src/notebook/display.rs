//! The notebooks' one rich output: HTML (tables, inline SVG charts) with a plain-text twin, shown by
//! evcxr when a cell's value has an `evcxr_display` method. evcxr reads the `EVCXR_BEGIN_CONTENT
//! <mime>` … `EVCXR_END_CONTENT` blocks a value prints to stdout and sends them to Jupyter as one
//! display bundle (one per cell: a later block of the same type replaces an earlier one), so a
//! plain viewer (GitHub's text view, a terminal REPL) still gets the text.
use sqlora_results::view::html::esc;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rich {
    pub html: String,
    pub plain: String,
}

impl Rich {
    pub fn new(html: String, plain: String) -> Rich {
        Rich { html, plain }
    }

    /// Preformatted text (a prompt, a log), escaped for HTML.
    pub fn pre(text: &str) -> Rich {
        Rich::new(format!("<pre style=\"white-space:pre-wrap\">{}</pre>", esc(text)), text.to_string())
    }

    /// A heading or a sentence: HTML escaped, plain as is.
    pub fn note(text: &str) -> Rich {
        Rich::new(format!("<p>{}</p>", esc(text)), text.to_string())
    }

    /// Several outputs one after the other, as one.
    pub fn join(parts: impl IntoIterator<Item = Rich>) -> Rich {
        let (mut html, mut plain) = (String::new(), String::new());
        for p in parts {
            html.push_str(&p.html);
            html.push('\n');
            if !plain.is_empty() {
                plain.push('\n');
            }
            plain.push_str(&p.plain);
        }
        Rich { html, plain }
    }

    /// What evcxr calls on a cell's value.
    pub fn evcxr_display(&self) {
        print!("{}", self.protocol());
    }

    /// The evcxr content blocks: HTML, then the text.
    pub fn protocol(&self) -> String {
        format!(
            "EVCXR_BEGIN_CONTENT text/html\n{}\nEVCXR_END_CONTENT\nEVCXR_BEGIN_CONTENT text/plain\n{}\nEVCXR_END_CONTENT\n",
            self.html.trim_end(),
            self.plain.trim_end()
        )
    }
}

impl std::fmt::Display for Rich {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.plain)
    }
}

/// A table with a header, rendered both ways from the same cells: an HTML table and aligned text.
#[derive(Clone, Debug, Default)]
pub struct Table {
    pub caption: String,
    pub head: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(caption: &str, head: &[&str]) -> Table {
        Table { caption: caption.into(), head: head.iter().map(|h| h.to_string()).collect(), rows: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn rich(&self) -> Rich {
        let mut h = String::from("<table>");
        if !self.caption.is_empty() {
            h.push_str(&format!("<caption style=\"text-align:left;font-weight:bold\">{}</caption>", esc(&self.caption)));
        }
        h.push_str("<thead><tr>");
        for c in &self.head {
            h.push_str(&format!("<th>{}</th>", esc(c)));
        }
        h.push_str("</tr></thead><tbody>");
        for r in &self.rows {
            h.push_str("<tr>");
            for c in r {
                // Multi-line cells (SQL, result rows) keep their lines.
                h.push_str(&format!("<td style=\"text-align:left;white-space:pre-wrap\">{}</td>", esc(c)));
            }
            h.push_str("</tr>");
        }
        h.push_str("</tbody></table>");
        Rich::new(h, self.plain())
    }

    fn plain(&self) -> String {
        let one_line = |c: &str| c.replace('\n', " ⏎ ");
        let mut width: Vec<usize> = self.head.iter().map(|c| c.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate() {
                let w = one_line(c).chars().count().min(60);
                if i < width.len() {
                    width[i] = width[i].max(w);
                } else {
                    width.push(w);
                }
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate() {
                let mut c = one_line(c);
                if c.chars().count() > 60 {
                    c = c.chars().take(59).collect::<String>() + "…";
                }
                s.push_str(&format!("{c:<w$}  ", w = width[i]));
            }
            s.trim_end().to_string()
        };
        let mut out = String::new();
        if !self.caption.is_empty() {
            out.push_str(&self.caption);
            out.push('\n');
        }
        out.push_str(&line(&self.head));
        for r in &self.rows {
            out.push('\n');
            out.push_str(&line(r));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_renders_the_same_cells_as_html_and_text() {
        let mut t = Table::new("EX by hardness", &["hardness", "EX"]);
        t.row(vec!["easy".into(), "0.5000".into()]);
        t.row(vec!["<b>x</b>".into(), "SELECT 1\nFROM t".into()]);
        let r = t.rich();
        assert!(r.html.contains("<th>hardness</th>") && r.html.contains("<td style=\"text-align:left;white-space:pre-wrap\">0.5000</td>"));
        assert!(r.html.contains("&lt;b&gt;x&lt;/b&gt;"), "cells are escaped: {}", r.html);
        let lines: Vec<&str> = r.plain.lines().collect();
        assert_eq!(lines[0], "EX by hardness");
        assert_eq!(lines[2], "easy      0.5000");
        assert!(lines[3].contains("SELECT 1 ⏎ FROM t"));
    }

    #[test]
    fn the_protocol_carries_both_forms_in_evcxr_blocks() {
        let p = Rich::pre("a < b").protocol();
        assert_eq!(
            p,
            "EVCXR_BEGIN_CONTENT text/html\n<pre style=\"white-space:pre-wrap\">a &lt; b</pre>\nEVCXR_END_CONTENT\n\
             EVCXR_BEGIN_CONTENT text/plain\na < b\nEVCXR_END_CONTENT\n"
        );
    }
}
