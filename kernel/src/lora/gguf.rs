//! llama.cpp's GGUF LoRA format, as its convert_lora_to_gguf.py writes it.
use super::layout::{gguf_permutes, permute_rows};
use super::{bad, scale_of, Adapter, LoraWeights, Proj, Storage};
use crate::config::Config;
use crate::formats::gguf::{GgufFile, Value};
use crate::formats::gguf_write::{write, TensorOut};
use crate::formats::quant::{dequantize, GgmlType};
use crate::Result;
use std::collections::BTreeMap;
use std::path::Path;

/// Writes the adapter as a GGUF LoRA that llama.cpp loads (`--lora`, `Llama(lora_path=...)`):
/// general.type "adapter", general.architecture, adapter.type "lora", adapter.lora.alpha (F32), and
/// per adapted projection F32 tensors `blk.{i}.attn_q.weight.lora_a` (ggml dims [in, r], i.e. r × in)
/// and `.lora_b` ([r, out]), lora_b of q/k in llama.cpp's permuted row order for llama. llama.cpp
/// scales by alpha / r; an rsLoRA adapter is written with alpha·√r so that the scale stays α/√r.
pub fn save_gguf(adapter: &Adapter, cfg: &Config, path: &Path) -> Result<()> {
    save_gguf_as(adapter, cfg, path, Storage::F32)
}

/// `save_gguf` with the tensors in `storage` (F16: llama.cpp's converter's default type).
pub fn save_gguf_as(adapter: &Adapter, cfg: &Config, path: &Path, storage: Storage) -> Result<()> {
    let alpha = if adapter.rslora { adapter.alpha * (adapter.r as f64).sqrt() } else { adapter.alpha };
    let arch = match cfg.arch {
        crate::config::Arch::Llama => "llama",
        crate::config::Arch::Qwen2 => "qwen2",
    };
    let md = vec![
        ("general.architecture".to_string(), Value::Str(arch.into())),
        ("general.type".to_string(), Value::Str("adapter".into())),
        ("general.name".to_string(), Value::Str("sqlora adapter".into())),
        ("adapter.type".to_string(), Value::Str("lora".into())),
        ("adapter.lora.alpha".to_string(), Value::F32(alpha as f32)),
    ];
    let bytes = |v: &[f32]| storage.bytes(v);
    let mut blobs = Vec::with_capacity(2 * adapter.modules.len());
    for (&(li, p), w) in &adapter.modules {
        if (w.din, w.dout) != p.dims(cfg) || li >= cfg.n_layers {
            return Err(bad(path, format!("layer {li} {p} is {}→{}, not this model's", w.din, w.dout)));
        }
        let b = if p.is_rotated() && gguf_permutes(cfg) { permute_rows(&w.b, adapter.r, cfg.head_dim, true) } else { w.b.clone() };
        let name = format!("blk.{li}.{}.weight", p.gguf_name());
        blobs.push((format!("{name}.lora_a"), vec![w.din as u64, adapter.r as u64], bytes(&w.a)));
        blobs.push((format!("{name}.lora_b"), vec![adapter.r as u64, w.dout as u64], bytes(&b)));
    }
    let ty = match storage {
        Storage::F32 => GgmlType::F32,
        Storage::F16 => GgmlType::F16,
    };
    let tensors: Vec<TensorOut> =
        blobs.iter().map(|(name, dims, b)| TensorOut { name: name.clone(), dims: dims.clone(), ty, bytes: b }).collect();
    write(path, &md, &tensors)
}

