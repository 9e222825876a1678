//! Typed rows ↔ files: any serde struct written as Parquet (snappy) or JSONL under a given Arrow
//! schema, read back, and replaced in place by key — so each results file keeps one definition of
//! its columns and needs no reader or writer code of its own.
use super::check::check_table;
use super::schema::Kind;
use super::table::{is_parquet, read_table, write_table, Table};
use anyhow::{Context, Result};
use arrow_schema::Schema;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;

/// Write `rows` to `path` (Parquet when it ends in `.parquet`, else JSONL), columns in schema order.
/// The file is written under a temporary name of its own (no two writers share one) and renamed over
/// `path`, so a reader never sees half a file.
pub fn write_rows<T: Serialize>(path: &Path, rows: &[T], schema: &Schema) -> Result<()> {
    let mut t = Table::default();
    for r in rows {
        match serde_json::to_value(r)? {
            serde_json::Value::Object(m) => t.rows.push(m),
            _ => anyhow::bail!("a results row must serialize to an object"),
        }
    }
    t.columns = schema.fields().iter().map(|f| f.name().clone()).collect();
    path.file_name().context("results path without a file name")?;
    let tmp = temp_beside(path, if is_parquet(path) { "parquet" } else { "jsonl" });
    write_table(&tmp, &t, schema)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::Error::new(e).context(format!("renaming {} to {}", tmp.display(), path.display()))
    })
}

#[cfg(not(target_arch = "wasm32"))]
fn temp_beside(path: &Path, ext: &str) -> std::path::PathBuf {
    super::lock::unique_temp(path, ext)
}

#[cfg(target_arch = "wasm32")]
fn temp_beside(path: &Path, ext: &str) -> std::path::PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp.{ext}"))
}

/// Rows of a file written by [`write_rows`]; a missing file is no rows. A Parquet file is first
/// checked against `kind` (a newer schema, another kind or missing required columns are errors).
pub fn read_rows<T: DeserializeOwned>(path: &Path, kind: Kind) -> Result<Vec<T>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let t = read_table(path)?;
    if is_parquet(path) {
        let found = check_table(&t, &path.display().to_string())?;
        anyhow::ensure!(found.kind == kind, "{}: a {} file, expected {}", path.display(), found.kind.name(), kind.name());
    }
    rows_of(t)
}

/// Typed rows of a table (each from its JSON object; missing nullable fields become None).
pub fn rows_of<T: DeserializeOwned>(t: Table) -> Result<Vec<T>> {
    t.rows
        .into_iter()
        .zip(&t.origins)
        .map(|(m, origin)| serde_json::from_value(serde_json::Value::Object(m)).with_context(|| origin.clone()))
        .collect()
}

/// Replace the rows of `path` for which `replaced` holds by `new` (appended), keeping the others. The
/// read-modify-write holds the file's lock (`lock::lock_exclusive`), so concurrent runs writing into
/// one results folder each keep their rows and never lose the other's.
pub fn upsert_rows<T: Serialize + DeserializeOwned>(path: &Path, new: Vec<T>, replaced: impl Fn(&T) -> bool, kind: Kind) -> Result<()> {
    #[cfg(not(target_arch = "wasm32"))]
    let _lock = super::lock::lock_exclusive(path, |lp| {
        eprintln!("waiting for another sqlora process writing {} ({})", path.display(), lp.display())
    })?;
    let mut rows: Vec<T> = read_rows::<T>(path, kind)?.into_iter().filter(|r| !replaced(r)).collect();
    rows.extend(new);
    write_rows(path, &rows, &kind.arrow_schema())
}
