//! sqlora's MMLU letter scoring (exact path) against two independent references on the frozen
//! 150-question sample, both built from the spec by scripts in tests/fixtures/ref/ on the same GGUF:
//! - PyTorch fp32 (make_mmlu_torch.py): the exact reference. Same prompt lengths, the same letter on
//!   every question, letter logits within 1e-3.
//! - llama.cpp (make_mmlu_llamacpp.py, f32 KV cache): it rounds activations to 8 bits, which moves
//!   this model's letter logits by up to ≈ 0.4, so it can only agree where the exact top two letters
//!   are not a near-tie. Required: ≥ 93% agreement, at least as many letters as llama.cpp shares
//!   with itself at its default f16 KV cache (llamacpp_f16kv_sample150.jsonl: 134/150), and every
//!   disagreement a near-tie in PyTorch's logits (top-two gap < 0.15). Measured 142/150 = 94.7%.
//!   Why 95% is out of reach for any exact implementation: tests/fixtures/ref/mmlu_agreement_noise.py
//!   (expected agreement under llama.cpp's measured noise) and llamacpp_layer_trace.py.
//! Also prints the time of the 150 questions (the target is under 3 minutes on the 2-core machine).
mod mmlu_support;

use sqlora::mmlu::cli::{load_questions, SplitArg};
use sqlora::mmlu::run::{run, RunId};
use sqlora::mmlu::score::Scorer;
use sqlora::mmlu::Categories;
use std::time::Instant;

#[derive(serde::Deserialize)]
struct Reference {
    subject: String,
    row: i64,
    n_tokens: i64,
    logits: [f32; 4],
    pred: String,
    gold: String,
}

fn load(name: &str) -> Vec<Reference> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mmlu").join(name);
    let refs: Vec<Reference> = std::fs::read_to_string(&path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(refs.len(), 150, "{}", path.display());
    refs
}

/// Gap between the two largest logits.
fn top2_gap(l: &[f32; 4]) -> f32 {
    let mut s = *l;
    s.sort_by(|a, b| b.partial_cmp(a).unwrap());
    s[0] - s[1]
}

#[test]
fn letters_agree_with_pytorch_and_with_llamacpp_outside_near_ties() {
    let dir = require!(mmlu_support::data_dir());
    let model = require!(mmlu_support::model());
    let torch = load("torch_sample150.jsonl");
    let llama = load("llamacpp_sample150.jsonl");
    let llama_f16kv = load("llamacpp_f16kv_sample150.jsonl");
    let llama_self = llama.iter().zip(&llama_f16kv).filter(|(a, b)| a.pred == b.pred).count();

    let cats = Categories::original();
    let (questions, shots) = load_questions(&dir, &cats, SplitArg::Sample150).unwrap();
    let engine = sqlora_kernel::Engine::load(&model).unwrap();
    let scorer = Scorer::new(&engine, 4096).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let id = RunId { model: "test".into(), adapter: None, split: "sample150".into() };
    let t = Instant::now();
    let (out, _ckpt) = run(&scorer, &cats, &questions, &shots, &id, &tmp.path().join("c.jsonl"), &serde_json::json!({})).unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!("150 questions in {secs:.1} s ({:.2} questions/s); {} ran as whole prompts", 150.0 / secs, scorer.whole_prompts.get());

    let (mut agree_torch, mut agree_llama, mut max_dlogit) = (0, 0, 0f32);
    let mut unexplained = Vec::new();
    for ((ours, t), l) in out.rows.iter().zip(&torch).zip(&llama) {
        for r in [t, l] {
            assert_eq!((ours.subject.as_str(), ours.row), (r.subject.as_str(), r.row), "fixture order is sample order");
            assert_eq!(ours.gold, r.gold);
            assert_eq!(ours.prompt_tokens, r.n_tokens, "{} {}: prompt length differs from the reference's", r.subject, r.row);
        }
        let d = ours.logits().iter().zip(&t.logits).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        max_dlogit = max_dlogit.max(d);
        agree_torch += (ours.predicted == t.pred) as usize;
        if ours.predicted == l.pred {
            agree_llama += 1;
        } else {
            let gap = top2_gap(&t.logits);
            println!(
                "llama.cpp differs: {} row {}: ours {} {:?}, PyTorch {} (top-2 gap {gap:.3}), llama.cpp {} {:?} (gold {})",
                l.subject,
                l.row,
                ours.predicted,
                ours.logits(),
                t.pred,
                l.pred,
                l.logits,
                l.gold
            );
            if gap >= 0.15 {
                unexplained.push(format!("{} {}", l.subject, l.row));
            }
        }
    }
    let acc = |p: &dyn Fn(usize) -> bool| (0..150).filter(|&i| p(i)).count() as f64 / 150.0;
    println!(
        "agreement: PyTorch {agree_torch}/150 (max |Δ logit| {max_dlogit:.2e}), llama.cpp {agree_llama}/150 = {:.1}% (llama.cpp f32 vs f16 KV cache: {llama_self}/150); accuracy ours {:.4}, PyTorch {:.4}, llama.cpp {:.4}",
        agree_llama as f64 / 1.5,
        acc(&|i| out.rows[i].correct),
        acc(&|i| torch[i].pred == torch[i].gold),
        acc(&|i| llama[i].pred == llama[i].gold)
    );
    assert_eq!(agree_torch, 150, "letters differ from PyTorch fp32");
    assert!(max_dlogit <= 1e-3, "letter logits differ from PyTorch by {max_dlogit}");
    assert!(agree_llama * 100 >= 93 * 150, "only {agree_llama}/150 letters agree with llama.cpp");
    assert!(agree_llama >= llama_self, "ours agree with llama.cpp less ({agree_llama}) than llama.cpp with itself ({llama_self})");
    assert!(unexplained.is_empty(), "llama.cpp differs where PyTorch has no near-tie: {unexplained:?}");
}
