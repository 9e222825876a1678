//! The GGUF reader on hand-written files: every metadata value type, tensor infos, alignment, and
//! clear errors for bad files.
use sqlora_kernel::formats::gguf::{GgufFile, Value};
use sqlora_kernel::formats::quant::GgmlType;
use sqlora_kernel::Engine;
use std::io::Write;

struct W(Vec<u8>);
impl W {
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend(v.to_le_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend(v.to_le_bytes());
        self
    }
    fn s(&mut self, v: &str) -> &mut Self {
        self.u64(v.len() as u64);
        self.0.extend(v.as_bytes());
        self
    }
    fn kv(&mut self, k: &str, ty: u32, payload: &[u8]) -> &mut Self {
        self.s(k).u32(ty);
        self.0.extend(payload);
        self
    }
}

/// A GGUF v3 file with one metadata key of every type and two tensors (F32 [4], Q8_0 [32, 2]).
fn sample(alignment: u32, tensor_type: u32, arch: &str) -> Vec<u8> {
    let mut w = W(b"GGUF".to_vec());
    w.u32(3).u64(2).u64(15);
    w.kv("general.architecture", 8, &{
        let mut x = W(Vec::new());
        x.s(arch);
        x.0
    });
    w.kv("general.alignment", 4, &alignment.to_le_bytes());
    w.kv("t.u8", 0, &[200]);
    w.kv("t.i8", 1, &[(-5i8) as u8]);
    w.kv("t.u16", 2, &60000u16.to_le_bytes());
    w.kv("t.i16", 3, &(-300i16).to_le_bytes());
    w.kv("t.i32", 5, &(-70000i32).to_le_bytes());
    w.kv("t.f32", 6, &1.5f32.to_le_bytes());
    w.kv("t.bool", 7, &[1]);
    w.kv("t.u64", 10, &(1u64 << 40).to_le_bytes());
    w.kv("t.i64", 11, &(-(1i64 << 40)).to_le_bytes());
    w.kv("t.f64", 12, &2.25f64.to_le_bytes());
    let mut arr = W(Vec::new());
    arr.u32(8).u64(2).s("a").s("bc");
    w.kv("t.arr_str", 9, &arr.0);
    let mut arr = W(Vec::new());
    arr.u32(5).u64(3).u32(1).u32(2).u32(3);
    w.kv("t.arr_i32", 9, &arr.0);
    let mut arr = W(Vec::new());
    arr.u32(6).u64(0);
    w.kv("t.arr_empty", 9, &arr.0);
    // tensor infos
    w.s("vec").u32(1).u64(4).u32(0).u64(0);
    let second = (16u64).div_ceil(alignment as u64) * alignment as u64;
    w.s("mat").u32(2).u64(32).u64(2).u32(tensor_type).u64(second);
    while !w.0.len().is_multiple_of(alignment as usize) {
        w.0.push(0);
    }
    for v in [1.0f32, -2.0, 3.5, 0.25] {
        w.0.extend(v.to_le_bytes());
    }
    while (w.0.len() - (w.0.len() - 16)) < second as usize {
        w.0.push(0);
        if w.0.len().is_multiple_of(alignment as usize) {
            break;
        }
    }
    for r in 0..2 {
        w.0.extend(half::f16::from_f32(0.5 * (r + 1) as f32).to_le_bytes());
        w.0.extend((0..32).map(|j| (j as i8 - 16) as u8));
    }
    w.0
}

fn write_tmp(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(bytes).unwrap();
    f
}

#[test]
fn gguf_reads_every_metadata_type_and_tensor() {
    for alignment in [32u32, 64] {
        let f = write_tmp(&sample(alignment, 8, "llama"));
        let g = GgufFile::open(f.path()).unwrap();
        assert_eq!(g.version, 3);
        assert_eq!(g.get("t.u8"), Some(&Value::U8(200)));
        assert_eq!(g.get("t.i8"), Some(&Value::I8(-5)));
        assert_eq!(g.get("t.u16"), Some(&Value::U16(60000)));
        assert_eq!(g.get("t.i16"), Some(&Value::I16(-300)));
        assert_eq!(g.get("t.i32"), Some(&Value::I32(-70000)));
        assert_eq!(g.get("t.f32"), Some(&Value::F32(1.5)));
        assert_eq!(g.get("t.bool"), Some(&Value::Bool(true)));
        assert_eq!(g.get("t.u64"), Some(&Value::U64(1 << 40)));
        assert_eq!(g.get("t.i64"), Some(&Value::I64(-(1 << 40))));
        assert_eq!(g.get("t.f64"), Some(&Value::F64(2.25)));
        assert_eq!(g.get("t.arr_str"), Some(&Value::Array(vec![Value::Str("a".into()), Value::Str("bc".into())])));
        assert_eq!(g.get("t.arr_i32"), Some(&Value::Array(vec![Value::I32(1), Value::I32(2), Value::I32(3)])));
        assert_eq!(g.get("t.arr_empty"), Some(&Value::Array(vec![])));
        let v = g.tensor("vec").unwrap();
        assert_eq!((v.ggml_type, v.dims.clone()), (GgmlType::F32, vec![4]));
        let b = g.tensor_bytes(v);
        assert_eq!(f32::from_le_bytes(b[12..16].try_into().unwrap()), 0.25);
        let m = g.tensor("mat").unwrap();
        assert_eq!((m.ggml_type, m.dims.clone(), m.offset % alignment as u64), (GgmlType::Q8_0, vec![32, 2], 0));
        let mut out = vec![0f32; 64];
        sqlora_kernel::formats::quant::dequantize(m.ggml_type, g.tensor_bytes(m), &mut out);
        assert_eq!(out[0], -16.0 * 0.5);
        assert_eq!(out[32 + 31], 15.0 * 1.0);
    }
}

fn err_of(bytes: &[u8]) -> String {
    let f = write_tmp(bytes);
    match GgufFile::open(f.path()) {
        Ok(_) => "opened".into(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn gguf_truncated_file_is_a_clear_error() {
    let full = sample(32, 8, "llama");
    for cut in [3, 10, 40, full.len() - 5] {
        let e = err_of(&full[..cut]);
        assert!(e.contains("truncated") || e.contains("not a GGUF"), "cut {cut}: {e}");
    }
}

#[test]
fn gguf_bad_magic_and_version_are_clear_errors() {
    assert!(err_of(b"PK\x03\x04 not a gguf").contains("not a GGUF file"));
    let mut b = sample(32, 8, "llama");
    b[4] = 9;
    assert!(err_of(&b).contains("version 9"));
}

#[test]
fn gguf_unknown_quant_type_is_a_clear_error() {
    let e = err_of(&sample(32, 99, "llama"));
    assert!(e.contains("unknown or unsupported quantization type id 99"), "{e}");
}

#[test]
fn gguf_unknown_architecture_is_a_clear_error() {
    let f = write_tmp(&sample(32, 8, "mamba"));
    let e = Engine::load(f.path()).err().expect("must fail").to_string();
    assert!(e.contains("architecture \"mamba\""), "{e}");
}

#[test]
fn missing_model_file_is_a_clear_error() {
    let e = Engine::load("/nonexistent/model.gguf").err().expect("must fail").to_string();
    assert!(e.contains("does not exist"), "{e}");
}
