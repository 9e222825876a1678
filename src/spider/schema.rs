//! A database's schema as CREATE TABLE text, read from the SQLite file itself (not tables.json), so
//! the prompt shows exactly what a query will run against: columns with declared types, primary
//! keys and foreign keys, tables in the file's creation order, optional sample rows.
use anyhow::{Context, Result};
use rusqlite::{types::ValueRef, Connection, OpenFlags};
use std::fmt::Write;
use std::path::Path;

/// Longest text value shown in a sample row, in characters.
const SAMPLE_TEXT_CHARS: usize = 60;

/// CREATE TABLE statements for every user table of `db_path`, each followed (when `sample_rows` > 0)
/// by a comment with up to that many rows.
pub fn schema_text(db_path: &Path, sample_rows: usize) -> Result<String> {
    let conn = Connection::open_with_flags(db_path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .with_context(|| format!("opening {}", db_path.display()))?;
    let mut out = String::new();
    for table in table_names(&conn)? {
        create_table(&conn, &table, &mut out)?;
        if sample_rows > 0 {
            samples(&conn, &table, sample_rows, &mut out)?;
        }
    }
    Ok(out)
}

/// User tables in creation (rowid) order, which is fixed for a given file.
fn table_names(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt =
        conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid")?;
    let names = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(names)
}

struct Column {
    name: String,
    ty: String,
    pk: i64,
}

fn create_table(conn: &Connection, table: &str, out: &mut String) -> Result<()> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info({})", quote_always(table)))?;
    let cols = stmt
        .query_map([], |r| Ok(Column { name: r.get(1)?, ty: r.get::<_, Option<String>>(2)?.unwrap_or_default(), pk: r.get(5)? }))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut lines: Vec<String> =
        cols.iter().map(|c| if c.ty.is_empty() { ident(&c.name) } else { format!("{} {}", ident(&c.name), c.ty) }).collect();
    let mut pk: Vec<&Column> = cols.iter().filter(|c| c.pk > 0).collect();
    pk.sort_by_key(|c| c.pk);
    if !pk.is_empty() {
        lines.push(format!("PRIMARY KEY ({})", list(pk.iter().map(|c| c.name.as_str()))));
    }
    lines.extend(foreign_keys(conn, table)?);
    let _ = write!(out, "CREATE TABLE {} (\n  {}\n);\n", ident(table), lines.join(",\n  "));
    Ok(())
}

/// `FOREIGN KEY (a, b) REFERENCES t(x, y)`, one per constraint, in declaration order. Some Spider
/// databases reference a table without naming its columns: then the column list is left out.
fn foreign_keys(conn: &Connection, table: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!("PRAGMA foreign_key_list({})", quote_always(table)))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?, r.get::<_, Option<String>>(4)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    // PRAGMA lists constraints last-declared first; sort by id descending to restore declaration order.
    let mut ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids.dedup();
    Ok(ids
        .into_iter()
        .map(|id| {
            let parts: Vec<_> = rows.iter().filter(|r| r.0 == id).collect();
            let from = list(parts.iter().map(|r| r.2.as_str()));
            let to: Vec<&str> = parts.iter().filter_map(|r| r.3.as_deref()).collect();
            let target = ident(&parts[0].1);
            if to.is_empty() {
                format!("FOREIGN KEY ({from}) REFERENCES {target}")
            } else {
                format!("FOREIGN KEY ({from}) REFERENCES {target}({})", list(to.into_iter()))
            }
        })
        .collect())
}

/// A comment after the table: `n example rows:`, the column names, then tab-separated rows.
fn samples(conn: &Connection, table: &str, n: usize, out: &mut String) -> Result<()> {
    let mut stmt = conn.prepare(&format!("SELECT * FROM {} LIMIT {n}", quote_always(table)))?;
    let names: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
    let width = names.len();
    let mut rows = stmt.query([])?;
    let mut body = String::new();
    let mut count = 0;
    while let Some(r) = rows.next()? {
        let cells: Vec<String> = (0..width).map(|i| r.get_ref(i).map(cell).unwrap_or_default()).collect();
        body.push_str(&cells.join("\t"));
        body.push('\n');
        count += 1;
    }
    let _ = write!(out, "/*\n{count} example rows:\nSELECT * FROM {} LIMIT {n};\n{}\n{body}*/\n", ident(table), names.join("\t"));
    Ok(())
}

fn cell(v: ValueRef<'_>) -> String {
    let text = match v {
        ValueRef::Null => return "NULL".into(),
        ValueRef::Integer(i) => return i.to_string(),
        ValueRef::Real(f) => return f.to_string(),
        ValueRef::Text(t) => String::from_utf8_lossy(t).replace(['\t', '\n', '\r'], " "),
        ValueRef::Blob(b) => return format!("<blob {} bytes>", b.len()),
    };
    if text.chars().count() > SAMPLE_TEXT_CHARS {
        text.chars().take(SAMPLE_TEXT_CHARS).collect::<String>() + "…"
    } else {
        text
    }
}

const RESERVED: [&str; 16] =
    ["select", "from", "where", "group", "order", "by", "table", "index", "limit", "join", "on", "as", "and", "or", "not", "values"];

/// An identifier as written in the schema text: bare when it is a plain word, quoted otherwise.
fn ident(name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !RESERVED.contains(&name.to_ascii_lowercase().as_str());
    if plain {
        name.to_string()
    } else {
        quote_always(name)
    }
}

fn quote_always(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.map(ident).collect::<Vec<_>>().join(", ")
}
