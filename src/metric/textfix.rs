//! The text rewrites the official evaluator applies before running a query (official mode), and the
//! first-statement rule of both modes.
use crate::sqllex::{first_statement, lex, Kind};
use regex::Regex;
use std::sync::OnceLock;

/// Seed mode runs the query as written, first statement only.
pub fn seed_text(sql: &str) -> String {
    first_statement(sql).trim().to_string()
}

/// Official mode, prediction side: `value` -> `1`, then the fixes common to both sides.
pub fn official_pred_text(pred: &str, keep_distinct: bool) -> String {
    // Quirk of the official script (evaluation.py: `p_str.replace("value", "1")`): every lowercase
    // `value` substring, even inside identifiers and strings, becomes `1`. Kept on purpose.
    official_text(&pred.replace("value", "1"), keep_distinct)
}

/// Official mode, gold side.
pub fn official_gold_text(gold: &str, keep_distinct: bool) -> String {
    official_text(gold, keep_distinct)
}

/// `postprocess` (`> =` -> `>=` ...), `remove_distinct` (which keeps only the first statement, as
/// `sqlparse.parse(s)[0]` does) and `replace_cur_year`.
fn official_text(sql: &str, keep_distinct: bool) -> String {
    let fixed = sql.replace("> =", ">=").replace("< =", "<=").replace("! =", "!=");
    let first = first_statement(&fixed);
    let text = if keep_distinct { first.to_string() } else { remove_distinct(first) };
    replace_cur_year(&text).trim().to_string()
}

/// Delete every `distinct` word token (any case), including the one in `COUNT(DISTINCT x)`; the
/// whitespace around it stays, as in the official token join.
pub fn remove_distinct(sql: &str) -> String {
    lex(sql).iter().filter(|t| !(t.kind == Kind::Word && t.text.eq_ignore_ascii_case("distinct"))).map(|t| t.text).collect()
}

/// `YEAR(CURDATE())` -> `2020` (SQLite has neither function; the official script pins the year).
pub fn replace_cur_year(sql: &str) -> String {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(r"(?i)YEAR\s*\(\s*CURDATE\s*\(\s*\)\s*\)\s*").expect("valid regex"));
    re.replace_all(sql, "2020").into_owned()
}

/// Order matters iff the lowercased gold text (after DISTINCT removal) contains `order by`, anywhere.
pub fn order_matters(official_gold: &str) -> bool {
    official_gold.to_lowercase().contains("order by")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_removed_everywhere_but_strings() {
        assert_eq!(
            remove_distinct("SELECT DISTINCT count(distinct a) FROM t WHERE b = 'distinct'"),
            "SELECT  count( a) FROM t WHERE b = 'distinct'"
        );
    }

    #[test]
    fn spaced_comparisons_and_cur_year_are_fixed() {
        assert_eq!(official_gold_text("SELECT a FROM t WHERE b > = YEAR ( CURDATE ( ) ) - 5", false), "SELECT a FROM t WHERE b >= 2020- 5");
    }

    #[test]
    fn value_becomes_one_only_in_prediction() {
        assert_eq!(official_pred_text("SELECT value FROM t", true), "SELECT 1 FROM t");
        assert_eq!(official_gold_text("SELECT value FROM t", true), "SELECT value FROM t");
        assert_eq!(official_pred_text("SELECT Value FROM t", true), "SELECT Value FROM t");
    }
}
