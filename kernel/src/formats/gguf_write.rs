//! GGUF v3 writer, the mirror of `gguf.rs`: metadata, tensor infos, then each tensor's bytes at an
//! offset aligned to `general.alignment` (32 unless the metadata says otherwise). Little-endian.
use super::gguf::Value;
use super::quant::GgmlType;
use crate::error::{Error, Result};
use std::path::Path;

const ALIGNMENT: usize = 32;

/// One tensor to write: ggml dims (dims[0] is the row length) and its encoded bytes.
pub struct TensorOut<'a> {
    pub name: String,
    pub dims: Vec<u64>,
    pub ty: GgmlType,
    pub bytes: &'a [u8],
}

fn type_id(v: &Value) -> u32 {
    match v {
        Value::U8(_) => 0,
        Value::I8(_) => 1,
        Value::U16(_) => 2,
        Value::I16(_) => 3,
        Value::U32(_) => 4,
        Value::I32(_) => 5,
        Value::F32(_) => 6,
        Value::Bool(_) => 7,
        Value::Str(_) => 8,
        Value::Array(_) => 9,
        Value::U64(_) => 10,
        Value::I64(_) => 11,
        Value::F64(_) => 12,
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_value(out: &mut Vec<u8>, v: &Value) -> std::result::Result<(), String> {
    match v {
        Value::U8(x) => out.push(*x),
        Value::I8(x) => out.push(*x as u8),
        Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => out.push(*x as u8),
        Value::Str(s) => put_str(out, s),
        Value::Array(items) => {
            // The element type of an empty array is not known here; write it as u8.
            let elem = items.first().map_or(0, type_id);
            if items.iter().any(|i| type_id(i) != elem) {
                return Err("a metadata array mixes element types".into());
            }
            out.extend_from_slice(&elem.to_le_bytes());
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for i in items {
                put_value(out, i)?;
            }
        }
        Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
    }
    Ok(())
}

/// The whole file in memory (adapters are small).
pub fn encode(metadata: &[(String, Value)], tensors: &[TensorOut<'_>]) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    out.extend_from_slice(b"GGUF");
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    out.extend_from_slice(&(metadata.len() as u64).to_le_bytes());
    for (k, v) in metadata {
        put_str(&mut out, k);
        out.extend_from_slice(&type_id(v).to_le_bytes());
        put_value(&mut out, v)?;
    }
    let pad = |n: usize| n.div_ceil(ALIGNMENT) * ALIGNMENT;
    let mut offset = 0usize;
    for t in tensors {
        let ty = (0..64).find(|&i| GgmlType::from_id(i) == Some(t.ty)).ok_or("tensor type without a GGUF id")?;
        let want = t.ty.row_bytes(t.dims.iter().product::<u64>() as usize);
        if t.dims.is_empty() || t.dims.len() > 4 || want != t.bytes.len() {
            return Err(format!("tensor {}: {} bytes for dims {:?} of {:?}", t.name, t.bytes.len(), t.dims, t.ty));
        }
        put_str(&mut out, &t.name);
        out.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
        for d in &t.dims {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&(offset as u64).to_le_bytes());
        offset = pad(offset + t.bytes.len());
    }
    out.resize(pad(out.len()), 0);
    for t in tensors {
        out.extend_from_slice(t.bytes);
        out.resize(pad(out.len()), 0);
    }
    Ok(out)
}

/// Writes `encode`'s bytes to `path` through a temporary file and a rename.
pub fn write(path: &Path, metadata: &[(String, Value)], tensors: &[TensorOut<'_>]) -> Result<()> {
    let bytes = encode(metadata, tensors).map_err(|msg| Error::BadFile { path: path.to_path_buf(), msg })?;
    crate::atomic_file::write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::gguf::GgufFile;

    #[test]
    fn written_gguf_reads_back_with_the_reader() {
        let a: Vec<u8> = (0..6).flat_map(|i| (i as f32 * 0.5).to_le_bytes()).collect();
        let b: Vec<u8> = (0..5).flat_map(|i| (-(i as f32)).to_le_bytes()).collect();
        let md = vec![
            ("general.architecture".to_string(), Value::Str("llama".into())),
            ("adapter.lora.alpha".to_string(), Value::F32(16.0)),
            ("some.list".to_string(), Value::Array(vec![Value::U32(1), Value::U32(7)])),
            ("some.u64".to_string(), Value::U64(1 << 40)),
        ];
        let ts = [
            TensorOut { name: "x.lora_a".into(), dims: vec![3, 2], ty: GgmlType::F32, bytes: &a },
            TensorOut { name: "x.lora_b".into(), dims: vec![5], ty: GgmlType::F32, bytes: &b },
        ];
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.gguf");
        write(&p, &md, &ts).unwrap();
        let f = GgufFile::open(&p).unwrap();
        assert_eq!(f.version, 3);
        for (k, v) in &md {
            assert_eq!(f.get(k), Some(v), "{k}");
        }
        for t in &ts {
            let info = f.tensor(&t.name).unwrap();
            assert_eq!((&info.dims, info.ggml_type), (&t.dims, t.ty));
            assert_eq!(f.tensor_bytes(info), t.bytes);
        }
    }
}
