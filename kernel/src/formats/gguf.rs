//! GGUF v2/v3 reader: header, every metadata value type, tensor infos, alignment, and memory-mapped
//! tensor data. Layout as documented in ggml's `docs/gguf.md`; all integers are little-endian.
use super::quant::GgmlType;
use crate::error::{Error, Result};
use memmap2::Mmap;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;

/// One metadata value. Arrays keep their element type so an empty array still says what it holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    Str(String),
    Array(Vec<Value>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl Value {
    /// Any integer type as u64 (GGUF writers differ in which width they use for counts).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64),
            Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64),
            Value::U64(v) => Some(v),
            Value::I8(v) if v >= 0 => Some(v as u64),
            Value::I16(v) if v >= 0 => Some(v as u64),
            Value::I32(v) if v >= 0 => Some(v as u64),
            Value::I64(v) if v >= 0 => Some(v as u64),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v as f64),
            Value::F64(v) => Some(v),
            _ => self.as_u64().map(|v| v as f64),
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// Where a tensor lives in the file and how it is encoded.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: dims[0] is the fastest-varying (row length).
    pub dims: Vec<u64>,
    pub ggml_type: GgmlType,
    /// Offset relative to the start of the data section.
    pub offset: u64,
}

impl TensorInfo {
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }
    pub fn n_bytes(&self) -> u64 {
        self.ggml_type.row_bytes(self.n_elements() as usize) as u64
    }
}

pub struct GgufFile {
    pub path: PathBuf,
    pub version: u32,
    pub metadata: BTreeMap<String, Value>,
    pub tensors: Vec<TensorInfo>,
    data_start: u64,
    mmap: Arc<Mmap>,
}

/// Bytes borrowed from a shared memory map: weights stay in the page cache, not copied.
#[derive(Clone)]
pub struct MappedBytes {
    mmap: Arc<Mmap>,
    start: usize,
    len: usize,
}

impl std::ops::Deref for MappedBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.mmap[self.start..self.start + self.len]
    }
}

/// A cursor over the header bytes that turns every short read into a "truncated" error.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or_else(|| Error::BadFile {
            path: self.path.to_path_buf(),
            msg: format!("truncated: needed {n} bytes at offset {}", self.pos),
        })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn string(&mut self) -> Result<String> {
        let n = self.u64()?;
        let n = self.check_len(n, 1)?;
        let bytes = self.take(n)?;
        // Some converters wrote invalid UTF-8 in token lists; keep what is there rather than refuse.
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }
    /// Guards against absurd lengths in corrupt files before allocating.
    fn check_len(&self, n: u64, min_elem_bytes: u64) -> Result<usize> {
        let left = (self.buf.len() - self.pos) as u64;
        if n.saturating_mul(min_elem_bytes) > left {
            return Err(self.bad(format!("truncated: length {n} at offset {} runs past the end of the file", self.pos)));
        }
        Ok(n as usize)
    }
    fn bad(&self, msg: String) -> Error {
        Error::BadFile { path: self.path.to_path_buf(), msg }
    }
    fn value(&mut self, ty: u32) -> Result<Value> {
        Ok(match ty {
            0 => Value::U8(self.u8()?),
            1 => Value::I8(self.u8()? as i8),
            2 => Value::U16(self.u16()?),
            3 => Value::I16(self.u16()? as i16),
            4 => Value::U32(self.u32()?),
            5 => Value::I32(self.u32()? as i32),
            6 => Value::F32(f32::from_bits(self.u32()?)),
            7 => Value::Bool(self.u8()? != 0),
            8 => Value::Str(self.string()?),
            9 => {
                let elem = self.u32()?;
                let n = self.u64()?;
                let n = self.check_len(n, 1)?;
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(self.value(elem)?);
                }
                Value::Array(v)
            }
            10 => Value::U64(self.u64()?),
            11 => Value::I64(self.u64()? as i64),
            12 => Value::F64(f64::from_bits(self.u64()?)),
            t => return Err(self.bad(format!("unknown metadata value type {t}"))),
        })
    }
}

