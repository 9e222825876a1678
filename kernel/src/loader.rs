//! Where a model's tensors come from: a GGUF file or a Hugging Face directory (config.json,
//! *.safetensors, tokenizer.json). Tensors are looked up by their GGUF names; Hugging Face names are
//! translated, so the model definition uses one naming.
use crate::backend::HostMatrix;
use crate::config::Config;
use crate::formats::gguf::GgufFile;
use crate::formats::quant::GgmlType;
use crate::{Error, Result};
use memmap2::Mmap;
use safetensors::{Dtype, SafeTensors};
use std::path::{Path, PathBuf};

pub enum ModelSource {
    Gguf(GgufFile),
    Hf { dir: PathBuf, files: Vec<(PathBuf, Mmap)>, config_json: String },
}

impl ModelSource {
    /// Opens a .gguf file or a Hugging Face model directory.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if !path.exists() {
            return Err(Error::BadInput(format!("model path {} does not exist", path.display())));
        }
        if path.is_dir() {
            let cfg_path = path.join("config.json");
            let config_json = std::fs::read_to_string(&cfg_path).map_err(|e| Error::io(&cfg_path, e))?;
            let mut names: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| Error::io(path, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
                .collect();
            names.sort();
            if names.is_empty() {
                return Err(Error::BadInput(format!("{}: no *.safetensors files", path.display())));
            }
            let mut files = Vec::new();
            for p in names {
                let f = std::fs::File::open(&p).map_err(|e| Error::io(&p, e))?;
                // SAFETY: read-only map of a file we do not modify.
                let m = unsafe { Mmap::map(&f) }.map_err(|e| Error::io(&p, e))?;
                SafeTensors::deserialize(&m)
                    .map_err(|e| Error::BadFile { path: p.clone(), msg: format!("not a valid safetensors file: {e}") })?;
                files.push((p, m));
            }
            Ok(ModelSource::Hf { dir: path.to_path_buf(), files, config_json })
        } else {
            Ok(ModelSource::Gguf(GgufFile::open(path)?))
        }
    }

    pub fn config(&self) -> Result<Config> {
        match self {
            ModelSource::Gguf(f) => Config::from_gguf(f),
            ModelSource::Hf { config_json, .. } => Config::from_hf_json(config_json),
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            ModelSource::Gguf(f) => &f.path,
            ModelSource::Hf { dir, .. } => dir,
        }
    }

    /// A weight by its GGUF name, as (rows, cols) of its encoding; vectors come back with rows = 1.
    pub fn tensor(&self, gguf_name: &str) -> Result<Option<HostMatrix<'_>>> {
        match self {
            ModelSource::Gguf(f) => Ok(f.tensor(gguf_name).map(|t| HostMatrix {
                name: gguf_name.to_string(),
                ty: t.ggml_type,
                cols: t.dims[0] as usize,
                rows: t.dims[1..].iter().product::<u64>() as usize,
                bytes: f.tensor_bytes(t),
            })),
            ModelSource::Hf { files, .. } => {
                let name = hf_name(gguf_name);
                for (p, m) in files {
                    let st = SafeTensors::deserialize(m).map_err(|e| Error::BadFile { path: p.clone(), msg: e.to_string() })?;
                    let Ok(view) = st.tensor(&name) else { continue };
                    let ty = match view.dtype() {
                        Dtype::F32 => GgmlType::F32,
                        Dtype::F16 => GgmlType::F16,
                        Dtype::BF16 => GgmlType::BF16,
                        d => return Err(Error::Unsupported(format!("{name}: dtype {d:?} (f32, f16, bf16 are)"))),
                    };
                    let shape = view.shape();
                    let cols = *shape.last().unwrap_or(&1);
                    let rows = shape[..shape.len().saturating_sub(1)].iter().product::<usize>();
                    // Re-borrow the bytes from the map itself so they outlive the parsed header.
                    let data = view.data();
                    let off = data.as_ptr() as usize - m.as_ptr() as usize;
                    return Ok(Some(HostMatrix { name, ty, rows, cols, bytes: &m[off..off + data.len()] }));
                }
                Ok(None)
            }
        }
    }

    pub fn require(&self, gguf_name: &str) -> Result<HostMatrix<'_>> {
        self.tensor(gguf_name)?
            .ok_or_else(|| Error::BadFile { path: self.path().to_path_buf(), msg: format!("missing tensor {gguf_name}") })
    }
}

/// GGUF tensor name → Hugging Face Llama/Qwen2 name.
pub fn hf_name(g: &str) -> String {
    match g {
        "token_embd.weight" => return "model.embed_tokens.weight".into(),
        "output_norm.weight" => return "model.norm.weight".into(),
        "output.weight" => return "lm_head.weight".into(),
        _ => {}
    }
    let Some(rest) = g.strip_prefix("blk.") else { return g.into() };
    let (layer, part) = rest.split_once('.').unwrap_or((rest, ""));
    let (base, kind) = part.rsplit_once('.').unwrap_or((part, ""));
    let hf = match base {
        "attn_norm" => "input_layernorm",
        "ffn_norm" => "post_attention_layernorm",
        "attn_q" => "self_attn.q_proj",
        "attn_k" => "self_attn.k_proj",
        "attn_v" => "self_attn.v_proj",
        "attn_output" => "self_attn.o_proj",
        "ffn_gate" => "mlp.gate_proj",
        "ffn_up" => "mlp.up_proj",
        "ffn_down" => "mlp.down_proj",
        other => other,
    };
    format!("model.layers.{layer}.{hf}.{kind}")
}
