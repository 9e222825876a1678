//! Progress of long work: a bar when stderr is a terminal, otherwise a plain line every few seconds
//! (a log file or a notebook cell shows those; a bar's redraws would be noise there).
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

pub struct Progress {
    bar: Option<ProgressBar>,
    label: String,
    total: u64,
    start: Instant,
    start_pos: u64,
    last_line: Instant,
    every: Duration,
}

impl Progress {
    /// `done` of `total` already finished (a resumed run).
    pub fn new(label: &str, total: u64, done: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::new(total);
            b.set_style(ProgressStyle::with_template("{prefix} {bar:40} {pos}/{len} ETA {eta} {msg}").unwrap());
            b.set_prefix(label.to_string());
            b.set_position(done);
            b
        });
        let every = std::env::var("SQLORA_PROGRESS_EVERY_S").ok().and_then(|v| v.parse().ok()).unwrap_or(10.0);
        let now = Instant::now();
        Progress { bar, label: label.into(), total, start: now, start_pos: done, last_line: now, every: Duration::from_secs_f64(every) }
    }

    /// Now at `pos`; `msg` is shown beside the bar or in the line.
    pub fn set(&mut self, pos: u64, msg: &str) {
        if let Some(b) = &self.bar {
            b.set_position(pos);
            b.set_message(msg.to_string());
        } else if self.last_line.elapsed() >= self.every || pos == self.total {
            self.last_line = Instant::now();
            let rate = (pos - self.start_pos.min(pos)) as f64 / self.start.elapsed().as_secs_f64().max(1e-9);
            let eta = if rate > 0.0 { format!("{:.0} s", (self.total - pos.min(self.total)) as f64 / rate) } else { "?".into() };
            eprintln!("{} {pos}/{} ({:.1}%) ETA {eta} {msg}", self.label, self.total, 100.0 * pos as f64 / self.total.max(1) as f64);
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish();
        }
    }
}
