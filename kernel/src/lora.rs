//! LoRA adapters in PEFT's format (adapter_config.json + adapter_model.safetensors) for inference:
//! y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ with s = α/r (α/√r with rsLoRA). The scale is folded into B when the adapter
//! is attached, so the product costs two small matmuls per adapted projection.
//!
//! An `Adapter` always holds PEFT's (Hugging Face's) layout. The engine holds the q/k rows of a GGUF
//! llama in llama.cpp's order (see `rows_permuted`); `b_to_engine` / `b_from_engine` are the one
//! place that converts lora_B between the two.
use crate::backend::RopeStyle;
use crate::config::Config;
use crate::{Error, Result};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The seven Llama projections an adapter may target, by their PEFT / Hugging Face module names.
pub const TARGETS: [&str; 7] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

/// A host-side adapter: per (layer, target index in `TARGETS`) the matrices A (r × in) and B (out × r).
#[derive(Debug, Clone)]
pub struct Adapter {
    pub dir: PathBuf,
    pub r: usize,
    pub alpha: f64,
    /// rsLoRA scaling (α/√r instead of α/r).
    pub rslora: bool,
    /// `scale_of(r, alpha, rslora)`.
    pub scale: f32,
    /// (A row-major r × in, B row-major out × r, in, out), unscaled, Hugging Face row order.
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
        let scale = scale_of(r, alpha, rslora);
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
        Ok(Adapter { dir: dir.to_path_buf(), r, alpha, rslora, scale, modules })
    }

    /// PEFT's initialization (`init_lora_weights=True`) for every layer of `cfg` and each projection
    /// index of `targets` (into `TARGETS`): A (r × in) from torch's `kaiming_uniform_(a=√5)`, i.e.
    /// uniform(−1/√in, 1/√in), B zero. Deterministic in `seed`: A's values are drawn layer by layer,
    /// targets in `TARGETS` order, row-major, from `Rng::new(seed)`.
    pub fn init_peft(cfg: &Config, r: usize, alpha: f64, rslora: bool, targets: &[usize], seed: u64) -> Adapter {
        let targets: BTreeSet<usize> = targets.iter().copied().filter(|&t| t < TARGETS.len()).collect();
        let mut rng = Rng::new(seed);
        let mut modules = BTreeMap::new();
        for li in 0..cfg.n_layers {
            for &t in &targets {
                let (din, dout) = proj_dims(cfg, t);
                let bound = 1.0 / (din as f32).sqrt();
                let a: Vec<f32> = (0..r * din).map(|_| rng.uniform(-bound, bound)).collect();
                modules.insert((li, t), (a, vec![0f32; dout * r], din, dout));
            }
        }
        Adapter { dir: PathBuf::new(), r, alpha, rslora, scale: scale_of(r, alpha, rslora), modules }
    }

    /// The adapted projections' names, in `TARGETS` order.
    pub fn targets(&self) -> Vec<&'static str> {
        let set: BTreeSet<usize> = self.modules.keys().map(|&(_, t)| t).collect();
        set.into_iter().map(|t| TARGETS[t]).collect()
    }

    /// The adapted layers, ascending.
    pub fn layers(&self) -> Vec<usize> {
        let set: BTreeSet<usize> = self.modules.keys().map(|&(l, _)| l).collect();
        set.into_iter().collect()
    }

    /// Writes the adapter in PEFT's format into `dir` (created if missing): `adapter_model.safetensors`
    /// (F32, PEFT's tensor names, B unscaled) and `adapter_config.json`, each through a temporary file
    /// and a rename, so a reader never sees half a file. `peft.PeftModel.from_pretrained` loads it.
    pub fn save_peft(&self, dir: &Path, base_model: &str) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let st_path = dir.join("adapter_model.safetensors");
        let mut blobs: Vec<(String, Vec<u8>, Vec<usize>)> = Vec::with_capacity(2 * self.modules.len());
        for (&(li, t), (a, b, din, dout)) in &self.modules {
            if a.len() != self.r * din || b.len() != dout * self.r {
                return Err(bad(&st_path, format!("layer {li} {}: A/B sizes do not fit r = {}", TARGETS[t], self.r)));
            }
            let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
            blobs.push((peft_name(li, t, true), bytes(a), vec![self.r, *din]));
            blobs.push((peft_name(li, t, false), bytes(b), vec![*dout, self.r]));
        }
        let views = blobs
            .iter()
            .map(|(n, d, s)| TensorView::new(Dtype::F32, s.clone(), d).map(|v| (n.clone(), v)))
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
            let alts: Vec<String> = self.modules.keys().map(|&(l, t)| format!("{l}\\.{}\\.{}", block_of(t), TARGETS[t])).collect();
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

