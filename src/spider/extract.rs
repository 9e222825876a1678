//! Pulls one SQL statement out of a raw generation: code fences, "SQL:" prefixes, leading prose,
//! trailing prose and further statements are removed. The result is the first statement (without
//! the ";"), whitespace-collapsed, or "" when no SQL is found (the metric then scores 0 with a reason).
use regex::Regex;
use std::sync::OnceLock;

fn start_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"(?i)\b(SELECT|WITH)\b").unwrap())
}

pub fn extract_sql(raw: &str) -> String {
    let mut text = raw.trim().to_string();
    // Inside a fenced block, keep only the first block's body.
    if let Some(open) = text.find("```") {
        let after = &text[open + 3..];
        let body_start = after.find('\n').map(|n| n + 1).unwrap_or(0);
        let lang = after[..body_start].trim();
        let body = if lang.is_empty() || lang.eq_ignore_ascii_case("sql") || lang.eq_ignore_ascii_case("sqlite") {
            &after[body_start..]
        } else {
            after
        };
        text = body.split("```").next().unwrap_or("").to_string();
    }
    // Start at the first SELECT / WITH (drops "SQL:", "Answer:", prose before the query).
    let Some(m) = start_re().find(&text) else { return String::new() };
    let mut sql = &text[m.start()..];
    // One statement: cut at the first ";" outside quotes, then at a blank line or a comment line.
    sql = &sql[..statement_end(sql)];
    for stop in ["\n\n", "\n--", "\n#", "\nQuestion", "\nExplanation", "\nNote"] {
        if let Some(i) = sql.find(stop) {
            sql = &sql[..i];
        }
    }
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Byte offset of the first ";" not inside a quoted string or identifier, else the end.
fn statement_end(s: &str) -> usize {
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '\'' | '"' | '`') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ';') => return i,
            _ => {}
        }
    }
    s.len()
}

#[cfg(test)]
mod tests {
    use super::extract_sql;

    #[test]
    fn extracts_plain_continuation() {
        assert_eq!(extract_sql(" SELECT count(*) FROM singer;\n-- Question: next"), "SELECT count(*) FROM singer");
    }
    #[test]
    fn extracts_from_code_fence() {
        assert_eq!(extract_sql("Here you go:\n```sql\nSELECT name\nFROM t\n```\nThis lists names."), "SELECT name FROM t");
    }
    #[test]
    fn strips_sql_prefix_and_trailing_prose() {
        assert_eq!(extract_sql("SQL: select a from b\n\nThis query selects a."), "select a from b");
    }
    #[test]
    fn keeps_first_of_several_statements() {
        assert_eq!(extract_sql("SELECT 1; SELECT 2;"), "SELECT 1");
    }
    #[test]
    fn semicolon_inside_quotes_is_not_an_end() {
        assert_eq!(extract_sql("SELECT * FROM t WHERE a = 'x;y'; DROP"), "SELECT * FROM t WHERE a = 'x;y'");
    }
    #[test]
    fn with_clause_is_sql() {
        assert_eq!(extract_sql("WITH c AS (SELECT 1) SELECT * FROM c"), "WITH c AS (SELECT 1) SELECT * FROM c");
    }
    #[test]
    fn no_sql_gives_empty() {
        assert_eq!(extract_sql("I cannot answer that."), "");
        assert_eq!(extract_sql(""), "");
    }
}
