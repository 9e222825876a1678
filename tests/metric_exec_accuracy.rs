//! Execution accuracy semantics (docs exec-accuracy.md), each test on a small database it builds, so
//! they need no data set. Write attempts run on a copy and check the file's bytes and its folder.
use sqlora::metric::exec::{ExecError, ReadOnlyDb};
use sqlora::metric::{score_pair, ExConfig, ExOutcome, ExecutionAccuracy, Metric, Mode, TestCase};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A database with duplicates, NULL, '' and a text '1', in a fresh temp folder.
fn fixture() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sqlite");
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, age INTEGER, score REAL, note TEXT);
         INSERT INTO t VALUES (1, 'a', 30, 1.5, NULL), (2, 'b', 20, 2.0, ''), (3, 'c', 25, 1.0, 'x'), (4, 'a', 40, NULL, '1');
         CREATE TABLE kv (value INTEGER);
         INSERT INTO kv VALUES (5), (6);",
    )
    .unwrap();
    drop(c);
    (dir, path)
}

fn score_with(path: &Path, gold: &str, pred: &str, cfg: &ExConfig) -> ExOutcome {
    let mut db = ReadOnlyDb::open(path).unwrap();
    score_pair(&mut db, gold, pred, cfg)
}

fn score(path: &Path, gold: &str, pred: &str) -> ExOutcome {
    score_with(path, gold, pred, &ExConfig::default())
}

/// (seed, official) verdicts.
fn verdicts(gold: &str, pred: &str) -> (bool, bool) {
    let (_d, path) = fixture();
    let o = score(&path, gold, pred);
    assert!(o.data_error.is_none(), "{:?}", o.data_error);
    (o.ex_seed.unwrap(), o.ex_official.unwrap())
}

#[test]
fn ignores_row_order() {
    assert_eq!(verdicts("SELECT name FROM t", "SELECT name FROM t ORDER BY name DESC"), (true, true));
}

#[test]
fn respects_order_when_gold_orders() {
    assert_eq!(verdicts("SELECT name FROM t ORDER BY age", "SELECT name FROM t ORDER BY age DESC"), (true, false));
    assert_eq!(verdicts("SELECT name FROM t ORDER BY age", "SELECT name FROM t ORDER BY age"), (true, true));
}

#[test]
fn order_by_in_subquery_counts() {
    let gold = "SELECT name FROM t WHERE id IN (SELECT id FROM t ORDER BY age LIMIT 3)";
    let pred = "SELECT name FROM t WHERE id IN (SELECT id FROM t ORDER BY age LIMIT 3) ORDER BY name DESC";
    assert_eq!(verdicts(gold, pred), (true, false));
}

#[test]
fn accepts_column_swap() {
    assert_eq!(verdicts("SELECT name, age FROM t", "SELECT age, name FROM t"), (false, true));
    assert_eq!(verdicts("SELECT id, name, age, score, note FROM t", "SELECT note, score, age, name, id FROM t"), (false, true));
}

#[test]
fn counts_duplicates() {
    // Same set {a, b, c} and same length, different bags: a set comparison would call these equal.
    let pred = "SELECT name FROM t WHERE name != 'a' UNION ALL SELECT 'a' UNION ALL SELECT 'b'";
    assert_eq!(verdicts("SELECT name FROM t", pred), (false, false));
}

#[test]
fn strips_distinct_in_official_mode() {
    assert_eq!(verdicts("SELECT name FROM t", "SELECT DISTINCT name FROM t"), (false, true));
    assert_eq!(verdicts("SELECT count(name) FROM t", "SELECT count(DISTINCT name) FROM t"), (false, true));
}

#[test]
fn keeps_distinct_in_seed_mode() {
    let (_d, path) = fixture();
    let o = score(&path, "SELECT name FROM t", "SELECT DISTINCT name FROM t");
    assert_eq!(o.ex_seed, Some(false));
    let keep = ExConfig { keep_distinct: true, ..ExConfig::default() };
    let o = score_with(&path, "SELECT name FROM t", "SELECT DISTINCT name FROM t", &keep);
    assert_eq!((o.ex_seed, o.ex_official), (Some(false), Some(false)), "--keep-distinct keeps it in official mode too");
}

#[test]
fn int_equals_real() {
    assert_eq!(verdicts("SELECT age FROM t WHERE id = 1", "SELECT 30.0"), (true, true));
    assert_eq!(verdicts("SELECT count(*) FROM t", "SELECT 4.0"), (true, true));
}

#[test]
fn text_one_differs_from_int_one() {
    assert_eq!(verdicts("SELECT note FROM t WHERE id = 4", "SELECT 1"), (false, false));
    assert_eq!(verdicts("SELECT note FROM t WHERE id = 4", "SELECT '1'"), (true, true));
}

#[test]
fn null_equals_null_not_empty_string() {
    assert_eq!(verdicts("SELECT note FROM t WHERE id = 1", "SELECT NULL"), (true, true));
    assert_eq!(verdicts("SELECT note FROM t WHERE id = 1", "SELECT ''"), (false, false));
    assert_eq!(verdicts("SELECT note FROM t WHERE id = 2", "SELECT NULL"), (false, false));
}

