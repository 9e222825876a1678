//! Logits of tiny random Llama and Qwen2 models (made with PyTorch transformers by
//! tests/fixtures/ref/make_tiny.py) against ours, from the same safetensors: max |Δ| ≤ 1e-4.
mod common;
use safetensors::SafeTensors;
use sqlora_kernel::backend::Backend;
use sqlora_kernel::loader::ModelSource;
use sqlora_kernel::model::Logits;
use sqlora_kernel::model::Model;

fn reference(name: &str) -> (Vec<Vec<u32>>, Vec<f32>, usize) {
    let bytes = std::fs::read(common::fixtures().join("tiny").join(name).join("reference.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let ids = st.tensor("input_ids").unwrap();
    let (b, t) = (ids.shape()[0], ids.shape()[1]);
    let ids: Vec<u32> = ids.data().chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap()) as u32).collect();
    let logits = st.tensor("logits").unwrap();
    let vocab = logits.shape()[2];
    let logits: Vec<f32> = logits.data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    (ids.chunks(t).map(|c| c.to_vec()).collect::<Vec<_>>().into_iter().take(b).collect(), logits, vocab)
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

backend_tests!(
    gpu:
    tiny_llama_logits_match_transformers,
    tiny_qwen2_logits_match_transformers,
    tiny_llama_with_peft_lora_matches_peft,
    chained_shared_prefixes_give_the_same_logits,
    greedy_tokens_are_the_argmax_of_the_last_logits,
);

fn check<B: Backend + Clone>(be: &B, name: &str) {
    // The tiny models have no tokenizer: load the weights alone.
    let src = ModelSource::open(common::fixtures().join("tiny").join(name)).unwrap();
    let model = Model::load(be.clone(), &src).unwrap();
    let m = &model;
    let (seqs, want, vocab) = reference(name);
    assert_eq!(vocab, m.cfg.vocab);
    // Each sequence alone, whole prompt at once.
    let mut got = Vec::new();
    for s in &seqs {
        let mut c = m.new_cache();
        got.extend(m.forward(&mut [(s, &mut c)], Logits::All).unwrap());
    }
    let d = max_abs(&got, &want);
    println!("{name}: max |Δ| single = {d:e}");
    assert!(d <= 1e-4, "{name}: max abs diff {d}");
    // Both sequences in one batch, in two chunks (exercises the KV cache and batching).
    let mut c0 = m.new_cache();
    let mut c1 = m.new_cache();
    let t = seqs[0].len();
    let h = t / 2;
    let a = m.forward(&mut [(&seqs[0][..h], &mut c0), (&seqs[1][..h], &mut c1)], Logits::All).unwrap();
    let b = m.forward(&mut [(&seqs[0][h..], &mut c0), (&seqs[1][h..], &mut c1)], Logits::All).unwrap();
    let v = vocab;
    let mut batched = Vec::new();
    batched.extend_from_slice(&a[..h * v]);
    batched.extend_from_slice(&b[..(t - h) * v]);
    batched.extend_from_slice(&a[h * v..]);
    batched.extend_from_slice(&b[(t - h) * v..]);
    let d = max_abs(&batched, &want);
    println!("{name}: max |Δ| batched+cached = {d:e}");
    assert!(d <= 1e-4, "{name} batched: max abs diff {d}");
    // One token at a time (decode path).
    let mut c = m.new_cache();
    let mut step = Vec::new();
    for &tok in &seqs[1] {
        step.extend(m.forward(&mut [(&[tok], &mut c)], Logits::All).unwrap());
    }
    let d = max_abs(&step, &want[t * v..]);
    println!("{name}: max |Δ| token by token = {d:e}");
    assert!(d <= 1e-4, "{name} decode: max abs diff {d}");
}

fn tiny_llama_logits_match_transformers<B: Backend + Clone>(be: &B) {
    check(be, "llama");
}

fn tiny_qwen2_logits_match_transformers<B: Backend + Clone>(be: &B) {
    check(be, "qwen2");
}

fn tiny_llama_with_peft_lora_matches_peft<B: Backend + Clone>(be: &B) {
    let src = ModelSource::open(common::fixtures().join("tiny/llama")).unwrap();
    let mut model = Model::load(be.clone(), &src).unwrap();
    let adapter = sqlora_kernel::lora::Adapter::load(common::fixtures().join("tiny/llama_lora")).unwrap();
    assert_eq!((adapter.r, adapter.modules.len()), (8, 2 * 7));
    model.set_adapter(Some(std::sync::Arc::new(adapter))).unwrap();
    let (seqs, want, _) = reference("llama_lora");
    let (_, base, _) = reference("llama");
    let mut got = Vec::new();
    for s in &seqs {
        let mut c = model.new_cache();
        got.extend(model.forward(&mut [(s, &mut c)], Logits::All).unwrap());
    }
    let d = max_abs(&got, &want);
    println!("llama + LoRA: max |Δ| = {d:e} (adapter moves logits by {:e})", max_abs(&want, &base));
    assert!(max_abs(&want, &base) > 1e-2, "the fixture adapter must change the logits");
    assert!(d <= 1e-4, "LoRA: max abs diff {d}");
    model.set_adapter(None).unwrap();
    let mut c = model.new_cache();
    let plain = model.forward(&mut [(&seqs[0], &mut c)], Logits::All).unwrap();
    assert!(max_abs(&plain, &base[..plain.len()]) <= 1e-4);
}

fn chained_shared_prefixes_give_the_same_logits<B: Backend + Clone>(be: &B) {
    let src = ModelSource::open(common::fixtures().join("tiny/llama")).unwrap();
    let model = Model::load(be.clone(), &src).unwrap();
    let (seqs, want, v) = reference("llama");
    let s = &seqs[0];
    // Prefix 0..8 shared, then 8..14 chained behind it, then the rest as two sequences' own tokens.
    let mut c0 = model.new_cache();
    model.forward(&mut [(&s[..8], &mut c0)], Logits::None).unwrap();
    let p0 = std::sync::Arc::new(c0);
    let mut c1 = model.cache_after(p0.clone());
    model.forward(&mut [(&s[8..14], &mut c1)], Logits::None).unwrap();
    let p1 = std::sync::Arc::new(c1);
    let mut a = model.cache_after(p1.clone());
    let mut b = model.cache_after(p1.clone());
    let got = model.forward(&mut [(&s[14..], &mut a), (&s[14..20], &mut b)], Logits::All).unwrap();
    let n = s.len() - 14;
    assert!(max_abs(&got[..n * v], &want[14 * v..s.len() * v]) <= 1e-4);
    assert!(max_abs(&got[n * v..], &want[14 * v..20 * v]) <= 1e-4);
    assert_eq!(a.len(), s.len());
}

/// `forward_greedy` (the backend's `argmax_rows`: on a GPU, on the device) picks what the host's
/// argmax picks from the downloaded logits, at the prefill and at a decode step of a batch.
fn greedy_tokens_are_the_argmax_of_the_last_logits<B: Backend + Clone>(be: &B) {
    let src = ModelSource::open(common::fixtures().join("tiny").join("llama")).unwrap();
    let m = Model::load(be.clone(), &src).unwrap();
    let (seqs, _, v) = reference("llama");
    let (mut a0, mut a1, mut b0, mut b1) = (m.new_cache(), m.new_cache(), m.new_cache(), m.new_cache());
    let logits = m.forward(&mut [(&seqs[0], &mut a0), (&seqs[1][..5], &mut a1)], Logits::Last).unwrap();
    let greedy = m.forward_greedy(&mut [(&seqs[0], &mut b0), (&seqs[1][..5], &mut b1)]).unwrap();
    let host: Vec<u32> = logits.chunks_exact(v).map(sqlora_kernel::generate::argmax).collect();
    assert_eq!(greedy, host);
    let logits = m.forward(&mut [(&[host[0]], &mut a0), (&[host[1]], &mut a1)], Logits::Last).unwrap();
    let greedy = m.forward_greedy(&mut [(&[host[0]], &mut b0), (&[host[1]], &mut b1)]).unwrap();
    assert_eq!(greedy, logits.chunks_exact(v).map(sqlora_kernel::generate::argmax).collect::<Vec<_>>());
}
