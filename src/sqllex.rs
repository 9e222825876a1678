//! A small SQL lexer shared by the Spider hardness parser and the execution-accuracy text fixes.
//!
//! It only needs to know where strings, comments, words and punctuation start and end, so that
//! rewrites (DISTINCT removal, statement splitting) never touch the inside of a string literal.
//! Tokens keep their byte offsets; concatenating every token's text gives back the input exactly.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Identifier or keyword: `select`, `T1`, `name`.
    Word,
    /// A string literal, `'...'` or `"..."` (Spider writes string values in double quotes).
    Str,
    /// A quoted identifier, `` `...` `` or `[...]`.
    QuotedIdent,
    Number,
    /// Operators and punctuation; `!=`, `<>`, `>=`, `<=`, `==`, `||` are one token.
    Punct,
    Space,
    Comment,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token<'a> {
    pub kind: Kind,
    pub text: &'a str,
    pub start: usize,
}

impl Token<'_> {
    /// True for whitespace and comments, which carry no meaning for a parser.
    pub fn is_trivia(&self) -> bool {
        matches!(self.kind, Kind::Space | Kind::Comment)
    }
}

const TWO_CHAR_PUNCT: [&str; 8] = ["!=", "<>", ">=", "<=", "==", "||", "<<", ">>"];

/// Split `sql` into tokens; never fails (an unterminated string or comment runs to the end).
pub fn lex(sql: &str) -> Vec<Token<'_>> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        let c = b[i];
        let kind = if c.is_ascii_whitespace() {
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            Kind::Space
        } else if c == b'-' && b.get(i + 1) == Some(&b'-') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            Kind::Comment
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i = sql[i + 2..].find("*/").map_or(b.len(), |p| i + 2 + p + 2);
            Kind::Comment
        } else if c == b'\'' || c == b'"' || c == b'`' {
            i = quoted_end(b, i, c);
            if c == b'`' {
                Kind::QuotedIdent
            } else {
                Kind::Str
            }
        } else if c == b'[' {
            i = sql[i..].find(']').map_or(b.len(), |p| i + p + 1);
            Kind::QuotedIdent
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            i = number_end(b, i);
            Kind::Number
        } else if c == b'_' || c == b'$' || c.is_ascii_alphabetic() || c >= 0x80 {
            while i < b.len() && (b[i] == b'_' || b[i] == b'$' || b[i].is_ascii_alphanumeric() || b[i] >= 0x80) {
                i += 1;
            }
            Kind::Word
        } else {
            let two = sql.get(i..i + 2).unwrap_or("");
            i += if TWO_CHAR_PUNCT.contains(&two) { 2 } else { char_len(c) };
            Kind::Punct
        };
        out.push(Token { kind, text: &sql[start..i], start });
    }
    out
}

/// End (exclusive) of a quoted run starting at `i`; a doubled quote is an escaped quote.
fn quoted_end(b: &[u8], i: usize, q: u8) -> usize {
    let mut j = i + 1;
    while j < b.len() {
        if b[j] == q {
            if b.get(j + 1) == Some(&q) {
                j += 2;
                continue;
            }
            return j + 1;
        }
        j += 1;
    }
    b.len()
}

fn number_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
        i += 1;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            i = j;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    i
}

/// Byte length of the UTF-8 character whose first byte is `c` (punctuation may be non-ASCII).
fn char_len(c: u8) -> usize {
    match c {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// The text of the first statement: everything before the first `;` outside strings and comments.
pub fn first_statement(sql: &str) -> &str {
    lex(sql).iter().find(|t| t.kind == Kind::Punct && t.text == ";").map_or(sql, |t| &sql[..t.start])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_concatenate_to_the_input() {
        let sql = "SELECT T1.name, count(*) FROM t AS T1 WHERE x != 'a''b' -- c\n AND y >= 1.5e3 /* z */;";
        let toks = lex(sql);
        let joined: String = toks.iter().map(|t| t.text).collect();
        assert_eq!(joined, sql);
        assert!(toks.iter().any(|t| t.kind == Kind::Str && t.text == "'a''b'"));
        assert!(toks.iter().any(|t| t.kind == Kind::Punct && t.text == "!="));
        assert!(toks.iter().any(|t| t.kind == Kind::Number && t.text == "1.5e3"));
    }

    #[test]
    fn first_statement_ignores_semicolons_in_strings() {
        assert_eq!(first_statement("SELECT 'a;b'; DROP TABLE t"), "SELECT 'a;b'");
        assert_eq!(first_statement("SELECT 1"), "SELECT 1");
        assert_eq!(first_statement("SELECT 1 -- ;\n; x"), "SELECT 1 -- ;\n");
    }
}