#[test]
fn empty_vs_empty_any_columns() {
    // Both modes: two empty results are equal whatever their column counts (the seed compares the two
    // lists of rows, which hold no columns when empty).
    assert_eq!(verdicts("SELECT name FROM t WHERE age > 100", "SELECT name, age FROM t WHERE age > 200"), (true, true));
    assert_eq!(verdicts("SELECT name FROM t WHERE age > 100", "SELECT note FROM t WHERE age > 200"), (true, true));
}

#[test]
fn different_column_count() {
    assert_eq!(verdicts("SELECT name FROM t", "SELECT name, age FROM t"), (false, false));
}

#[test]
fn pred_error_scores_zero_with_reason() {
    let (_d, path) = fixture();
    let o = score(&path, "SELECT name FROM t", "SELECT nope FROM t");
    assert_eq!((o.ex_seed, o.ex_official), (Some(false), Some(false)));
    assert!(o.pred_error.as_deref().unwrap().contains("no such column"), "{:?}", o.pred_error);
    assert!(o.data_error.is_none());
}

#[test]
fn gold_error_is_a_data_error_not_a_zero() {
    let (_d, path) = fixture();
    let o = score(&path, "SELECT nope FROM t", "SELECT name FROM t");
    assert_eq!((o.ex_seed, o.ex_official), (None, None));
    assert!(o.data_error.as_deref().unwrap().contains("gold query failed"), "{:?}", o.data_error);
}

#[test]
fn empty_prediction_scores_zero_with_reason() {
    let (_d, path) = fixture();
    for pred in ["", "   ", "-- nothing", ";"] {
        let o = score(&path, "SELECT name FROM t", pred);
        assert_eq!((o.ex_seed, o.ex_official), (Some(false), Some(false)), "{pred:?}");
        assert_eq!(o.pred_error.as_deref(), Some("empty query"), "{pred:?}");
    }
}

#[test]
fn runaway_query_times_out() {
    let (_d, path) = fixture();
    let cfg = ExConfig::with_timeout(Duration::from_millis(300));
    let runaway = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
    let start = Instant::now();
    let o = score_with(&path, "SELECT count(*) FROM t", runaway, &cfg);
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
    assert_eq!((o.ex_seed, o.ex_official), (Some(false), Some(false)));
    assert_eq!(o.pred_error.as_deref(), Some("timeout"));
    // A cross join that would return rows for hours is stopped too.
    let mut db = ReadOnlyDb::open(&path).unwrap();
    let limits = cfg.limits.clone();
    let cross = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 100000) SELECT count(*) FROM c a, c b";
    assert_eq!(db.query(cross, &limits), Err(ExecError::Timeout));
    // The connection still works after an interrupted query.
    assert_eq!(db.query("SELECT count(*) FROM t", &limits).unwrap().rows.len(), 1);
}

/// Run `sql` as a prediction on a copy of the fixture: it must fail, and the file's bytes and the
/// folder's listing must stay as they were.
fn assert_cannot_modify(sql: &str) {
    let (dir, path) = fixture();
    let before = std::fs::read(&path).unwrap();
    let listing = |d: &Path| {
        let mut v: Vec<_> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name()).collect();
        v.sort();
        v
    };
    let files_before = listing(dir.path());
    let mut db = ReadOnlyDb::open(&path).unwrap();
    let o = score_pair(&mut db, "SELECT count(*) FROM t", sql, &ExConfig::default());
    let direct = db.query(sql, &ExConfig::default().limits);
    drop(db);
    assert_eq!((o.ex_seed, o.ex_official), (Some(false), Some(false)), "{sql}");
    assert!(o.pred_error.is_some(), "{sql} ran without error");
    assert!(direct.is_err(), "{sql} ran without error");
    assert_eq!(std::fs::read(&path).unwrap(), before, "{sql} changed the database file");
    assert_eq!(listing(dir.path()), files_before, "{sql} created a file");
    let c = rusqlite::Connection::open(&path).unwrap();
    let n: i64 = c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 4);
}

#[test]
fn drop_table_cannot_modify_database() {
    assert_cannot_modify("DROP TABLE t");
}

#[test]
fn delete_cannot_modify_database() {
    assert_cannot_modify("DELETE FROM t");
}

#[test]
fn update_cannot_modify_database() {
    assert_cannot_modify("UPDATE t SET age = 0");
}

#[test]
fn insert_cannot_modify_database() {
    assert_cannot_modify("INSERT INTO t (id, name) VALUES (9, 'z')");
}

#[test]
fn create_and_alter_cannot_modify_database() {
    assert_cannot_modify("CREATE TABLE u (x)");
    assert_cannot_modify("ALTER TABLE t ADD COLUMN y");
    assert_cannot_modify("CREATE INDEX i ON t(age)");
}

