//! PEFT's adapter format: adapter_config.json and adapter_model.safetensors with tensors named
//! "base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight" (A: r × in, B: out × r).
use super::{bad, scale_of, Adapter, LoraWeights, Proj, Storage};
use crate::atomic_file::write_atomic;
use crate::Result;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::path::Path;

type Half = Option<(Vec<f32>, Vec<usize>)>;

pub(super) fn load(dir: &Path) -> Result<Adapter> {
    let cfg_path = dir.join("adapter_config.json");
    let cfg_text = std::fs::read_to_string(&cfg_path).map_err(|e| crate::Error::io(&cfg_path, e))?;
    let cfg: serde_json::Value = serde_json::from_str(&cfg_text).map_err(|e| bad(&cfg_path, e.to_string()))?;
    let r = cfg.get("r").and_then(|v| v.as_u64()).ok_or_else(|| bad(&cfg_path, "no \"r\""))? as usize;
    let alpha = cfg.get("lora_alpha").and_then(|v| v.as_f64()).unwrap_or(r as f64);
    let rslora = cfg.get("use_rslora").and_then(|v| v.as_bool()).unwrap_or(false);
    if cfg.get("fan_in_fan_out").and_then(|v| v.as_bool()).unwrap_or(false) {
        return Err(bad(&cfg_path, "fan_in_fan_out adapters are not supported"));
    }
    let st_path = dir.join("adapter_model.safetensors");
    let bytes = std::fs::read(&st_path).map_err(|e| crate::Error::io(&st_path, e))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(&st_path, e.to_string()))?;
    let mut halves: BTreeMap<(usize, Proj), (Half, Half)> = BTreeMap::new();
    for name in st.names() {
        let Some((layer, proj, is_a)) = parse_name(name) else {
            return Err(bad(&st_path, format!("unexpected tensor {name}")));
        };
        let t = st.tensor(name).map_err(|e| bad(&st_path, e.to_string()))?;
        let data = to_f32(t.dtype(), t.data()).ok_or_else(|| bad(&st_path, format!("{name}: dtype {:?}", t.dtype())))?;
        let e = halves.entry((layer, proj)).or_default();
        let v = Some((data, t.shape().to_vec()));
        if is_a {
            e.0 = v
        } else {
            e.1 = v
        }
    }
    let mut modules = BTreeMap::new();
    for ((layer, proj), (a, b)) in halves {
        let (Some((a, sa)), Some((b, sb))) = (a, b) else {
            return Err(bad(&st_path, format!("layer {layer} {proj}: lora_A or lora_B missing")));
        };
        if sa.len() != 2 || sb.len() != 2 || sa[0] != r || sb[1] != r {
            return Err(bad(&st_path, format!("layer {layer} {proj}: shapes {sa:?} / {sb:?} do not fit r = {r}")));
        }
        modules.insert((layer, proj), LoraWeights { a, b, din: sa[1], dout: sb[0] });
    }
    if modules.is_empty() {
        return Err(bad(&st_path, "no LoRA tensors"));
    }
    Ok(Adapter { dir: dir.to_path_buf(), r, alpha, rslora, scale: scale_of(r, alpha, rslora), modules })
}

impl Adapter {
    /// Writes the adapter in PEFT's format into `dir` (created if missing): `adapter_model.safetensors`
    /// (F32, PEFT's tensor names, B unscaled) and `adapter_config.json`, each through a temporary file
    /// and a rename, so a reader never sees half a file. `peft.PeftModel.from_pretrained` loads it.
    pub fn save_peft(&self, dir: &Path, base_model: &str) -> Result<()> {
        self.save_peft_as(dir, base_model, Storage::F32)
    }

