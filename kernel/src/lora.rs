//! LoRA adapters in PEFT's format (adapter_config.json + adapter_model.safetensors) for inference:
//! y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ with s = α/r (α/√r with rsLoRA). The scale is folded into B when the adapter
//! is attached, so the product costs two small matmuls per adapted projection.
use crate::{Error, Result};
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The seven Llama projections an adapter may target, by their PEFT / Hugging Face module names.
pub const TARGETS: [&str; 7] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

/// A host-side adapter: per (layer, target index in `TARGETS`) the matrices A (r × in) and B (out × r).
pub struct Adapter {
    pub dir: PathBuf,
    pub r: usize,
    pub alpha: f64,
    pub scale: f32,
    pub modules: BTreeMap<(usize, usize), (Vec<f32>, Vec<f32>, usize, usize)>,
}

fn bad(dir: &Path, msg: impl Into<String>) -> Error {
    Error::BadFile { path: dir.to_path_buf(), msg: msg.into() }
}

impl Adapter {
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let cfg_path = dir.join("adapter_config.json");
        let cfg_text = std::fs::read_to_string(&cfg_path).map_err(|e| Error::io(&cfg_path, e))?;
        let cfg: serde_json::Value = serde_json::from_str(&cfg_text).map_err(|e| bad(&cfg_path, e.to_string()))?;
        let r = cfg.get("r").and_then(|v| v.as_u64()).ok_or_else(|| bad(&cfg_path, "no \"r\""))? as usize;
        let alpha = cfg.get("lora_alpha").and_then(|v| v.as_f64()).unwrap_or(r as f64);
        let rslora = cfg.get("use_rslora").and_then(|v| v.as_bool()).unwrap_or(false);
        if cfg.get("fan_in_fan_out").and_then(|v| v.as_bool()).unwrap_or(false) {
            return Err(bad(&cfg_path, "fan_in_fan_out adapters are not supported"));
        }
        let scale = if rslora { alpha / (r as f64).sqrt() } else { alpha / r as f64 } as f32;
        let st_path = dir.join("adapter_model.safetensors");
        let bytes = std::fs::read(&st_path).map_err(|e| Error::io(&st_path, e))?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(&st_path, e.to_string()))?;
        let mut halves: BTreeMap<(usize, usize), (Option<(Vec<f32>, Vec<usize>)>, Option<(Vec<f32>, Vec<usize>)>)> = BTreeMap::new();
        for name in st.names() {
            let Some((layer, target, is_a)) = parse_name(name) else {
                return Err(bad(&st_path, format!("unexpected tensor {name}")));
            };
            let t = st.tensor(name).map_err(|e| bad(&st_path, e.to_string()))?;
            let data = to_f32(t.dtype(), t.data()).ok_or_else(|| bad(&st_path, format!("{name}: dtype {:?}", t.dtype())))?;
            let e = halves.entry((layer, target)).or_default();
            let v = Some((data, t.shape().to_vec()));
            if is_a {
                e.0 = v
            } else {
                e.1 = v
            }
        }
        let mut modules = BTreeMap::new();
        for ((layer, target), (a, b)) in halves {
            let (Some((a, sa)), Some((b, sb))) = (a, b) else {
                return Err(bad(&st_path, format!("layer {layer} {}: lora_A or lora_B missing", TARGETS[target])));
            };
            if sa.len() != 2 || sb.len() != 2 || sa[0] != r || sb[1] != r {
                return Err(bad(&st_path, format!("layer {layer} {}: shapes {sa:?} / {sb:?} do not fit r = {r}", TARGETS[target])));
            }
            modules.insert((layer, target), (a, b, sa[1], sb[0]));
        }
        if modules.is_empty() {
            return Err(bad(&st_path, "no LoRA tensors"));
        }
        Ok(Adapter { dir: dir.to_path_buf(), r, alpha, scale, modules })
    }
}

/// "base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight" → (3, q_proj, true).
fn parse_name(name: &str) -> Option<(usize, usize, bool)> {
    let rest = &name[name.find("layers.")? + 7..];
    let (layer, rest) = rest.split_once('.')?;
    let target = TARGETS.iter().position(|t| rest.contains(&format!("{t}.")))?;
    let is_a = if rest.contains("lora_A") {
        true
    } else if rest.contains("lora_B") {
        false
    } else {
        return None;
    };
    Some((layer.parse().ok()?, target, is_a))
}

fn to_f32(d: Dtype, b: &[u8]) -> Option<Vec<f32>> {
    Some(match d {
        Dtype::F32 => b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect(),
        Dtype::F16 => b.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        Dtype::BF16 => b.chunks_exact(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        _ => return None,
    })
}
