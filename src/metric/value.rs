//! One SQLite result value, compared the way the official evaluator compares the Python values that
//! `sqlite3` returns: INTEGER 1 equals REAL 1.0 (exactly, no tolerance), TEXT '1' differs from 1,
//! NULL equals NULL and differs from '', BLOB never equals TEXT.
use rusqlite::types::ValueRef;
use std::hash::{Hash, Hasher};

#[derive(Clone, Debug)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    /// From SQLite; invalid UTF-8 in TEXT loses its invalid bytes, as the official script's
    /// `text_factory = lambda b: b.decode(errors="ignore")` does.
    pub fn from_sqlite(v: ValueRef<'_>) -> Value {
        match v {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Int(i),
            ValueRef::Real(f) => Value::Real(f),
            ValueRef::Text(t) => Value::Text(decode_ignoring_errors(t)),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        }
    }

    /// Python's `str(x) + str(type(x))`, the key the official `unorder_row` sorts a row's values by.
    pub fn python_sort_key(&self) -> String {
        match self {
            Value::Null => "None<class 'NoneType'>".to_string(),
            Value::Int(i) => format!("{i}<class 'int'>"),
            Value::Real(f) => format!("{}<class 'float'>", python_float_repr(*f)),
            Value::Text(s) => format!("{s}<class 'str'>"),
            Value::Blob(b) => format!("{}<class 'bytes'>", python_bytes_repr(b)),
        }
    }

    /// The float equal to this integer, when there is exactly one (Python compares int/float exactly).
    fn int_as_exact_f64(i: i64) -> Option<f64> {
        let f = i as f64;
        // 2^63 is not an i64, so `f as i64` saturates; guard with the range check.
        ((-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) && f as i64 == i).then_some(f)
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Real(a), Value::Real(b)) => a == b,
            (Value::Int(i), Value::Real(f)) | (Value::Real(f), Value::Int(i)) => Value::int_as_exact_f64(*i) == Some(*f),
            (Value::Text(a), Value::Text(b)) => a == b,
            (Value::Blob(a), Value::Blob(b)) => a == b,
            _ => false,
        }
    }
}

// SQLite turns NaN into NULL, so no result holds a NaN and equality is reflexive in practice.
impl Eq for Value {}

impl Hash for Value {
    /// Equal values hash alike: a REAL with an exact integer value hashes as that integer.
    fn hash<H: Hasher>(&self, h: &mut H) {
        match self {
            Value::Null => 0u8.hash(h),
            Value::Int(i) => (1u8, *i).hash(h),
            Value::Real(f) => {
                let as_int = *f as i64;
                if Value::int_as_exact_f64(as_int) == Some(*f) {
                    (1u8, as_int).hash(h)
                } else {
                    (2u8, f.to_bits()).hash(h)
                }
            }
            Value::Text(s) => (3u8, s).hash(h),
            Value::Blob(b) => (4u8, b).hash(h),
        }
    }
}

fn decode_ignoring_errors(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.utf8_chunks().map(|c| c.valid()).collect(),
    }
}

/// Python's `repr(float)`: shortest round-trip digits, positional for exponents -5 < e < 16,
/// otherwise `d.ddde+XX`.
pub fn python_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // Rust's `{:e}` gives the same shortest round-trip digits, as `d.ddd e exp`.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` always has an exponent");
    let exp: i32 = exp.parse().expect("integer exponent");
    let (sign, mantissa) = mantissa.strip_prefix('-').map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if !(-5 < exp && exp < 16) {
        let frac = &digits[1..];
        let dot = if frac.is_empty() { String::new() } else { format!(".{frac}") };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{}{dot}e{esign}{:02}", &digits[..1], exp.abs());
    }
    if exp < 0 {
        return format!("{sign}0.{}{digits}", "0".repeat((-exp - 1) as usize));
    }
    let int_len = exp as usize + 1;
    if digits.len() <= int_len {
        format!("{sign}{digits}{}.0", "0".repeat(int_len - digits.len()))
    } else {
        format!("{sign}{}.{}", &digits[..int_len], &digits[int_len..])
    }
}

/// Python's `repr(bytes)`: `b'...'` with `\\`, `\'`, `\t`, `\n`, `\r` and `\xNN` escapes.
fn python_bytes_repr(b: &[u8]) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') { '"' } else { '\'' };
    let mut s = format!("b{quote}");
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'\t' => s.push_str("\\t"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            c if c as char == quote => {
                s.push('\\');
                s.push(quote)
            }
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push(quote);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_matches_python() {
        let cases = [
            (1.0, "1.0"),
            (1.5, "1.5"),
            (-0.0, "-0.0"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456789.125, "123456789.125"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (2.5e100, "2.5e+100"),
            (1.0 / 3.0, "0.3333333333333333"),
        ];
        for (f, want) in cases {
            assert_eq!(python_float_repr(f), want, "{f}");
        }
    }

    #[test]
    fn int_equals_exact_real_only() {
        assert_eq!(Value::Int(1), Value::Real(1.0));
        assert_ne!(Value::Int(1), Value::Real(1.5));
        assert_ne!(Value::Int(i64::MAX), Value::Real(9.223_372_036_854_776e18));
        assert_ne!(Value::Text("1".into()), Value::Int(1));
        assert_ne!(Value::Null, Value::Text(String::new()));
        assert_ne!(Value::Blob(b"a".to_vec()), Value::Text("a".into()));
    }

    #[test]
    fn invalid_utf8_bytes_are_dropped() {
        assert_eq!(decode_ignoring_errors(b"a\xffb\xc3"), "ab");
    }

    #[test]
    fn bytes_repr_matches_python() {
        assert_eq!(python_bytes_repr(b"a'\x00\n"), "b\"a'\\x00\\n\"");
        assert_eq!(python_bytes_repr(b"ab"), "b'ab'");
    }
}
