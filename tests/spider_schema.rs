//! Schema text comes from the SQLite file: columns with types, primary and foreign keys, a fixed
//! order, optional sample rows; and it works for every one of the 166 databases.
mod spider_support;

use sqlora::spider::{schema_text, Dataset};

#[test]
fn concert_singer_schema_has_types_keys_and_foreign_keys() {
    let dir = require_data!();
    let db = sqlora::spider::db_path(&dir, "concert_singer");
    let text = schema_text(&db, 0).unwrap();
    assert!(text.starts_with("CREATE TABLE stadium (\n  Stadium_ID INT,\n  Location TEXT,"), "{text}");
    assert!(text.contains("  PRIMARY KEY (Stadium_ID)\n);"), "{text}");
    // A composite primary key and foreign keys in declaration order.
    assert!(
        text.contains(
            "CREATE TABLE singer_in_concert (\n  concert_ID INT,\n  Singer_ID TEXT,\n  PRIMARY KEY (concert_ID, Singer_ID),\n  \
             FOREIGN KEY (concert_ID) REFERENCES concert(concert_ID),\n  FOREIGN KEY (Singer_ID) REFERENCES singer(Singer_ID)\n);"
        ),
        "{text}"
    );
    let tables: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("CREATE TABLE ")).collect();
    assert_eq!(tables, ["stadium (", "singer (", "concert (", "singer_in_concert ("]);
    assert!(!text.contains("example rows"), "no sample rows by default");
}

#[test]
fn sample_rows_follow_each_table_when_asked() {
    let dir = require_data!();
    let db = sqlora::spider::db_path(&dir, "concert_singer");
    let text = schema_text(&db, 2).unwrap();
    assert!(text.contains("/*\n2 example rows:\nSELECT * FROM singer LIMIT 2;\nSinger_ID\tName\tCountry"), "{text}");
    assert!(text.contains("1\tJoe Sharp\tNetherlands\tYou\t1992\t52\tF\n"), "{text}");
}

#[test]
fn schema_text_is_stable_and_works_for_every_database() {
    let dir = require_data!();
    let ds = Dataset::load(&dir).unwrap();
    for db_id in ds.tables.keys() {
        let path = ds.db_path(db_id);
        let a = schema_text(&path, 1).unwrap_or_else(|e| panic!("{db_id}: {e:#}"));
        assert_eq!(a, schema_text(&path, 1).unwrap(), "{db_id}: same text twice");
        // Every table that tables.json names is in the text (SQLite's internal sqlite_sequence aside).
        for t in ds.tables[db_id].table_names_original.iter().filter(|t| *t != "sqlite_sequence") {
            let found = a.lines().any(|l| {
                l.strip_prefix("CREATE TABLE ")
                    .and_then(|r| r.strip_suffix(" ("))
                    .is_some_and(|n| n.trim_matches('"').eq_ignore_ascii_case(t))
            });
            assert!(found, "{db_id}: table {t} missing\n{a}");
        }
    }
}

#[test]
fn data_directory_matches_the_manifest() {
    let dir = require_data!();
    let report = sqlora::datadir::verify_manifest(&dir).unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.ok, sqlora::datadir::MANIFEST.lines().filter(|l| !l.trim().is_empty()).count());
}
