//! `sqlora score` end to end: exact accuracy on the committed fixture, JSONL and Parquet in and out,
//! and bad input (unknown db_id, missing database, malformed file, empty prediction) handled without
//! a panic or a lost row.
mod spider_support;

use serde_json::{json, Value};
use sqlora::metric::batch::{score_all, Pair};
use sqlora::metric::{summarize, ExConfig};
use sqlora::results::{read_predictions, PredictionRow};
use sqlora::spider::Hardness;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/spider/wrong_predictions.jsonl");

fn sqlora(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sqlora")).args(args).output().expect("run sqlora")
}

fn read_jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn fixture_accuracy_is_exact_overall_and_by_hardness() {
    let dir = require_data!();
    let mut rows = read_predictions(Path::new(FIXTURE)).unwrap();
    assert_eq!(rows.len(), 32);
    let pairs: Vec<Pair> =
        rows.iter().map(|r| Pair { db_id: Some(r.db_id.clone()), gold: Some(r.gold.clone()), predicted: r.predicted.clone() }).collect();
    for (r, o) in rows.iter_mut().zip(score_all(&dir, &pairs, &ExConfig::default(), false)) {
        (r.ex_seed, r.ex_official, r.error) = (o.ex_seed, o.ex_official, o.error());
    }
    let s = summarize(&rows);
    assert_eq!((s.n, s.executed, s.failed, s.data_errors), (32, 30, 2, 0));
    assert_eq!((s.all.n, s.all.seed_hits, s.all.official_hits), (32, 14, 19));
    assert_eq!((s.all.seed(), s.all.official()), (0.4375, 0.59375));
    let by: Vec<(Hardness, usize, usize, usize)> = s.by_hardness.iter().map(|(h, a)| (*h, a.n, a.seed_hits, a.official_hits)).collect();
    assert_eq!(by, vec![(Hardness::Easy, 5, 2, 4), (Hardness::Medium, 16, 7, 9), (Hardness::Hard, 8, 5, 5), (Hardness::Extra, 3, 0, 1)]);
}