/// Reads a GGUF LoRA (as `save_gguf` or llama.cpp's converter writes it, F32/F16/BF16 tensors) back
/// into PEFT layout for `cfg`'s model (q/k rows of lora_B un-permuted for llama).
pub fn load_gguf(path: &Path, cfg: &Config) -> Result<Adapter> {
    let f = GgufFile::open(path)?;
    if f.get_str("general.type").ok() != Some("adapter") || f.get_str("adapter.type").ok() != Some("lora") {
        return Err(bad(path, "not a GGUF LoRA adapter (general.type / adapter.type)"));
    }
    let mut halves: BTreeMap<(usize, Proj), [Option<Vec<f32>>; 2]> = BTreeMap::new();
    let mut r = 0;
    for t in &f.tensors {
        let parsed = t.name.strip_prefix("blk.").and_then(|rest| {
            let (li, rest) = rest.split_once('.')?;
            let (proj, half) = rest.rsplit_once(".weight.lora_")?;
            let p = Proj::from_gguf_name(proj)?;
            let is_b = match half {
                "a" => false,
                "b" => true,
                _ => return None,
            };
            Some((li.parse::<usize>().ok()?, p, is_b))
        });
        let Some((li, p, is_b)) = parsed else {
            return Err(bad(path, format!("unexpected tensor {}", t.name)));
        };
        let data = match t.ggml_type {
            GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => {
                let mut v = vec![0f32; t.n_elements() as usize];
                dequantize(t.ggml_type, f.tensor_bytes(t), &mut v);
                v
            }
            other => return Err(bad(path, format!("{}: type {other:?}", t.name))),
        };
        if t.dims.len() != 2 {
            return Err(bad(path, format!("{}: dims {:?}", t.name, t.dims)));
        }
        r = if is_b { t.dims[0] } else { t.dims[1] } as usize;
        halves.entry((li, p)).or_default()[is_b as usize] = Some(data);
    }
    let mut modules = BTreeMap::new();
    for ((li, p), [a, b]) in halves {
        let (Some(a), Some(b)) = (a, b) else {
            return Err(bad(path, format!("blk.{li}.{}: lora_a or lora_b missing", p.gguf_name())));
        };
        let (din, dout) = p.dims(cfg);
        if a.len() != r * din || b.len() != dout * r {
            return Err(bad(path, format!("blk.{li}.{}: shapes do not fit the model", p.gguf_name())));
        }
        let b = if p.is_rotated() && gguf_permutes(cfg) { permute_rows(&b, r, cfg.head_dim, false) } else { b };
        modules.insert((li, p), LoraWeights { a, b, din, dout });
    }
    if modules.is_empty() {
        return Err(bad(path, "no LoRA tensors"));
    }
    let alpha = f.get_f64("adapter.lora.alpha").unwrap_or(r as f64);
    Ok(Adapter { dir: path.to_path_buf(), r, alpha, rslora: false, scale: scale_of(r, alpha, false), modules })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{random_adapter, tiny_cfg};
    use super::*;
    use crate::config::RopeStyle;

    #[test]
    fn save_gguf_then_load_gguf_gives_the_adapter_back() {
        for arch in [crate::config::Arch::Llama, crate::config::Arch::Qwen2] {
            let mut cfg = tiny_cfg(RopeStyle::Half);
            cfg.arch = arch;
            let a = random_adapter(&cfg, 5);
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("adapter.gguf");
            save_gguf(&a, &cfg, &p).unwrap();
            let f = GgufFile::open(&p).unwrap();
            assert_eq!(f.get_str("general.type").unwrap(), "adapter");
            let bq = f.tensor("blk.0.attn_q.weight.lora_b").unwrap();
            assert_eq!(bq.dims, vec![4, 16]);
            let stored: Vec<f32> = f.tensor_bytes(bq).chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
            let permuted = arch == crate::config::Arch::Llama;
            assert_eq!(stored == a.modules[&(0, Proj::Q)].b, !permuted, "{arch:?}: q rows permuted only for llama");
            let back = load_gguf(&p, &cfg).unwrap();
            assert_eq!(back.modules, a.modules);
            assert!((back.scale - a.scale).abs() < 1e-6, "{} vs {}", back.scale, a.scale);
        }
    }
}