/// llama.cpp's names of the seven projections (`blk.{i}.{name}.weight`), in `TARGETS` order.
pub const GGUF_TARGETS: [&str; 7] = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"];

/// Whether llama.cpp's GGUF of this architecture holds q/k rows permuted (its converter does so for
/// llama, whether our copy of the model is a GGUF or a Hugging Face directory; not for qwen2).
fn gguf_permutes(cfg: &Config) -> bool {
    cfg.arch == crate::config::Arch::Llama
}

/// Writes the adapter as a GGUF LoRA that llama.cpp loads (`--lora`, `Llama(lora_path=...)`), as its
/// convert_lora_to_gguf.py does: general.type "adapter", general.architecture, adapter.type "lora",
/// adapter.lora.alpha (F32), and per adapted projection F32 tensors `blk.{i}.attn_q.weight.lora_a`
/// (ggml dims [in, r], i.e. r × in) and `.lora_b` ([r, out]), lora_b of q/k in llama.cpp's permuted row
/// order for llama. llama.cpp scales by alpha / r; an rsLoRA adapter is written with
/// alpha·√r so that the scale stays α/√r.
pub fn save_gguf(adapter: &Adapter, cfg: &Config, path: &Path) -> Result<()> {
    use crate::formats::gguf::Value;
    use crate::formats::gguf_write::{write, TensorOut};
    use crate::formats::quant::GgmlType;
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
    let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let mut blobs = Vec::with_capacity(2 * adapter.modules.len());
    for (&(li, t), (a, b, din, dout)) in &adapter.modules {
        if (*din, *dout) != proj_dims(cfg, t) || li >= cfg.n_layers {
            return Err(bad(path, format!("layer {li} {} is {din}→{dout}, not this model's", TARGETS[t])));
        }
        let b = if t <= 1 && gguf_permutes(cfg) { permute_rows(b, adapter.r, cfg.head_dim, true) } else { b.clone() };
        let name = format!("blk.{li}.{}.weight", GGUF_TARGETS[t]);
        blobs.push((format!("{name}.lora_a"), vec![*din as u64, adapter.r as u64], bytes(a)));
        blobs.push((format!("{name}.lora_b"), vec![adapter.r as u64, *dout as u64], bytes(&b)));
    }
    let tensors: Vec<TensorOut> =
        blobs.iter().map(|(name, dims, b)| TensorOut { name: name.clone(), dims: dims.clone(), ty: GgmlType::F32, bytes: b }).collect();
    write(path, &md, &tensors)
}