#[test]
fn cli_scores_fixture_rows_as_recorded_and_keeps_every_field() {
    let dir = require_data!();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("scored.jsonl");
    let o = sqlora(&["score", "--predictions", FIXTURE, "--out", out.to_str().unwrap(), "--data-dir", dir.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("n=32  executed=30  failed=2  data errors=0"), "{stdout}");
    assert!(stdout.contains("0.4375    0.5938"), "{stdout}");
    assert!(stdout.contains("scored 32 pairs in"), "{stdout}");
    let input = read_jsonl(Path::new(FIXTURE));
    let scored = read_jsonl(&out);
    assert_eq!(scored.len(), input.len());
    for (i, s) in input.iter().zip(&scored) {
        for (k, v) in i.as_object().unwrap() {
            assert_eq!(&s[k], v, "field {k} kept");
        }
        assert_eq!(s["ex_seed"], i["expect_seed"], "{}", i["note"]);
        assert_eq!(s["ex_official"], i["expect_official"], "{}", i["note"]);
    }
    let empty = scored.iter().find(|s| s["note"] == "empty prediction").unwrap();
    assert_eq!(empty["error"], json!("empty query"));
}

#[test]
fn cli_reads_and_writes_parquet_with_the_predictions_schema() {
    let dir = require_data!();
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.parquet");
    let rows: Vec<PredictionRow> = read_predictions(Path::new(FIXTURE)).unwrap();
    sqlora::results::write_predictions(&input, &rows).unwrap();
    let out = tmp.path().join("out.parquet");
    let o =
        sqlora(&["score", "--predictions", input.to_str().unwrap(), "--out", out.to_str().unwrap(), "--data-dir", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let back = read_predictions(&out).unwrap();
    assert_eq!(back.len(), rows.len());
    assert_eq!(back.iter().filter(|r| r.ex_official == Some(true)).count(), 19);
    assert_eq!(back.iter().filter(|r| r.ex_seed == Some(true)).count(), 14);
    assert_eq!(back[3].question, rows[3].question);
    let file = std::fs::File::open(&out).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let schema = reader.schema();
    let want = sqlora::results::spider_predictions_schema();
    for f in want.fields() {
        assert_eq!(schema.field_with_name(f.name()).unwrap().data_type(), f.data_type(), "{}", f.name());
    }
}

fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).unwrap();
    path.to_path_buf()
}

#[test]
fn bad_rows_are_kept_with_a_reason_never_dropped() {
    let dir = require_data!();
    let tmp = tempfile::tempdir().unwrap();
    let lines = [
        json!({"id": "a", "db_id": "no_such_db", "gold": "SELECT 1", "predicted": "SELECT 1"}),
        json!({"id": "b", "db_id": "concert_singer", "predicted": "SELECT 1"}),
        json!({"id": "c", "gold": "SELECT 1", "predicted": "SELECT 1"}),
        json!({"id": "d", "db_id": "concert_singer", "gold": "SELECT count(*) FROM singer"}),
        json!({"id": "e", "db_id": "concert_singer", "gold": "SELECT count(*) FROM singer", "predicted": null}),
        json!({"id": "f", "db_id": "concert_singer", "gold": "SELECT count(*) FROM singer", "predicted": ""}),
        json!({"id": "g", "db_id": "concert_singer", "gold": "SELECT nope FROM singer", "predicted": "SELECT 1"}),
        json!({"id": "h", "db_id": "concert_singer", "gold": "SELECT count(*) FROM singer", "predicted": "SELECT count(*) FROM singer"}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n\n")).collect();
    let input = write(&tmp.path().join("bad.jsonl"), &text);
    let out = tmp.path().join("out.jsonl");
    let o =
        sqlora(&["score", "--predictions", input.to_str().unwrap(), "--out", out.to_str().unwrap(), "--data-dir", dir.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("4 rows could not be scored"), "{stderr}");
    assert!(stderr.contains("bad.jsonl:1: unknown db_id \"no_such_db\""), "{stderr}");
    let scored = read_jsonl(&out);
    assert_eq!(scored.len(), 8, "every row comes back");
    let err = |i: usize| scored[i]["error"].as_str().unwrap_or("").to_string();
    assert!(err(0).contains("database file not found") && err(0).contains("no_such_db.sqlite"), "{}", err(0));
    assert!(err(1).contains("missing field `gold`"));
    assert!(err(2).contains("missing field `db_id`"));
    let verdicts = |s: &Value| (s["ex_seed"].clone(), s["ex_official"].clone());
    for s in &scored[0..3] {
        assert_eq!(verdicts(s), (Value::Null, Value::Null), "{s}");
    }
    for s in &scored[3..6] {
        assert_eq!(verdicts(s), (json!(0), json!(0)), "{s}");
        assert_eq!(s["error"], json!("empty query"));
    }
    assert!(err(6).starts_with("data error: gold query failed"), "{}", err(6));
    assert_eq!(scored[7]["ex_official"], json!(1));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("n=8  executed=1  failed=3  data errors=4"), "{stdout}");
}

#[test]
fn malformed_file_names_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let input = write(&tmp.path().join("broken.jsonl"), "{\"db_id\": \"x\", \"gold\": \"SELECT 1\"}\n\n{\"db_id\": oops}\n");
    let o = sqlora(&["score", "--predictions", input.to_str().unwrap(), "--data-dir", tmp.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("broken.jsonl:3: invalid JSON"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let input = write(&tmp.path().join("array.jsonl"), "[1, 2]\n");
    let o = sqlora(&["score", "--predictions", input.to_str().unwrap(), "--data-dir", tmp.path().to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("array.jsonl:1: expected a JSON object, got an array"));
    let o = sqlora(&["score", "--predictions", "/nonexistent/p.jsonl", "--data-dir", tmp.path().to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("opening /nonexistent/p.jsonl"));
    let input = write(&tmp.path().join("fake.parquet"), "not parquet");
    let o = sqlora(&["score", "--predictions", input.to_str().unwrap(), "--data-dir", tmp.path().to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a readable Parquet file"));
}

#[test]
fn missing_data_dir_is_a_clear_error() {
    let o = sqlora(&["score", "--predictions", FIXTURE, "--data-dir", "/nonexistent/data"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr.contains("data directory /nonexistent/data (from --data-dir) does not exist"), "{stderr}");
}

#[test]
fn missing_database_file_is_a_data_error() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("spider/database/concert_singer")).unwrap();
    let input = write(
        &tmp.path().join("p.jsonl"),
        &format!("{}\n", json!({"db_id": "concert_singer", "gold": "SELECT 1", "predicted": "SELECT 1"})),
    );
    let out = tmp.path().join("o.jsonl");
    let o = sqlora(&[
        "score",
        "--predictions",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--data-dir",
        tmp.path().to_str().unwrap(),
    ]);
    // Its only row is a data error: the run fails, and the scored file still says why.
    assert!(!o.status.success());
    let scored = read_jsonl(&out);
    let err = scored[0]["error"].as_str().unwrap();
    assert!(err.contains("database file not found") && err.contains("spider/database/concert_singer/concert_singer.sqlite"), "{err}");
}

/// A `db_id` that is not a database name (a path out of the data folder) is a data error and opens
/// nothing; a file whose every row is a data error makes `sqlora score` fail, and empty subsets print
/// a dash, not 0.0000.
#[test]
fn db_ids_outside_the_data_folder_and_all_data_errors_are_refused() {
    let dir = require_data!();
    let tmp = tempfile::tempdir().unwrap();
    // A real SQLite file outside the data folder, where "../../<tmp>/x" would lead.
    let outside = tmp.path().join("x");
    std::fs::create_dir_all(&outside).unwrap();
    rusqlite::Connection::open(outside.join("x.sqlite")).unwrap().execute_batch("CREATE TABLE t (a); INSERT INTO t VALUES (1);").unwrap();
    let escape = format!("../../../../../../..{}", outside.display());
    let input = tmp.path().join("bad.jsonl");
    let rows = [
        json!({"db_id": escape, "gold": "SELECT a FROM t", "predicted": "SELECT a FROM t"}),
        json!({"db_id": "no_such_db", "gold": "SELECT 1", "predicted": "SELECT 1"}),
    ];
    std::fs::write(&input, rows.iter().map(|r| r.to_string() + "\n").collect::<String>()).unwrap();
    let out = tmp.path().join("scored.jsonl");
    let o =
        sqlora(&["score", "--predictions", input.to_str().unwrap(), "--out", out.to_str().unwrap(), "--data-dir", dir.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "every row a data error, yet exit 0:\n{text}");
    assert!(text.contains("no row of") && text.contains("could be scored"), "{text}");
    assert!(text.contains("  —  "), "empty subsets print a dash:\n{text}");
    let scored = read_jsonl(&out);
    assert!(scored[0]["error"].as_str().unwrap().contains("not a Spider database name"), "{}", scored[0]);
    assert_eq!(scored[0]["ex_seed"], Value::Null, "the database outside the data folder was not opened");
}
