//! A predictions file as rows of JSON objects, whatever its format (JSONL or Parquet, by extension),
//! so `sqlora score` can keep every input field and add its own. Parquet columns become JSON values
//! and back; the column types come from a preferred schema where the values fit, else from the input
//! file, else from the values.
use anyhow::{bail, Context, Result};
use arrow_array::types::{
    Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{
    cast::AsArray, Array, ArrayRef, ArrowPrimitiveType, BooleanArray, LargeStringArray, NullArray, PrimitiveArray, RecordBatch,
    StringArray, StringViewArray,
};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::ChunkReader;
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
    /// File-level key-value metadata of a Parquet input (the results kind and schema version).
    pub metadata: HashMap<String, String>,
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
        let ordered: Map<String, Json> = table.columns.iter().filter_map(|c| row.get(c).map(|v| (c.clone(), v.clone()))).collect();
        serde_json::to_writer(&mut w, &ordered)?;
        w.write_all(b"\n")?;
    }
    w.flush().with_context(|| format!("writing {}", path.display()))
}

fn read_parquet(path: &Path) -> Result<Table> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    read_parquet_from(file, &path.display().to_string())
}

/// A Parquet file already in memory (the viewer's fetched or dropped files); `origin` names it in
/// messages.
pub fn read_parquet_bytes(bytes: Vec<u8>, origin: &str) -> Result<Table> {
    read_parquet_from(bytes::Bytes::from(bytes), origin)
}

fn read_parquet_from<R: ChunkReader + 'static>(input: R, origin: &str) -> Result<Table> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(input).with_context(|| format!("{origin}: not a readable Parquet file"))?;
    let mut t = Table::default();
    for kv in builder.metadata().file_metadata().key_value_metadata().into_iter().flatten() {
        if let Some(v) = &kv.value {
            t.metadata.insert(kv.key.clone(), v.clone());
        }
    }
    // The columns come from the file's schema, so a file with no rows still says what it holds.
    for f in builder.schema().fields() {
        t.columns.push(f.name().clone());
        t.input_types.insert(f.name().clone(), f.data_type().clone());
    }
    let reader = builder.build().with_context(|| format!("{origin}: not a readable Parquet file"))?;
    for batch in reader {
        let batch = batch.with_context(|| format!("reading {origin}"))?;
        let cols: Vec<Vec<Json>> =
            batch.columns().iter().zip(batch.schema().fields()).map(|(a, f)| column_to_json(a, f.name())).collect::<Result<_>>()?;
        for r in 0..batch.num_rows() {
            t.origins.push(format!("{origin}: row {}", t.rows.len() + 1));
            t.rows.push(t.columns.iter().zip(&cols).map(|(c, vals)| (c.clone(), vals[r].clone())).collect());
        }
    }
    Ok(t)
}

/// A primitive column's values as JSON through `f`.
fn primitive<T: ArrowPrimitiveType>(a: &ArrayRef, f: impl Fn(T::Native) -> Json) -> Vec<Json> {
    a.as_primitive::<T>().iter().map(|v| v.map_or(Json::Null, &f)).collect()
}

fn strings<'a>(it: impl Iterator<Item = Option<&'a str>>) -> Vec<Json> {
    it.map(|v| v.map_or(Json::Null, Json::from)).collect()
}

fn float(x: f64) -> Json {
    serde_json::Number::from_f64(x).map_or(Json::Null, Json::Number)
}

/// One Arrow column as JSON values (strings, integers, floats, booleans; others are refused).
/// Each type is read directly rather than through `arrow::compute::cast`, whose kernels for every
/// pair of types would otherwise be most of the viewer's wasm.
fn column_to_json(a: &ArrayRef, name: &str) -> Result<Vec<Json>> {
    Ok(match a.data_type() {
        DataType::Int8 => primitive::<Int8Type>(a, Json::from),
        DataType::Int16 => primitive::<Int16Type>(a, Json::from),
        DataType::Int32 => primitive::<Int32Type>(a, Json::from),
        DataType::Int64 => primitive::<Int64Type>(a, Json::from),
        DataType::UInt8 => primitive::<UInt8Type>(a, Json::from),
        DataType::UInt16 => primitive::<UInt16Type>(a, Json::from),
        DataType::UInt32 => primitive::<UInt32Type>(a, Json::from),
        DataType::UInt64 => primitive::<UInt64Type>(a, Json::from),
        DataType::Float32 => primitive::<Float32Type>(a, |x| float(f64::from(x))),
        DataType::Float64 => primitive::<Float64Type>(a, float),
        DataType::Utf8 => strings(a.as_string::<i32>().iter()),
        DataType::LargeUtf8 => strings(a.as_string::<i64>().iter()),
        DataType::Utf8View => strings(a.as_string_view().iter()),
        DataType::Boolean => a.as_boolean().iter().map(|v| v.map_or(Json::Null, Json::Bool)).collect(),
        DataType::Null => vec![Json::Null; a.len()],
        dt => bail!("column {name:?} has type {dt}, which the results reader does not read"),
    })
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

/// One column of `dt` from values that `fits` it (each type built directly: see `column_to_json`).
fn build(dt: &DataType, vals: &[&Json]) -> Result<ArrayRef> {
    // Integers were range-checked by `fits`, so the narrowing cannot fail there.
    fn ints<T: ArrowPrimitiveType>(vals: &[&Json]) -> ArrayRef
    where
        T::Native: TryFrom<i64>,
    {
        Arc::new(vals.iter().map(|v| v.as_i64().and_then(|i| T::Native::try_from(i).ok())).collect::<PrimitiveArray<T>>())
    }
    let text = |v: &&Json| match v {
        Json::Null => None,
        Json::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    };
    Ok(match dt {
        DataType::Boolean => Arc::new(vals.iter().map(|v| v.as_bool()).collect::<BooleanArray>()),
        DataType::Int8 => ints::<Int8Type>(vals),
        DataType::Int16 => ints::<Int16Type>(vals),
        DataType::Int32 => ints::<Int32Type>(vals),
        DataType::Int64 => ints::<Int64Type>(vals),
        DataType::UInt8 => ints::<UInt8Type>(vals),
        DataType::UInt16 => ints::<UInt16Type>(vals),
        DataType::UInt32 => ints::<UInt32Type>(vals),
        DataType::UInt64 => ints::<UInt64Type>(vals),
        DataType::Float32 => Arc::new(vals.iter().map(|v| v.as_f64().map(|x| x as f32)).collect::<PrimitiveArray<Float32Type>>()),
        DataType::Float64 => Arc::new(vals.iter().map(|v| v.as_f64()).collect::<PrimitiveArray<Float64Type>>()),
        DataType::Utf8 => Arc::new(vals.iter().map(text).collect::<StringArray>()),
        DataType::LargeUtf8 => Arc::new(vals.iter().map(text).collect::<LargeStringArray>()),
        DataType::Utf8View => Arc::new(vals.iter().map(text).collect::<StringViewArray>()),
        DataType::Null => Arc::new(NullArray::new(vals.len())),
        dt => bail!("a column of type {dt} cannot be written"),
    })
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
    // The kind and schema version go in the file's own key-value metadata, where pyarrow
    // (`read_metadata().metadata`) and DuckDB (`parquet_kv_metadata`) see them too.
    let kv: Vec<KeyValue> = preferred.metadata().iter().map(|(k, v)| KeyValue::new(k.clone(), v.clone())).collect();
    let props =
        WriterProperties::builder().set_compression(Compression::SNAPPY).set_key_value_metadata((!kv.is_empty()).then_some(kv)).build();
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props))?;
    w.write(&batch)?;
    w.close().with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