/// Reads a GGUF LoRA (as `save_gguf` or llama.cpp's converter writes it, F32/F16/BF16 tensors) back
/// into PEFT layout for `cfg`'s model (q/k rows of lora_B un-permuted for llama).
pub fn load_gguf(path: &Path, cfg: &Config) -> Result<Adapter> {
    use crate::formats::gguf::GgufFile;
    use crate::formats::quant::GgmlType;
    let f = GgufFile::open(path)?;
    if f.get_str("general.type").ok() != Some("adapter") || f.get_str("adapter.type").ok() != Some("lora") {
        return Err(bad(path, "not a GGUF LoRA adapter (general.type / adapter.type)"));
    }
    let mut halves: BTreeMap<(usize, usize), [Option<Vec<f32>>; 2]> = BTreeMap::new();
    let mut r = 0;
    for t in &f.tensors {
        let parsed = t.name.strip_prefix("blk.").and_then(|rest| {
            let (li, rest) = rest.split_once('.')?;
            let (proj, half) = rest.rsplit_once(".weight.lora_")?;
            let ti = GGUF_TARGETS.iter().position(|g| *g == proj)?;
            let is_b = match half {
                "a" => false,
                "b" => true,
                _ => return None,
            };
            Some((li.parse::<usize>().ok()?, ti, is_b))
        });
        let Some((li, ti, is_b)) = parsed else {
            return Err(bad(path, format!("unexpected tensor {}", t.name)));
        };
        let data = match t.ggml_type {
            GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => {
                let mut v = vec![0f32; t.n_elements() as usize];
                crate::formats::quant::dequantize(t.ggml_type, f.tensor_bytes(t), &mut v);
                v
            }
            other => return Err(bad(path, format!("{}: type {other:?}", t.name))),
        };
        if t.dims.len() != 2 {
            return Err(bad(path, format!("{}: dims {:?}", t.name, t.dims)));
        }
        r = if is_b { t.dims[0] } else { t.dims[1] } as usize;
        halves.entry((li, ti)).or_default()[is_b as usize] = Some(data);
    }
    let mut modules = BTreeMap::new();
    for ((li, t), [a, b]) in halves {
        let (Some(a), Some(b)) = (a, b) else {
            return Err(bad(path, format!("blk.{li}.{}: lora_a or lora_b missing", GGUF_TARGETS[t])));
        };
        let (din, dout) = proj_dims(cfg, t);
        if a.len() != r * din || b.len() != dout * r {
            return Err(bad(path, format!("blk.{li}.{}: shapes do not fit the model", GGUF_TARGETS[t])));
        }
        let b = if t <= 1 && gguf_permutes(cfg) { permute_rows(&b, r, cfg.head_dim, false) } else { b };
        modules.insert((li, t), (a, b, din, dout));
    }
    if modules.is_empty() {
        return Err(bad(path, "no LoRA tensors"));
    }
    let alpha = f.get_f64("adapter.lora.alpha").unwrap_or(r as f64);
    Ok(Adapter { dir: path.to_path_buf(), r, alpha, rslora: false, scale: scale_of(r, alpha, false), modules })
}

/// W + s·B·A in place for W (dout × din, row-major, Hugging Face row order).
pub fn merge_into(w: &mut [f32], a: &[f32], b: &[f32], r: usize, din: usize, s: f32) {
    for (o, row) in w.chunks_exact_mut(din).enumerate() {
        for k in 0..r {
            let c = s * b[o * r + k];
            if c != 0.0 {
                row.iter_mut().zip(&a[k * din..(k + 1) * din]).for_each(|(x, &av)| *x += c * av);
            }
        }
    }
}

