//! A predictions file as rows of JSON objects, whatever its format (JSONL or Parquet, by extension),
//! so `sqlora score` can keep every input field and add its own. Parquet columns become JSON values
//! and back; the column types come from a preferred schema where the values fit, else from the input
//! file, else from the values.
use anyhow::{bail, Context, Result};
use arrow::array::{Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

#[derive(Clone, Debug, Default)]
pub struct Table {
    /// Column names in first-seen order.
    pub columns: Vec<String>,
    /// Arrow types of the columns read from a Parquet input.
    pub input_types: HashMap<String, DataType>,
    pub rows: Vec<Map<String, Json>>,
    /// Where each row came from, for messages: `file:line` (JSONL) or `file:row N` (Parquet).
    pub origins: Vec<String>,
}

impl Table {
    /// Set `key` on row `i`, adding the column when new.
    pub fn set(&mut self, i: usize, key: &str, value: Json) {
        if !self.columns.iter().any(|c| c == key) {
            self.columns.push(key.to_string());
        }
        self.rows[i].insert(key.to_string(), value);
    }
}

pub fn is_parquet(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
}

/// Read JSONL (one object per line; blank lines skipped) or Parquet.
pub fn read_table(path: &Path) -> Result<Table> {
    if is_parquet(path) {
        read_parquet(path)
    } else {
        read_jsonl(path)
    }
}

/// Write JSONL, or Parquet (snappy, readable by the wasm viewer) with types chosen per column.
pub fn write_table(path: &Path, table: &Table, preferred: &Schema) -> Result<()> {
    if is_parquet(path) {
        write_parquet(path, table, preferred)
    } else {
        write_jsonl(path, table)
    }
}

fn read_jsonl(path: &Path) -> Result<Table> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut t = Table::default();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let origin = format!("{}:{}", path.display(), n + 1);
        let line = line.with_context(|| format!("{origin}: not readable as UTF-8 text"))?;
        if line.trim().is_empty() {
            continue;
        }
        let row = match serde_json::from_str::<Json>(&line) {
            Ok(Json::Object(m)) => m,
            Ok(other) => bail!("{origin}: expected a JSON object, got {}", kind(&other)),
            Err(e) => bail!("{origin}: invalid JSON: {e}"),
        };
        for k in row.keys() {
            if !t.columns.contains(k) {
                t.columns.push(k.clone());
            }
        }
        t.rows.push(row);
        t.origins.push(origin);
    }
    Ok(t)
}

fn kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

fn write_jsonl(path: &Path, table: &Table) -> Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = BufWriter::new(file);
    for row in &table.rows {
        // Columns in table order, so rows read back the same way whatever order fields were set in.
        let ordered: Map<String, Json> =
            table.columns.iter().filter_map(|c| row.get(c).map(|v| (c.clone(), v.clone()))).collect();
        serde_json::to_writer(&mut w, &ordered)?;
        w.write_all(b"\n")?;
    }
    w.flush().with_context(|| format!("writing {}", path.display()))
}

fn read_parquet(path: &Path) -> Result<Table> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .with_context(|| format!("{}: not a readable Parquet file", path.display()))?;
    let mut t = Table::default();
    for batch in reader {
        let batch = batch.with_context(|| format!("reading {}", path.display()))?;
        if t.columns.is_empty() {
            for f in batch.schema().fields() {
                t.columns.push(f.name().clone());
                t.input_types.insert(f.name().clone(), f.data_type().clone());
            }
        }
        let cols: Vec<Vec<Json>> = batch
            .columns()
            .iter()
            .zip(batch.schema().fields())
            .map(|(a, f)| column_to_json(a, f.name()))
            .collect::<Result<_>>()?;
        for r in 0..batch.num_rows() {
            t.origins.push(format!("{}: row {}", path.display(), t.rows.len() + 1));
            t.rows.push(t.columns.iter().zip(&cols).map(|(c, vals)| (c.clone(), vals[r].clone())).collect());
        }
    }
    Ok(t)
}

