//! Gold as prediction scores 1.0 on every one of the 1034 dev examples, in both modes.
mod spider_support;

use sqlora::metric::batch::{score_all, Pair};
use sqlora::metric::ExConfig;
use sqlora::spider::Dataset;

#[test]
fn gold_as_prediction_scores_one_on_all_1034_dev_examples() {
    let dir = require_data!();
    let ds = Dataset::load(&dir).unwrap();
    let pairs: Vec<Pair> =
        ds.dev.iter().map(|e| Pair { db_id: Some(e.db_id.clone()), gold: Some(e.query.clone()), predicted: e.query.clone() }).collect();
    let outcomes = score_all(&dir, &pairs, &ExConfig::default(), false);
    assert_eq!(outcomes.len(), 1034);
    let failures: Vec<String> = outcomes
        .iter()
        .enumerate()
        .filter(|(_, o)| o.ex_seed != Some(true) || o.ex_official != Some(true))
        .map(|(i, o)| format!("dev {i} ({}): {o:?}", ds.dev[i].query))
        .collect();
    assert!(failures.is_empty(), "{} of 1034 not 1.0:\n{}", failures.len(), failures.join("\n"));
}
