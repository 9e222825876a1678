//! Scoring hostile predictions stays inside a memory bound, in parallel, and inside one time limit:
//! a prediction is read no further than one row past the gold's row count (with more rows it matches
//! in neither mode), a result past `max_bytes` stops with "result too large", a single value past
//! `max_value_bytes` fails inside SQLite ("string or blob too big"), and the seed and official runs of
//! one prediction share its time limit. Its own test binary: the peak RSS it checks is this
//! process's.
use rayon::prelude::*;
use sqlora::metric::exec::ReadOnlyDb;
use sqlora::metric::{score_pair, ExConfig};
use std::time::{Duration, Instant};

fn peak_rss_mb() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()).unwrap_or(0.0) / 1024.0
}

/// 100 rows of x = 1..100.
const GOLD_100: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 100) SELECT x FROM c";

#[test]
fn hostile_predictions_are_scored_in_bounded_memory_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sqlite");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2), (3), (4);")
        .unwrap();
    let cfg = ExConfig::with_timeout(Duration::from_secs(20));
    let hostile = [
        // 16.6 M rows with a string column: read up to the gold's 4 rows + 1, wrong without an error.
        (
            "SELECT x FROM t",
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 16600000) SELECT x, printf('%0500d', x) FROM c",
            "",
        ),
        // 100 rows of 8 MB each (800 MB): past the 256 MiB budget.
        (
            GOLD_100,
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 100) SELECT hex(zeroblob(4000000)) || x FROM c",
            "result too large",
        ),
        // One value of 40 MB: SQLite refuses to build it.
        ("SELECT x FROM t", "SELECT hex(zeroblob(20000000))", "too big"),
    ];
    let before = peak_rss_mb();
    let t = Instant::now();
    // Eight copies of each, scored in parallel as `sqlora score` does.
    let outcomes: Vec<_> = (0..8 * hostile.len())
        .into_par_iter()
        .map(|i| {
            let (gold, pred, _) = hostile[i % hostile.len()];
            let mut db = ReadOnlyDb::open(&path).unwrap();
            (i % hostile.len(), score_pair(&mut db, gold, pred, &cfg))
        })
        .collect();
    let (secs, peak) = (t.elapsed().as_secs_f64(), peak_rss_mb());
    for (k, o) in &outcomes {
        let want = hostile[*k].2;
        assert_eq!((o.ex_seed, o.ex_official), (Some(false), Some(false)), "{o:?}");
        if want.is_empty() {
            assert_eq!((o.pred_error.as_deref(), o.pred_rows, o.gold_rows), (None, None, Some(4)), "{o:?}");
        } else {
            assert!(o.pred_error.as_deref().is_some_and(|e| e.contains(want)), "expected {want:?}: {o:?}");
        }
    }
    println!(
        "{} hostile predictions on {} threads: {secs:.1} s, peak RSS {peak:.0} MB (from {before:.0} MB)",
        outcomes.len(),
        rayon::current_num_threads()
    );
    // Per scoring thread: at most the 256 MiB budget plus the row being read and SQLite's copy of it.
    let bound = 400.0 * rayon::current_num_threads() as f64 + before;
    assert!(peak < bound, "peak RSS {peak:.0} MB over the bound {bound:.0} MB");
}

/// A prediction's seed and official runs share one time limit: a runaway query costs the limit once,
/// not once per mode.
#[test]
fn one_time_limit_covers_both_modes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sqlite");
    rusqlite::Connection::open(&path).unwrap().execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2);").unwrap();
    let cfg = ExConfig::with_timeout(Duration::from_millis(800));
    // DISTINCT is deleted in the official mode, so the two modes run two different texts.
    let runaway = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT DISTINCT count(*) FROM c";
    let mut db = ReadOnlyDb::open(&path).unwrap();
    let t = Instant::now();
    let o = score_pair(&mut db, "SELECT count(*) FROM t", runaway, &cfg);
    let took = t.elapsed();
    assert_eq!(o.pred_error.as_deref(), Some("timeout"), "{o:?}");
    assert!(took < Duration::from_millis(1400), "the two modes took {took:?} against a limit of 800 ms");
}
