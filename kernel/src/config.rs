//! The Llama-family hyper-parameters, read from GGUF metadata or a Hugging Face config.json.
use crate::formats::gguf::GgufFile;
use crate::{Error, Result};

/// How RoPE pairs the dimensions of a head: GGUF llama files store q/k permuted so that adjacent
/// dimensions (2i, 2i+1) rotate together; Hugging Face checkpoints and GGUF qwen2 rotate (i, i + d/2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeStyle {
    Interleaved,
    Half,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Llama,
    Qwen2,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub arch: Arch,
    pub hidden: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub intermediate: usize,
    pub vocab: usize,
    pub rms_eps: f32,
    pub rope_theta: f32,
    pub rope_style: RopeStyle,
    pub context: usize,
    /// The output head is the embedding table (no separate lm_head / output.weight).
    pub tied: bool,
    /// q/k/v projections carry biases (Qwen2).
    pub qkv_bias: bool,
}

impl Arch {
    fn parse(name: &str) -> Result<Self> {
        match name {
            "llama" => Ok(Arch::Llama),
            "qwen2" => Ok(Arch::Qwen2),
            other => Err(Error::Unsupported(format!("architecture \"{other}\" (supported: llama, qwen2)"))),
        }
    }
}

impl Config {
    pub fn from_gguf(f: &GgufFile) -> Result<Self> {
        let arch_name = f.architecture()?.to_string();
        let arch = Arch::parse(&arch_name)?;
        let k = |s: &str| format!("{arch_name}.{s}");
        let hidden = f.get_u64(&k("embedding_length"))? as usize;
        let n_heads = f.get_u64(&k("attention.head_count"))? as usize;
        let n_kv_heads = f.get_u64(&k("attention.head_count_kv")).unwrap_or(n_heads as u64) as usize;
        let embd = f
            .tensor("token_embd.weight")
            .ok_or_else(|| Error::BadFile { path: f.path.clone(), msg: "no tensor token_embd.weight".into() })?;
        let head_dim = f.get_u64(&k("rope.dimension_count")).map(|v| v as usize).unwrap_or(hidden / n_heads.max(1));
        let cfg = Config {
            arch,
            hidden,
            n_layers: f.get_u64(&k("block_count"))? as usize,
            n_heads,
            n_kv_heads,
            head_dim,
            intermediate: f.get_u64(&k("feed_forward_length"))? as usize,
            vocab: embd.dims.get(1).copied().unwrap_or(0) as usize,
            rms_eps: f.get_f64(&k("attention.layer_norm_rms_epsilon"))? as f32,
            rope_theta: f.get_f64(&k("rope.freq_base")).unwrap_or(10000.0) as f32,
            // llama.cpp's converter permutes llama q/k rows for ggml's adjacent-pair RoPE; qwen2 is not
            // permuted and uses the NeoX (half-split) pairing.
            rope_style: if arch == Arch::Llama { RopeStyle::Interleaved } else { RopeStyle::Half },
            context: f.get_u64(&k("context_length"))? as usize,
            tied: f.tensor("output.weight").is_none(),
            qkv_bias: f.tensor("blk.0.attn_q.bias").is_some(),
        };
        cfg.validate()
    }

    pub fn from_hf_json(text: &str) -> Result<Self> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| Error::BadInput(format!("config.json: {e}")))?;
        let get = |key: &str| v.get(key).and_then(|x| x.as_u64()).map(|x| x as usize);
        let need = |key: &str| get(key).ok_or_else(|| Error::BadInput(format!("config.json: missing \"{key}\"")));
        let arch = Arch::parse(v.get("model_type").and_then(|x| x.as_str()).unwrap_or("?"))?;
        let hidden = need("hidden_size")?;
        let n_heads = need("num_attention_heads")?;
        // transformers ≥ 5 nests RoPE settings under "rope_parameters"; older files use "rope_theta"
        // and "rope_scaling". Only the plain (unscaled) RoPE is implemented.
        let rope = v.get("rope_parameters").or(v.get("rope_scaling")).filter(|r| !r.is_null());
        if let Some(kind) = rope.and_then(|r| r.get("rope_type").or(r.get("type"))).and_then(|t| t.as_str()) {
            if kind != "default" {
                return Err(Error::Unsupported(format!("RoPE scaling \"{kind}\"")));
            }
        }
        let rope_theta = v.get("rope_theta").or(rope.and_then(|r| r.get("rope_theta"))).and_then(|x| x.as_f64()).unwrap_or(10000.0);
        let cfg = Config {
            arch,
            hidden,
            n_layers: need("num_hidden_layers")?,
            n_heads,
            n_kv_heads: get("num_key_value_heads").unwrap_or(n_heads),
            head_dim: get("head_dim").unwrap_or(hidden / n_heads.max(1)),
            intermediate: need("intermediate_size")?,
            vocab: need("vocab_size")?,
            rms_eps: v.get("rms_norm_eps").and_then(|x| x.as_f64()).unwrap_or(1e-6) as f32,
            rope_theta: rope_theta as f32,
            rope_style: RopeStyle::Half,
            context: get("max_position_embeddings").unwrap_or(2048),
            tied: v.get("tie_word_embeddings").and_then(|x| x.as_bool()).unwrap_or(false),
            qkv_bias: arch == Arch::Qwen2 || v.get("attention_bias").and_then(|x| x.as_bool()).unwrap_or(false),
        };
        cfg.validate()
    }

    fn validate(self) -> Result<Self> {
        if self.n_heads == 0 || self.n_kv_heads == 0 || !self.n_heads.is_multiple_of(self.n_kv_heads) {
            return Err(Error::Unsupported(format!("{} heads over {} kv heads", self.n_heads, self.n_kv_heads)));
        }
        if !self.head_dim.is_multiple_of(2) || self.vocab == 0 || self.hidden == 0 {
            return Err(Error::Unsupported(format!("shape {self:?}")));
        }
        Ok(self)
    }

    pub fn q_dim(&self) -> usize {
        self.n_heads * self.head_dim
    }
    pub fn kv_dim(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }
}