/// Writes `src` with `adapter` merged (W + s·B·A) as a dense Hugging Face model directory `out`:
/// model.safetensors (F32, or F16 with `f16`) in Hugging Face layout (the q/k rows of a GGUF llama
/// un-permuted), config.json (the source's, or one made from the GGUF's hyper-parameters), and a
/// tokenizer.json (copied with the other tokenizer files, or rebuilt from the GGUF's vocabulary).
pub fn merge_hf(src: &crate::loader::ModelSource, adapter: &Adapter, out: &Path, f16: bool) -> Result<()> {
    use crate::formats::quant::dequantize;
    use crate::loader::{hf_name, ModelSource};
    let cfg = src.config()?;
    for (&(li, t), (_, _, din, dout)) in &adapter.modules {
        if li >= cfg.n_layers || (*din, *dout) != proj_dims(&cfg, t) {
            return Err(Error::BadInput(format!("{}: layer {li} {} does not fit the model", adapter.dir.display(), TARGETS[t])));
        }
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut names = vec!["token_embd.weight".to_string(), "output_norm.weight".to_string()];
    if !cfg.tied {
        names.push("output.weight".into());
    }
    for li in 0..cfg.n_layers {
        names.push(format!("blk.{li}.attn_norm.weight"));
        names.push(format!("blk.{li}.ffn_norm.weight"));
        for g in GGUF_TARGETS {
            names.push(format!("blk.{li}.{g}.weight"));
        }
        if cfg.qkv_bias {
            for g in &GGUF_TARGETS[..3] {
                names.push(format!("blk.{li}.{g}.bias"));
            }
        }
    }
    let permuted = rows_permuted(&cfg);
    let mut blobs: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::with_capacity(names.len());
    for name in &names {
        let t = src.require(name)?;
        let mut w = vec![0f32; t.rows * t.cols];
        dequantize(t.ty, t.bytes, &mut w);
        // (layer, projection) of a projection weight or bias.
        let proj = name.strip_prefix("blk.").and_then(|rest| {
            let (li, rest) = rest.split_once('.')?;
            let (g, kind) = rest.rsplit_once('.')?;
            Some((li.parse::<usize>().ok()?, GGUF_TARGETS.iter().position(|x| *x == g)?, kind == "weight"))
        });
        if let Some((li, ti, is_weight)) = proj {
            if permuted && ti <= 1 {
                let cols = if is_weight { t.cols } else { 1 };
                w = permute_rows(&w, cols, cfg.head_dim, false);
            }
            if let (true, Some((a, b, din, _))) = (is_weight, adapter.modules.get(&(li, ti))) {
                merge_into(&mut w, a, b, adapter.r, *din, adapter.scale);
            }
        }
        let shape = if t.rows == 1 && !name.ends_with("embd.weight") { vec![t.cols] } else { vec![t.rows, t.cols] };
        let bytes = if f16 {
            w.iter().flat_map(|x| half::f16::from_f32(*x).to_le_bytes()).collect()
        } else {
            w.iter().flat_map(|x| x.to_le_bytes()).collect()
        };
        blobs.push((hf_name(name), shape, bytes));
    }
    let st_path = out.join("model.safetensors");
    let dtype = if f16 { Dtype::F16 } else { Dtype::F32 };
    let views = blobs
        .iter()
        .map(|(n, shape, d)| TensorView::new(dtype, shape.clone(), d).map(|v| (n.clone(), v)))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(&st_path, e.to_string()))?;
    let meta = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
    let bytes = safetensors::serialize(views, Some(meta)).map_err(|e| bad(&st_path, e.to_string()))?;
    drop(blobs);
    write_atomic(&st_path, &bytes)?;
    let dtype_name = if f16 { "float16" } else { "float32" };
    match src {
        ModelSource::Hf { dir, config_json, .. } => {
            let mut v: serde_json::Value = serde_json::from_str(config_json).map_err(|e| bad(dir, e.to_string()))?;
            v["torch_dtype"] = dtype_name.into();
            v["dtype"] = dtype_name.into();
            write_atomic(&out.join("config.json"), serde_json::to_string_pretty(&v).expect("JSON").as_bytes())?;
            for f in ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"] {
                if dir.join(f).is_file() {
                    std::fs::copy(dir.join(f), out.join(f)).map_err(|e| Error::io(&dir.join(f), e))?;
                }
            }
        }
        ModelSource::Gguf(f) => {
            let (arch, model_type) = match cfg.arch {
                crate::config::Arch::Llama => ("LlamaForCausalLM", "llama"),
                crate::config::Arch::Qwen2 => ("Qwen2ForCausalLM", "qwen2"),
            };
            let id = |k: &str| f.get_u64(k).ok();
            let v = serde_json::json!({
                "architectures": [arch],
                "model_type": model_type,
                "hidden_size": cfg.hidden,
                "intermediate_size": cfg.intermediate,
                "num_attention_heads": cfg.n_heads,
                "num_hidden_layers": cfg.n_layers,
                "num_key_value_heads": cfg.n_kv_heads,
                "head_dim": cfg.head_dim,
                "hidden_act": "silu",
                "rms_norm_eps": cfg.rms_eps as f64,
                "rope_theta": cfg.rope_theta as f64,
                "max_position_embeddings": cfg.context,
                "vocab_size": cfg.vocab,
                "tie_word_embeddings": cfg.tied,
                "attention_bias": cfg.qkv_bias,
                "bos_token_id": id("tokenizer.ggml.bos_token_id"),
                "eos_token_id": id("tokenizer.ggml.eos_token_id"),
                "torch_dtype": dtype_name,
            });
            write_atomic(&out.join("config.json"), serde_json::to_string_pretty(&v).expect("JSON").as_bytes())?;
            crate::tokenizer::Tokenizer::from_gguf(f)?.save_json(&out.join("tokenizer.json"))?;
        }
    }
    Ok(())
}

