//! The Spider data set loads completely and its hardness matches the official evaluator.
mod spider_support;

use sqlora::spider::hardness::{Hardness, Shape};
use sqlora::spider::sqlshape::shape_of;
use sqlora::spider::Dataset;

#[test]
fn loads_every_split_with_expected_counts() {
    let dir = require_data!();
    let ds = Dataset::load(&dir).unwrap();
    assert_eq!(ds.dev.len(), 1034);
    assert_eq!(ds.train.len(), 7000 + 1659);
    assert_eq!(ds.tables.len(), 166);
    for ex in ds.dev.iter().chain(&ds.train) {
        assert!(ds.db_path(&ex.db_id).is_file(), "no database for {}", ex.db_id);
    }
}

#[test]
fn dev_hardness_counts_are_248_446_174_166() {
    let dir = require_data!();
    let ds = Dataset::load(&dir).unwrap();
    let count = |h: Hardness| ds.dev.iter().filter(|e| e.hardness == h).count();
    let counts: Vec<usize> = Hardness::ALL.iter().map(|&h| count(h)).collect();
    assert_eq!(counts, vec![248, 446, 174, 166]);
}

#[test]
fn text_hardness_matches_official_parse_on_every_dev_query() {
    let dir = require_data!();
    let raw: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(dir.join("spider/dev.json")).unwrap()).unwrap();
    let mut wrong = Vec::new();
    for (i, ex) in raw.iter().enumerate() {
        let query = ex["query"].as_str().unwrap();
        let official = Shape::from_spider_json(&ex["sql"]);
        let text = shape_of(query);
        if text.hardness() != official.hardness() {
            wrong.push(format!("{i}: {query}\n  text {:?}\n  json {:?}", text, official));
        }
    }
    assert!(wrong.is_empty(), "{} of 1034 differ:\n{}", wrong.len(), wrong[..wrong.len().min(5)].join("\n"));
}

#[test]
fn text_parser_reads_every_train_query_to_the_end() {
    let dir = require_data!();
    let ds = Dataset::load(&dir).unwrap();
    let stuck: Vec<String> = ds
        .train
        .iter()
        .filter(|e| sqlora::spider::sqlshape::parse(&e.query).1 > 0)
        .map(|e| format!("{:?} {}: {}", e.split, e.index, e.query))
        .collect();
    assert!(stuck.is_empty(), "{} train queries not fully parsed:\n{}", stuck.len(), stuck[..stuck.len().min(10)].join("\n"));
    let count = |h: Hardness| ds.train.iter().filter(|e| e.hardness == h).count();
    eprintln!("train hardness: {:?}", Hardness::ALL.map(|h| (h, count(h))));
}