impl GgufFile {
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: the file is opened read-only; a concurrent writer could change bytes under us, as with
        // any mmap-based loader (llama.cpp does the same).
        let mmap = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        let mut r = Reader { buf: &mmap, pos: 0, path };
        if r.buf.len() < 4 || r.take(4)? != MAGIC {
            return Err(r.bad("not a GGUF file (magic bytes are not \"GGUF\")".into()));
        }
        let version = r.u32()?;
        if !(2..=3).contains(&version) {
            return Err(r.bad(format!("GGUF version {version} is not supported (2 and 3 are)")));
        }
        let n_tensors = r.u64()?;
        let n_kv = r.u64()?;
        let n_tensors = r.check_len(n_tensors, 24)?;
        let n_kv = r.check_len(n_kv, 12)?;
        let mut metadata = BTreeMap::new();
        for _ in 0..n_kv {
            let key = r.string()?;
            let ty = r.u32()?;
            let v = r.value(ty)?;
            metadata.insert(key, v);
        }
        let mut tensors = Vec::with_capacity(n_tensors);
        for _ in 0..n_tensors {
            let name = r.string()?;
            let nd = r.u32()?;
            if nd == 0 || nd > 4 {
                return Err(r.bad(format!("tensor {name}: {nd} dimensions")));
            }
            let dims = (0..nd).map(|_| r.u64()).collect::<Result<Vec<_>>>()?;
            let ty = r.u32()?;
            let ggml_type =
                GgmlType::from_id(ty).ok_or_else(|| r.bad(format!("tensor {name}: unknown or unsupported quantization type id {ty}")))?;
            let offset = r.u64()?;
            tensors.push(TensorInfo { name, dims, ggml_type, offset });
        }
        let alignment = metadata.get("general.alignment").and_then(Value::as_u64).unwrap_or(DEFAULT_ALIGNMENT);
        if alignment == 0 || !alignment.is_power_of_two() {
            return Err(r.bad(format!("general.alignment {alignment} is not a power of two")));
        }
        let data_start = (r.pos as u64).div_ceil(alignment) * alignment;
        let f = GgufFile { path: path.to_path_buf(), version, metadata, tensors, data_start, mmap: Arc::new(mmap) };
        for t in &f.tensors {
            if t.ggml_type.block_size() > 1 && t.dims[0] % t.ggml_type.block_size() as u64 != 0 {
                return Err(f.bad(format!("tensor {}: row length {} is not a multiple of the block size", t.name, t.dims[0])));
            }
            if t.offset % alignment != 0 {
                return Err(f.bad(format!("tensor {}: offset {} is not aligned to {alignment}", t.name, t.offset)));
            }
            let end = f.data_start + t.offset + t.n_bytes();
            if end > f.mmap.len() as u64 {
                return Err(f.bad(format!("truncated: tensor {} ends at byte {end} but the file has {} bytes", t.name, f.mmap.len())));
            }
        }
        Ok(f)
    }

    fn bad(&self, msg: String) -> Error {
        Error::BadFile { path: self.path.clone(), msg }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }
    pub fn get_u64(&self, key: &str) -> Result<u64> {
        self.get(key).and_then(Value::as_u64).ok_or_else(|| self.bad(format!("metadata {key} is missing or not an integer")))
    }
    pub fn get_f64(&self, key: &str) -> Result<f64> {
        self.get(key).and_then(Value::as_f64).ok_or_else(|| self.bad(format!("metadata {key} is missing or not a number")))
    }
    pub fn get_str(&self, key: &str) -> Result<&str> {
        self.get(key).and_then(Value::as_str).ok_or_else(|| self.bad(format!("metadata {key} is missing or not a string")))
    }
    pub fn architecture(&self) -> Result<&str> {
        self.get_str("general.architecture")
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The raw (possibly quantized) bytes of a tensor, borrowed from the memory map.
    pub fn tensor_bytes(&self, t: &TensorInfo) -> &[u8] {
        let start = (self.data_start + t.offset) as usize;
        &self.mmap[start..start + t.n_bytes() as usize]
    }

    /// The same bytes as an owned handle that keeps the map alive.
    pub fn tensor_mapped(&self, t: &TensorInfo) -> MappedBytes {
        MappedBytes { mmap: self.mmap.clone(), start: (self.data_start + t.offset) as usize, len: t.n_bytes() as usize }
    }
}
