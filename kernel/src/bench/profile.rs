//! Where a step's time goes: an observer for `Instrumented` that adds up each backend op's wall time
//! and calls, and the table it makes (op, share of the step, calls, seconds).
use crate::backend::instrumented::Observer;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

/// Seconds and calls per backend op, since the last [`OpTimes::take`].
#[derive(Default)]
pub struct OpTimes(Mutex<BTreeMap<&'static str, (f64, usize)>>);

impl Observer for OpTimes {
    fn observe<R>(&self, op: &'static str, f: impl FnOnce() -> R) -> R {
        let t = Instant::now();
        let r = f();
        let s = t.elapsed().as_secs_f64();
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let e = m.entry(op).or_default();
        e.0 += s;
        e.1 += 1;
        r
    }
}

/// One op's part of a step.
#[derive(Clone, Debug, PartialEq)]
pub struct OpShare {
    pub op: &'static str,
    pub seconds: f64,
    pub calls: usize,
}

impl OpTimes {
    /// The ops timed so far, longest first; the counts start again from zero.
    pub fn take(&self) -> Vec<OpShare> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<OpShare> =
            std::mem::take(&mut *m).into_iter().map(|(op, (seconds, calls))| OpShare { op, seconds, calls }).collect();
        v.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
        v
    }
}

/// The table of a step of `step_s` seconds: op, seconds, share, calls; then the sum and what no op
/// accounts for (host work between ops).
pub fn table(ops: &[OpShare], step_s: f64) -> String {
    let mut s = format!("  {:22} {:>9} {:>7} {:>7}\n", "op", "s", "share", "calls");
    for o in ops {
        s += &format!("  {:22} {:9.4} {:6.1}% {:7}\n", o.op, o.seconds, 100.0 * o.seconds / step_s, o.calls);
    }
    let sum: f64 = ops.iter().map(|o| o.seconds).sum();
    s += &format!("  {:22} {:9.4} {:6.1}%   (outside any op: {:.4} s)\n", "sum", sum, 100.0 * sum / step_s, step_s - sum);
    s
}