/// One Arrow column as JSON values (strings, integers, floats, booleans; others are refused).
fn column_to_json(a: &ArrayRef, name: &str) -> Result<Vec<Json>> {
    let dt = a.data_type();
    let unsupported = || anyhow::anyhow!("column {name:?} has type {dt}, which sqlora score does not read");
    let vals: Vec<Json> = if dt.is_integer() {
        let a = cast(a, &DataType::Int64)?;
        let a = a.as_any().downcast_ref::<Int64Array>().ok_or_else(unsupported)?;
        a.iter().map(|v| v.map_or(Json::Null, Json::from)).collect()
    } else if dt.is_floating() {
        let a = cast(a, &DataType::Float64)?;
        let a = a.as_any().downcast_ref::<Float64Array>().ok_or_else(unsupported)?;
        a.iter().map(|v| v.and_then(serde_json::Number::from_f64).map_or(Json::Null, Json::Number)).collect()
    } else if matches!(dt, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) {
        let a = cast(a, &DataType::Utf8)?;
        let a = a.as_any().downcast_ref::<StringArray>().ok_or_else(unsupported)?;
        a.iter().map(|v| v.map_or(Json::Null, Json::from)).collect()
    } else if dt == &DataType::Boolean {
        let a = a.as_any().downcast_ref::<BooleanArray>().ok_or_else(unsupported)?;
        a.iter().map(|v| v.map_or(Json::Null, Json::Bool)).collect()
    } else if dt == &DataType::Null {
        vec![Json::Null; a.len()]
    } else {
        return Err(unsupported());
    };
    Ok(vals)
}

/// Can every value of a column be stored as `dt` (nulls only where `nullable`)?
fn fits(dt: &DataType, nullable: bool, vals: &[&Json]) -> bool {
    vals.iter().all(|v| match v {
        Json::Null => nullable,
        Json::Bool(_) => dt == &DataType::Boolean,
        Json::String(_) => matches!(dt, DataType::Utf8 | DataType::LargeUtf8),
        Json::Number(n) if dt.is_integer() => n.as_i64().is_some_and(|i| int_fits(dt, i)),
        Json::Number(_) => dt.is_floating(),
        _ => false,
    })
}

fn int_fits(dt: &DataType, i: i64) -> bool {
    match dt {
        DataType::Int8 => i8::try_from(i).is_ok(),
        DataType::Int16 => i16::try_from(i).is_ok(),
        DataType::Int32 => i32::try_from(i).is_ok(),
        DataType::UInt8 => u8::try_from(i).is_ok(),
        DataType::UInt16 => u16::try_from(i).is_ok(),
        DataType::UInt32 => u32::try_from(i).is_ok(),
        DataType::UInt64 => i >= 0,
        _ => true,
    }
}

/// The type a column gets from its values alone; mixed columns become text.
fn inferred(vals: &[&Json]) -> DataType {
    for dt in [DataType::Boolean, DataType::Int64, DataType::Float64, DataType::Utf8] {
        if fits(&dt, true, vals) {
            return dt;
        }
    }
    DataType::Utf8
}

fn build(dt: &DataType, vals: &[&Json]) -> Result<ArrayRef> {
    let base: ArrayRef = match dt {
        DataType::Boolean => Arc::new(vals.iter().map(|v| v.as_bool()).collect::<BooleanArray>()),
        d if d.is_integer() => Arc::new(vals.iter().map(|v| v.as_i64()).collect::<Int64Array>()),
        d if d.is_floating() => Arc::new(vals.iter().map(|v| v.as_f64()).collect::<Float64Array>()),
        _ => Arc::new(
            vals.iter()
                .map(|v| match v {
                    Json::Null => None,
                    Json::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                })
                .collect::<StringArray>(),
        ),
    };
    Ok(if base.data_type() == dt { base } else { cast(&base, dt)? })
}

/// The table as one record batch: a column takes its `preferred` type where the values fit, else its
/// input type, else one inferred from the values.
pub fn to_batch(table: &Table, preferred: &Schema) -> Result<RecordBatch> {
    if table.columns.is_empty() {
        return Ok(RecordBatch::new_empty(Arc::new(preferred.clone())));
    }
    let mut fields = Vec::new();
    let mut arrays = Vec::new();
    for c in &table.columns {
        let vals: Vec<&Json> = table.rows.iter().map(|r| r.get(c).unwrap_or(&Json::Null)).collect();
        let pref = preferred.field_with_name(c).ok().filter(|f| fits(f.data_type(), f.is_nullable(), &vals));
        let field = match (pref, table.input_types.get(c)) {
            (Some(f), _) => f.clone(),
            (None, Some(dt)) if fits(dt, true, &vals) => Field::new(c, dt.clone(), true),
            _ => Field::new(c, inferred(&vals), true),
        };
        arrays.push(build(field.data_type(), &vals)?);
        fields.push(field);
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

fn write_parquet(path: &Path, table: &Table, preferred: &Schema) -> Result<()> {
    let batch = to_batch(table, preferred)?;
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props))?;
    w.write(&batch)?;
    w.close().with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
