//! CSV records as Python's `csv.reader` (excel dialect, `newline=''`) reads them, which is how the
//! MMLU files were written and how the llama.cpp reference script reads them: fields separated by
//! commas, quoted with `"` when they hold commas, quotes (doubled) or line breaks; a record ends at
//! `\n`, `\r\n` or `\r` outside quotes; line breaks inside quotes are kept byte for byte (four MMLU
//! questions hold a `\r`). A hand parser instead of a crate: the format is small and the rules must
//! be exactly these.
use anyhow::{bail, Result};

/// Every record of `text`; a trailing line break does not make an empty record.
pub fn parse(text: &str) -> Result<Vec<Vec<String>>> {
    let mut records = Vec::new();
    let mut record: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut line = 1usize;
    // Inside a record (something was read since the last record ended).
    let mut started = false;
    while let Some(c) = chars.next() {
        started = true;
        match c {
            '"' if field.is_empty() => {
                // A quoted field: up to the closing quote; `""` is one quote.
                let open_line = line;
                loop {
                    match chars.next() {
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(ch) => {
                            if ch == '\n' {
                                line += 1;
                            }
                            field.push(ch);
                        }
                        None => bail!("line {open_line}: quoted field is never closed"),
                    }
                }
                // After the closing quote Python keeps reading text into the same field.
            }
            ',' => record.push(std::mem::take(&mut field)),
            '\r' | '\n' => {
                if c == '\r' && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                line += 1;
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
                started = false;
            }
            _ => field.push(c),
        }
    }
    if started {
        record.push(field);
        records.push(record);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn rec(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn quoted_fields_keep_commas_quotes_and_line_breaks() {
        let text = "q1,\"a, b\",\"say \"\"hi\"\"\",\"two\nlines\",\"cr\r\nlf\",A\r\nplain,x,y,z,w,B\n";
        let r = parse(text).unwrap();
        assert_eq!(r, vec![rec(&["q1", "a, b", "say \"hi\"", "two\nlines", "cr\r\nlf", "A"]), rec(&["plain", "x", "y", "z", "w", "B"])]);
    }

    #[test]
    fn last_record_without_line_break_and_empty_fields() {
        assert_eq!(parse("a,,c").unwrap(), vec![rec(&["a", "", "c"])]);
        assert_eq!(parse("\"\",b\n").unwrap(), vec![rec(&["", "b"])]);
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn unclosed_quote_names_its_line() {
        let err = parse("a,b\n\"open,c\n").unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn text_after_closing_quote_joins_the_field_like_python() {
        // Python: list(csv.reader(['"ab"c,d'])) == [['abc', 'd']]
        assert_eq!(parse("\"ab\"c,d").unwrap(), vec![rec(&["abc", "d"])]);
    }
}
