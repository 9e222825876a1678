//! An adapter folded into its base: W + s·B·A, written as a dense Hugging Face model.
use super::layout::{permute_rows, rows_permuted};
use super::{bad, Adapter, LoraWeights, Proj};
use crate::atomic_file::write_atomic;
use crate::formats::quant::dequantize;
use crate::loader::{hf_name, ModelSource};
use crate::{Error, Result};
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use std::path::Path;

/// W + s·B·A in place for W (dout × din, row-major, Hugging Face row order).
pub fn merge_into(w: &mut [f32], l: &LoraWeights, r: usize, s: f32) {
    let (a, b, din) = (&l.a, &l.b, l.din);
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
pub fn merge_hf(src: &ModelSource, adapter: &Adapter, out: &Path, f16: bool) -> Result<()> {
    let cfg = src.config()?;
    adapter.check_fits(&cfg)?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut names = vec!["token_embd.weight".to_string(), "output_norm.weight".to_string()];
    if !cfg.tied {
        names.push("output.weight".into());
    }
    for li in 0..cfg.n_layers {
        names.push(format!("blk.{li}.attn_norm.weight"));
        names.push(format!("blk.{li}.ffn_norm.weight"));
        for p in Proj::ALL {
            names.push(format!("blk.{li}.{}.weight", p.gguf_name()));
        }
        if cfg.qkv_bias {
            for p in [Proj::Q, Proj::K, Proj::V] {
                names.push(format!("blk.{li}.{}.bias", p.gguf_name()));
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
            Some((li.parse::<usize>().ok()?, Proj::from_gguf_name(g)?, kind == "weight"))
        });
        if let Some((li, p, is_weight)) = proj {
            if permuted && p.is_rotated() {
                let cols = if is_weight { t.cols } else { 1 };
                w = permute_rows(&w, cols, cfg.head_dim, false);
            }
            if let (true, Some(l)) = (is_weight, adapter.modules.get(&(li, p))) {
                merge_into(&mut w, l, adapter.r, adapter.scale);
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
