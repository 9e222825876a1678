//! `lora::merge_hf`: the merged Hugging Face directory, loaded by our engine, gives the logits of the
//! base with the adapter fused (max |Δ| within 1e-4 of the largest logit): the tiny Llama (HF → HF)
//! with its PEFT adapter, and SmolLM2 (GGUF → HF, q/k rows un-permuted) with the random adapter.
mod common;
use sqlora_kernel::backend::Backend;
use sqlora_kernel::loader::ModelSource;
use sqlora_kernel::lora::{merge_hf, Adapter};
use sqlora_kernel::model::{Logits, Model};
use std::path::Path;
use std::sync::Arc;

backend_tests!(merged_tiny_llama_gives_the_fused_logits, merged_smollm2_gguf_gives_the_fused_logits);

fn logits<B: Backend>(m: &Model<B>, ids: &[u32]) -> Vec<f32> {
    let mut cache = m.new_cache();
    m.forward(&mut [(ids, &mut cache)], Logits::All).unwrap()
}

/// (max |merged − fused|, largest |logit|).
fn check<B: Backend + Clone>(be: &B, model: &Path, adapter: &Path, ids: &[u32]) -> (f32, f32) {
    let src = ModelSource::open(model).unwrap();
    let adapter = Adapter::load(adapter).unwrap();
    let out = tempfile::tempdir().unwrap();
    merge_hf(&src, &adapter, out.path(), false).unwrap();
    let mut fused = Model::load(be.clone(), &src).unwrap();
    fused.set_adapter(Some(Arc::new(adapter))).unwrap();
    let want = logits(&fused, ids);
    drop(fused);
    let merged = Model::load(be.clone(), &ModelSource::open(out.path()).unwrap()).unwrap();
    let got = logits(&merged, ids);
    let d = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    (d, want.iter().map(|x| x.abs()).fold(0f32, f32::max))
}

fn merged_tiny_llama_gives_the_fused_logits<B: Backend + Clone>(be: &B) {
    let dir = common::fixtures().join("tiny");
    let ids: Vec<u32> = (0..24).map(|i| (i * 37 + 5) % 320).collect();
    let (d, scale) = check(be, &dir.join("llama"), &dir.join("llama_lora"), &ids);
    println!("tiny llama: max |merged − fused| {d:.2e} (largest logit {scale:.2})");
    assert!(d <= 1e-4 * scale);
}

fn merged_smollm2_gguf_gives_the_fused_logits<B: Backend + Clone>(be: &B) {
    let Some(path) = common::smollm2() else { return };
    let corpus = std::fs::read_to_string(common::fixtures().join("smollm2/teacher_forced/corpus.jsonl")).unwrap();
    let v: serde_json::Value = serde_json::from_str(corpus.lines().nth(23).unwrap()).unwrap();
    let ids: Vec<u32> = v["ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect();
    let (d, scale) = check(be, &path, &common::fixtures().join("smollm2/lora_random"), &ids);
    println!("SmolLM2 GGUF → HF f32: {} positions, max |merged − fused| {d:.2e} (largest logit {scale:.2})", ids.len());
    assert!(d <= 1e-4 * scale);
}