/// s = α/r, or α/√r with rsLoRA.
pub fn scale_of(r: usize, alpha: f64, rslora: bool) -> f32 {
    (if rslora { alpha / (r as f64).sqrt() } else { alpha / r as f64 }) as f32
}

/// (input, output) features of projection `t` (an index into `TARGETS`).
pub fn proj_dims(c: &Config, t: usize) -> (usize, usize) {
    match t {
        0 => (c.hidden, c.q_dim()),
        1 | 2 => (c.hidden, c.kv_dim()),
        3 => (c.q_dim(), c.hidden),
        4 | 5 => (c.hidden, c.intermediate),
        _ => (c.intermediate, c.hidden),
    }
}

fn block_of(t: usize) -> &'static str {
    if t < 4 {
        "self_attn"
    } else {
        "mlp"
    }
}

/// PEFT's tensor name: "base_model.model.model.layers.{layer}.self_attn.q_proj.lora_A.weight".
pub fn peft_name(layer: usize, t: usize, a: bool) -> String {
    let half = if a { "lora_A" } else { "lora_B" };
    format!("base_model.model.model.layers.{layer}.{}.{}.{half}.weight", block_of(t), TARGETS[t])
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Whether the engine holds the q_proj / k_proj rows of this model in llama.cpp's GGUF order rather
/// than Hugging Face's. llama.cpp's converter permutes them for llama (per head, HF's half-split RoPE
/// pairs (j, j + d/2) become adjacent pairs (2j, 2j + 1)), and the engine then rotates adjacent pairs
/// (`RopeStyle::Interleaved`); a Hugging Face directory (either architecture) and a qwen2 GGUF keep
/// HF's order and `RopeStyle::Half`. So the rope style is the key.
pub fn rows_permuted(cfg: &Config) -> bool {
    cfg.rope_style == RopeStyle::Interleaved
}

/// Reorders the rows of a row-major [rows × cols] matrix whose rows are heads of `head_dim`:
/// `to_gguf` maps HF row h·d + s·d/2 + j to h·d + 2j + s (s ∈ {0, 1}), as llama.cpp's converter;
/// otherwise the inverse.
pub fn permute_rows(m: &[f32], cols: usize, head_dim: usize, to_gguf: bool) -> Vec<f32> {
    assert!(cols > 0 && head_dim.is_multiple_of(2) && m.len().is_multiple_of(cols * head_dim), "permute_rows: shape");
    let rows = m.len() / cols;
    let half = head_dim / 2;
    let mut out = vec![0f32; m.len()];
    for h0 in (0..rows).step_by(head_dim) {
        for s in 0..2 {
            for j in 0..half {
                let (hf, gg) = (h0 + s * half + j, h0 + 2 * j + s);
                let (from, to) = if to_gguf { (hf, gg) } else { (gg, hf) };
                out[to * cols..(to + 1) * cols].copy_from_slice(&m[from * cols..(from + 1) * cols]);
            }
        }
    }
    out
}

/// lora_B (dout × r) of projection `t` in the engine's row order for `cfg` (permuted for q/k when
/// `rows_permuted`, else as is).
pub fn b_to_engine(cfg: &Config, t: usize, b: &[f32], r: usize) -> Vec<f32> {
    if t <= 1 && rows_permuted(cfg) {
        permute_rows(b, r, cfg.head_dim, true)
    } else {
        b.to_vec()
    }
}

/// The inverse of `b_to_engine`: lora_B back in Hugging Face / PEFT row order.
pub fn b_from_engine(cfg: &Config, t: usize, b: &[f32], r: usize) -> Vec<f32> {
    if t <= 1 && rows_permuted(cfg) {
        permute_rows(b, r, cfg.head_dim, false)
    } else {
        b.to_vec()
    }
}

/// splitmix64's output function (Steele, Lea & Flood): a bijective mix of a 64-bit state.
pub fn splitmix64_mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The top 24 bits of `x` as a uniform value in [0, 1).
pub fn unit_f32(x: u64) -> f32 {
    (x >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
}

/// A small deterministic generator (xoshiro256**, seeded through splitmix64): the same seed gives the
/// same stream on every platform.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            splitmix64_mix(x)
        };
        Rng { s: [next(), next(), next(), next()] }
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let out = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }

    /// Uniform in [0, 1) with 24 bits.
    pub fn next_f32(&mut self) -> f32 {
        unit_f32(self.next_u64())
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.next_f32()
    }

    /// Uniform in 0..n (n > 0), by rejection (no modulo bias).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0);
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let v = self.next_u64();
            if v < zone {
                return v % n;
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_cfg(style: RopeStyle) -> Config {
        Config {
            arch: crate::config::Arch::Llama,
            hidden: 16,
            n_layers: 2,
            n_heads: 4,
            n_kv_heads: 2,
            head_dim: 4,
            intermediate: 24,
            vocab: 32,
            rms_eps: 1e-5,
            rope_theta: 10000.0,
            rope_style: style,
            context: 64,
            tied: true,
            qkv_bias: false,
        }
    }

    #[test]
    fn permute_then_unpermute_is_identity() {
        let m: Vec<f32> = (0..8 * 3 * 5).map(|x| x as f32).collect();
        for hd in [4, 8] {
            let p = permute_rows(&m, 5, hd, true);
            assert_ne!(p, m, "head_dim {hd} permutes something");
            assert_eq!(permute_rows(&p, 5, hd, false), m);
        }
        // llama.cpp's reshape(n_head, 2, d/2, cols).swapaxes(1, 2): one head of 4 rows → 0, 2, 1, 3.
        let one: Vec<f32> = (0..4).map(|x| x as f32).collect();
        assert_eq!(permute_rows(&one, 1, 4, true), vec![0.0, 2.0, 1.0, 3.0]);
    }

    #[test]
    fn engine_layout_permutes_only_qk_of_interleaved_models() {
        let b: Vec<f32> = (0..16 * 3).map(|x| x as f32).collect();
        let gguf = tiny_cfg(RopeStyle::Interleaved);
        let hf = tiny_cfg(RopeStyle::Half);
        assert_ne!(b_to_engine(&gguf, 0, &b, 3), b);
        assert_eq!(b_from_engine(&gguf, 0, &b_to_engine(&gguf, 0, &b, 3), 3), b);
        assert_eq!(b_to_engine(&gguf, 2, &b, 3), b);
        assert_eq!(b_to_engine(&hf, 0, &b, 3), b);
    }

    #[test]
    fn init_peft_is_kaiming_uniform_a_and_zero_b_and_deterministic() {
        let cfg = tiny_cfg(RopeStyle::Half);
        let a = Adapter::init_peft(&cfg, 4, 8.0, false, &[0, 2, 6], 7);
        assert_eq!(a.modules.len(), 6);
        assert_eq!(a.targets(), vec!["q_proj", "v_proj", "down_proj"]);
        assert_eq!(a.scale, 2.0);
        for (&(_, t), (am, bm, din, dout)) in &a.modules {
            assert_eq!((*din, *dout), proj_dims(&cfg, t));
            let bound = 1.0 / (*din as f32).sqrt();
            assert!(am.iter().all(|x| x.abs() <= bound) && am.iter().any(|x| x.abs() > bound / 2.0));
            assert!(bm.iter().all(|&x| x == 0.0));
        }
        let again = Adapter::init_peft(&cfg, 4, 8.0, false, &[0, 2, 6], 7);
        assert_eq!(a.modules, again.modules);
        let other = Adapter::init_peft(&cfg, 4, 8.0, false, &[0, 2, 6], 8);
        assert_ne!(a.modules, other.modules);
        assert_eq!(Adapter::init_peft(&cfg, 4, 8.0, true, &[0], 7).scale, 4.0);
    }

    #[test]
    fn save_peft_then_load_gives_identical_tensors() {
        let cfg = tiny_cfg(RopeStyle::Half);
        let mut a = Adapter::init_peft(&cfg, 4, 16.0, true, &[0, 1, 2, 3, 4, 5, 6], 3);
        let mut rng = Rng::new(11);
        for (_, b, _, _) in a.modules.values_mut() {
            b.iter_mut().for_each(|x| *x = rng.uniform(-1.0, 1.0));
        }
        let dir = tempfile::tempdir().unwrap();
        a.save_peft(dir.path(), "tiny").unwrap();
        let back = Adapter::load(dir.path()).unwrap();
        assert_eq!((back.r, back.alpha, back.rslora, back.scale), (a.r, a.alpha, a.rslora, a.scale));
        assert_eq!(back.modules, a.modules);
        let cfg_json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("adapter_config.json")).unwrap()).unwrap();
        assert_eq!(cfg_json["peft_type"], "LORA");
        assert_eq!(cfg_json["target_modules"].as_array().unwrap().len(), 7);
        // A subset that is not layers × targets: a regex of full module names.
        a.modules.retain(|&(l, t), _| (l == 0 && t == 0) || (l == 1 && t == 6));
        a.save_peft(dir.path(), "tiny").unwrap();
        let back = Adapter::load(dir.path()).unwrap();
        assert_eq!(back.modules, a.modules);
        let cfg_json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("adapter_config.json")).unwrap()).unwrap();
        assert_eq!(cfg_json["target_modules"], ".*\\.layers\\.(0\\.self_attn\\.q_proj|1\\.mlp\\.down_proj)");
        assert!(std::fs::read_dir(dir.path()).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().contains(".tmp")));
    }

    #[test]
    fn save_gguf_then_load_gguf_gives_the_adapter_back() {
        for arch in [crate::config::Arch::Llama, crate::config::Arch::Qwen2] {
            let mut cfg = tiny_cfg(RopeStyle::Half);
            cfg.arch = arch;
            let mut a = Adapter::init_peft(&cfg, 4, 8.0, true, &[0, 1, 2, 3, 4, 5, 6], 5);
            let mut rng = Rng::new(6);
            for (_, b, _, _) in a.modules.values_mut() {
                b.iter_mut().for_each(|x| *x = rng.uniform(-1.0, 1.0));
            }
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("adapter.gguf");
            save_gguf(&a, &cfg, &p).unwrap();
            let f = crate::formats::gguf::GgufFile::open(&p).unwrap();
            assert_eq!(f.get_str("general.type").unwrap(), "adapter");
            let bq = f.tensor("blk.0.attn_q.weight.lora_b").unwrap();
            assert_eq!(bq.dims, vec![4, 16]);
            let stored: Vec<f32> = f.tensor_bytes(bq).chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
            let permuted = arch == crate::config::Arch::Llama;
            assert_eq!(stored == a.modules[&(0, 0)].1, !permuted, "{arch:?}: q rows permuted only for llama");
            let back = load_gguf(&p, &cfg).unwrap();
            assert_eq!(back.modules, a.modules);
            assert!((back.scale - a.scale).abs() < 1e-6, "{} vs {}", back.scale, a.scale);
        }
    }
}