#[test]
fn attach_is_denied() {
    let (dir, path) = fixture();
    let other = dir.path().join("attached.sqlite");
    let sql = format!("ATTACH DATABASE '{}' AS x", other.display());
    assert_cannot_modify(&sql);
    let mut db = ReadOnlyDb::open(&path).unwrap();
    let err = db.query(&sql, &ExConfig::default().limits).unwrap_err();
    assert!(matches!(err, ExecError::Denied(_)), "{err:?}");
    assert!(!other.exists(), "ATTACH created {}", other.display());
}

#[test]
fn pragma_writes_are_denied() {
    assert_cannot_modify("PRAGMA query_only = OFF");
    assert_cannot_modify("PRAGMA journal_mode = WAL");
    assert_cannot_modify("PRAGMA user_version = 7");
    // A PRAGMA that only reports is allowed.
    let (_d, path) = fixture();
    let mut db = ReadOnlyDb::open(&path).unwrap();
    assert!(db.query("PRAGMA table_info(t)", &ExConfig::default().limits).is_ok());
}

#[test]
fn vacuum_into_is_denied() {
    let (dir, path) = fixture();
    let target = dir.path().join("copy.sqlite");
    assert_cannot_modify(&format!("VACUUM INTO '{}'", target.display()));
    let mut db = ReadOnlyDb::open(&path).unwrap();
    assert!(db.query(&format!("VACUUM INTO '{}'", target.display()), &ExConfig::default().limits).is_err());
    assert!(!target.exists());
    assert_cannot_modify("VACUUM");
}

#[test]
fn mixed_int_float_row_quirk() {
    // Official quirk (test-suite `quick_rej` sorts a row's values by str(v) + str(type(v))):
    // gold (1, 1.5) sorts to (1.5, 1) since "1.5<" < "1<", pred (1.0, 1.5) stays (1.0, 1.5): not equal,
    // though the rows are equal. Seed mode has no such step.
    assert_eq!(verdicts("SELECT 1, 1.5", "SELECT 1.0, 1.5"), (true, false));
    assert_eq!(verdicts("SELECT 1, 0.5", "SELECT 1.0, 0.5"), (true, true));
}

#[test]
fn first_statement_only_official() {
    assert_eq!(verdicts("SELECT name FROM t", "SELECT name FROM t; SELECT age FROM t"), (true, true));
    assert_eq!(verdicts("SELECT name FROM t", "SELECT age FROM t; SELECT name FROM t"), (false, false));
    // The DROP after the first statement never runs.
    let (_d, path) = fixture();
    let before = std::fs::read(&path).unwrap();
    let o = score(&path, "SELECT name FROM t WHERE 0", "SELECT name FROM t WHERE 0; DROP TABLE t");
    assert_eq!((o.ex_seed, o.ex_official), (Some(true), Some(true)));
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn value_substring_quirk() {
    // Official quirk: every lowercase `value` in the prediction becomes `1` (evaluation.py).
    assert_eq!(verdicts("SELECT count(*) FROM t WHERE age > 35", "SELECT count(*) FROM t WHERE id = value"), (false, true));
    // It even breaks a correct prediction naming a column `value`: `SELECT 1 FROM kv` returns (1), (1).
    assert_eq!(verdicts("SELECT value FROM kv", "SELECT value FROM kv"), (true, false));
    assert_eq!(verdicts("SELECT value FROM kv", "SELECT Value FROM kv"), (true, true));
}

#[test]
fn metric_trait_gives_score_success_and_reason() {
    let (dir, path) = fixture();
    // ExecutionAccuracy finds databases as <data>/spider/database/<db_id>/<db_id>.sqlite.
    let data = dir.path().join("data");
    let db_dir = data.join("spider/database/tiny");
    std::fs::create_dir_all(&db_dir).unwrap();
    std::fs::copy(&path, db_dir.join("tiny.sqlite")).unwrap();
    let metric = ExecutionAccuracy::new(data.clone(), Mode::Official);
    assert_eq!(metric.name(), "Execution Accuracy");
    let case = |pred: &str, db: &str| TestCase {
        input: "names?".into(),
        actual_output: pred.into(),
        expected_output: Some("SELECT name FROM t".into()),
        db_id: Some(db.into()),
    };
    let r = metric.measure(&case("SELECT DISTINCT name FROM t", "tiny"));
    assert_eq!((r.score, r.success), (1.0, true));
    assert!(r.reason.contains("seed: no match, official: match"), "{}", r.reason);
    let seed = ExecutionAccuracy::new(data.clone(), Mode::Seed);
    assert_eq!(seed.measure(&case("SELECT DISTINCT name FROM t", "tiny")).score, 0.0);
    let r = metric.measure(&case("SELECT nope FROM t", "tiny"));
    assert_eq!((r.score, r.success), (0.0, false));
    assert!(r.reason.contains("no such column"), "{}", r.reason);
    let r = metric.measure(&case("SELECT name FROM t", "no_such_db"));
    assert_eq!((r.score, r.success), (0.0, false));
    assert!(r.reason.contains("unknown db_id \"no_such_db\""), "{}", r.reason);
}