    /// `save_peft` with the tensors in `storage` (F16: half the size; peft loads it as it is).
    pub fn save_peft_as(&self, dir: &Path, base_model: &str, storage: Storage) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| crate::Error::io(dir, e))?;
        let st_path = dir.join("adapter_model.safetensors");
        let mut blobs: Vec<(String, Vec<u8>, Vec<usize>)> = Vec::with_capacity(2 * self.modules.len());
        for (&(li, p), w) in &self.modules {
            if w.a.len() != self.r * w.din || w.b.len() != w.dout * self.r {
                return Err(bad(&st_path, format!("layer {li} {p}: A/B sizes do not fit r = {}", self.r)));
            }
            blobs.push((peft_name(li, p, true), storage.bytes(&w.a), vec![self.r, w.din]));
            blobs.push((peft_name(li, p, false), storage.bytes(&w.b), vec![w.dout, self.r]));
        }
        let dtype = match storage {
            Storage::F32 => Dtype::F32,
            Storage::F16 => Dtype::F16,
        };
        let views = blobs
            .iter()
            .map(|(n, d, s)| TensorView::new(dtype, s.clone(), d).map(|v| (n.clone(), v)))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| bad(&st_path, e.to_string()))?;
        let meta = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
        let st = safetensors::serialize(views, Some(meta)).map_err(|e| bad(&st_path, e.to_string()))?;
        write_atomic(&st_path, &st)?;
        // target_modules: the names when the adapter covers every target on the same layers (with
        // those layers in layers_to_transform), else a regex PEFT matches against full module names.
        let targets = self.targets();
        let layers = self.layers();
        let product = self.modules.len() == targets.len() * layers.len();
        let (target_modules, layers_to_transform) = if product {
            (serde_json::json!(targets), serde_json::json!(layers))
        } else {
            let alts: Vec<String> = self.modules.keys().map(|&(l, p)| format!("{l}\\.{}\\.{p}", p.block())).collect();
            (serde_json::json!(format!(".*\\.layers\\.({})", alts.join("|"))), serde_json::Value::Null)
        };
        let cfg = serde_json::json!({
            "peft_type": "LORA",
            "task_type": "CAUSAL_LM",
            "r": self.r,
            "lora_alpha": self.alpha,
            "use_rslora": self.rslora,
            "target_modules": target_modules,
            "layers_to_transform": layers_to_transform,
            "lora_dropout": 0.0,
            "bias": "none",
            "fan_in_fan_out": false,
            "use_dora": false,
            "init_lora_weights": true,
            "inference_mode": true,
            "modules_to_save": null,
            "base_model_name_or_path": base_model,
        });
        let text = serde_json::to_string_pretty(&cfg).expect("JSON of plain values");
        write_atomic(&dir.join("adapter_config.json"), text.as_bytes())
    }
}

/// PEFT's tensor name: "base_model.model.model.layers.{layer}.self_attn.q_proj.lora_A.weight".
pub fn peft_name(layer: usize, p: Proj, a: bool) -> String {
    let half = if a { "lora_A" } else { "lora_B" };
    format!("base_model.model.model.layers.{layer}.{}.{p}.{half}.weight", p.block())
}

/// "base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight" → (3, Q, true).
fn parse_name(name: &str) -> Option<(usize, Proj, bool)> {
    let rest = &name[name.find("layers.")? + 7..];
    let (layer, rest) = rest.split_once('.')?;
    let proj = Proj::ALL.into_iter().find(|p| rest.contains(&format!("{p}.")))?;
    let is_a = if rest.contains("lora_A") {
        true
    } else if rest.contains("lora_B") {
        false
    } else {
        return None;
    };
    Some((layer.parse().ok()?, proj, is_a))
}

fn to_f32(d: Dtype, b: &[u8]) -> Option<Vec<f32>> {
    Some(match d {
        Dtype::F32 => b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect(),
        Dtype::F16 => b.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        Dtype::BF16 => b.chunks_exact(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{random_adapter, tiny_cfg};
    use super::*;
    use crate::config::RopeStyle;

    #[test]
    fn save_peft_then_load_gives_identical_tensors() {
        let cfg = tiny_cfg(RopeStyle::Half);
        let mut a = random_adapter(&cfg, 3);
        let dir = tempfile::tempdir().unwrap();
        a.save_peft(dir.path(), "tiny").unwrap();
        let back = Adapter::load(dir.path()).unwrap();
        assert_eq!((back.r, back.alpha, back.rslora, back.scale), (a.r, a.alpha, a.rslora, a.scale));
        assert_eq!(back.modules, a.modules);
        let read_cfg = || -> serde_json::Value {
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("adapter_config.json")).unwrap()).unwrap()
        };
        assert_eq!(read_cfg()["peft_type"], "LORA");
        assert_eq!(read_cfg()["target_modules"].as_array().unwrap().len(), 7);
        // A subset that is not layers × targets: a regex of full module names.
        a.modules.retain(|&(l, p), _| (l == 0 && p == Proj::Q) || (l == 1 && p == Proj::Down));
        a.save_peft(dir.path(), "tiny").unwrap();
        let back = Adapter::load(dir.path()).unwrap();
        assert_eq!(back.modules, a.modules);
        assert_eq!(read_cfg()["target_modules"], ".*\\.layers\\.(0\\.self_attn\\.q_proj|1\\.mlp\\.down_proj)");
        assert!(std::fs::read_dir(dir.path()).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().contains(".tmp")));
    }
}
