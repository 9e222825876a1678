//! Shared by the Spider/metric integration tests: find the data directory, or decide what to do
//! without it (in CI, CI=true, a missing data directory fails the test; locally it skips with a message).
#![allow(dead_code)]
use std::path::PathBuf;

/// The data directory, or `None` (after printing why) when it is absent outside CI.
pub fn data_dir() -> Option<PathBuf> {
    match sqlora::datadir::resolve(None) {
        Ok(d) if d.join("spider/dev.json").is_file() => Some(d),
        other => {
            let why = match other {
                Ok(d) => format!("{} has no spider/dev.json", d.display()),
                Err(e) => format!("{e:#}"),
            };
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true and the Spider data is missing: {why}");
            }
            // Written to the stderr handle, not with eprintln!, so the test harness does not swallow it.
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "SKIPPED: Spider data not found ({why})");
            None
        }
    }
}

/// Skip the calling test (return early) when the data is absent outside CI.
#[macro_export]
macro_rules! require_data {
    () => {
        match spider_support::data_dir() {
            Some(d) => d,
            None => return,
        }
    };
}
