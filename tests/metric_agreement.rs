//! Every row of tests/fixtures/spider/agreement.tsv — (gold, predicted, db_id) pairs on dev databases
//! with the verdict exec-accuracy.md implies for each mode — is scored exactly so.
mod spider_support;

use sqlora::metric::exec_accuracy::score_db;
use sqlora::metric::ExConfig;

const TABLE: &str = include_str!("fixtures/spider/agreement.tsv");

#[test]
fn agreement_table_verdicts_hold_in_both_modes() {
    let dir = require_data!();
    let mut rows = 0;
    let mut wrong = Vec::new();
    for line in TABLE.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 6, "malformed row: {line}");
        let (name, db, gold, pred) = (f[0], f[1], f[2], f[3]);
        let want = (f[4] == "1", f[5] == "1");
        let out = score_db(&dir, db, gold, pred, &ExConfig::default());
        assert!(out.data_error.is_none(), "{name}: {:?}", out.data_error);
        let got = (out.ex_seed.unwrap(), out.ex_official.unwrap());
        if got != want {
            wrong.push(format!("{name}: want seed/official {want:?}, got {got:?} ({:?})", out.pred_error));
        }
        rows += 1;
    }
    assert!(rows >= 60, "the table must hold at least 60 pairs, has {rows}");
    assert!(wrong.is_empty(), "{} rows disagree:\n{}", wrong.len(), wrong.join("\n"));
}
