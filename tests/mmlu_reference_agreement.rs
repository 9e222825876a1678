//! sqlora's MMLU letter scoring (exact path) against independent references on the frozen
//! 150-question sample, all built from the spec by scripts in tests/fixtures/ref/ on the same GGUF:
//! - PyTorch fp32 (make_mmlu_torch.py): same prompt lengths, the same letter on every question,
//!   letter logits within 1e-3.
//! - llama.cpp in f32 (make_mmlu_llamacpp.py --blas: its BLAS backend multiplies every product in f32,
//!   whole prompts, f32 KV cache): the check, at least 95% of the letters agree (measured:
//!   150/150), and letter logits within 1e-3.
//! - llama.cpp's default CPU kernels (make_mmlu_llamacpp.py, f32 KV cache): they round activations to
//!   8 bits, which moves this model's letter logits by up to ≈ 0.4, so they can only agree where the
//!   exact top two letters are not a near-tie. Required: ≥ 93%, at least as many letters as llama.cpp
//!   shares with itself at its default f16 KV cache (llamacpp_f16kv_sample150.jsonl: 134/150), and
//!   every disagreement a near-tie in PyTorch's logits (top-two gap < 0.15). Measured 142/150. Why
//!   no exact implementation can do much better: tests/fixtures/ref/mmlu_agreement_noise.py and
//!   llamacpp_layer_trace.py.
//!
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

/// Letters and logits of ours against one reference, question by question.
struct Agreement {
    agree: usize,
    max_dlogit: f32,
    /// (subject, row, the reference's letter, PyTorch's top-two gap) where the letters differ.
    differ: Vec<(String, i64, String, f32)>,
}

fn compare(ours: &[sqlora::results::mmlu_answers::AnswerRow], reference: &[Reference], exact: &[Reference]) -> Agreement {
    let mut a = Agreement { agree: 0, max_dlogit: 0.0, differ: Vec::new() };
    for ((o, r), t) in ours.iter().zip(reference).zip(exact) {
        assert_eq!((o.subject.as_str(), o.row), (r.subject.as_str(), r.row), "fixture order is sample order");
        assert_eq!(o.gold, r.gold);
        assert_eq!(o.prompt_tokens, r.n_tokens, "{} {}: prompt length differs from the reference's", r.subject, r.row);
        let d = o.logits().iter().zip(&r.logits).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        a.max_dlogit = a.max_dlogit.max(d);
        if o.predicted == r.pred {
            a.agree += 1;
        } else {
            a.differ.push((r.subject.clone(), r.row, r.pred.clone(), top2_gap(&t.logits)));
        }
    }
    a
}

#[test]
fn letters_agree_with_pytorch_and_llamacpp() {
    let dir = require!(mmlu_support::data_dir());
    let model = require!(mmlu_support::model());
    let torch = load("torch_sample150.jsonl");
    let llama_f32 = load("llamacpp_blas_sample150.jsonl");
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

    let vs_torch = compare(&out.rows, &torch, &torch);
    let vs_f32 = compare(&out.rows, &llama_f32, &torch);
    let vs_cpu = compare(&out.rows, &llama, &torch);
    for (name, a) in [("llama.cpp f32 (BLAS)", &vs_f32), ("llama.cpp CPU (8-bit activations)", &vs_cpu)] {
        for (subject, row, letter, gap) in &a.differ {
            println!("{name} differs: {subject} row {row}: it says {letter}, PyTorch's top-two gap {gap:.3}");
        }
    }
    let acc = |rows: &[Reference]| rows.iter().filter(|r| r.pred == r.gold).count() as f64 / 150.0;
    println!(
        "agreement: PyTorch fp32 {}/150 (max |Δ logit| {:.2e}); llama.cpp f32 {}/150 = {:.1}% (max |Δ logit| {:.2e}); \
         llama.cpp CPU {}/150 = {:.1}% (its f32 vs f16 KV cache: {llama_self}/150); accuracy ours {:.4}, PyTorch {:.4}, llama.cpp f32 {:.4}, CPU {:.4}",
        vs_torch.agree,
        vs_torch.max_dlogit,
        vs_f32.agree,
        vs_f32.agree as f64 / 1.5,
        vs_f32.max_dlogit,
        vs_cpu.agree,
        vs_cpu.agree as f64 / 1.5,
        out.rows.iter().filter(|r| r.correct).count() as f64 / 150.0,
        acc(&torch),
        acc(&llama_f32),
        acc(&llama)
    );
    assert_eq!(vs_torch.agree, 150, "letters differ from PyTorch fp32");
    assert!(vs_torch.max_dlogit <= 1e-3, "letter logits differ from PyTorch by {}", vs_torch.max_dlogit);
    assert!(vs_f32.agree * 100 >= 95 * 150, "only {}/150 letters agree with llama.cpp in f32", vs_f32.agree);
    assert!(vs_f32.max_dlogit <= 1e-3, "letter logits differ from llama.cpp in f32 by {}", vs_f32.max_dlogit);
    assert!(vs_cpu.agree * 100 >= 93 * 150, "only {}/150 letters agree with llama.cpp's CPU kernels", vs_cpu.agree);
    assert!(vs_cpu.agree >= llama_self, "ours agree with llama.cpp less ({}) than llama.cpp with itself ({llama_self})", vs_cpu.agree);
    let unexplained: Vec<_> = vs_cpu.differ.iter().filter(|d| d.3 >= 0.15).collect();
    assert!(unexplained.is_empty(), "llama.cpp differs where PyTorch has no near-tie: {unexplained:?}");
}
