//! SmolLM2-135M Q4_1, teacher-forced over 24 Spider prompts + gold SQL (5,913 positions), against
//! PyTorch fp32 on the dequantized GGUF and against llama.cpp (fixtures from
//! tests/fixtures/ref/make_teacher_forced.py: per position the reference's top-20 ids and
//! log-probabilities). Exact path: top-1 agreement ≥ 99% and mean KL(reference ‖ ours) ≤ 1e-3 against
//! PyTorch; 8-bit-activation path: ≥ 97% and ≤ 0.01 against both references.
//!
//! KL is computed over the reference's top-20 plus one tail bucket (formula in the fixture's meta.json,
//! "kl_method"); by the data-processing inequality it is a lower bound of the full-vocabulary KL, and on
//! llama.cpp vs PyTorch the two differ by 6e-4 (meta.json), well inside the thresholds.
mod common;
use common::agreement::{log_softmax, Agreement};
use safetensors::SafeTensors;
use sqlora_kernel::backend::Backend;
use sqlora_kernel::cpu::{CpuBackend, Numerics};
use sqlora_kernel::model::Logits;
use sqlora_kernel::Engine;

struct Reference {
    ids: Vec<i32>,
    logprobs: Vec<f32>,
    offsets: Vec<i64>,
    k: usize,
}

fn load_ref(name: &str) -> Reference {
    let bytes = std::fs::read(common::fixtures().join("smollm2/teacher_forced").join(name)).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let t = st.tensor("ids").unwrap();
    let k = t.shape()[1];
    let ids = t.data().chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap())).collect();
    let logprobs = st.tensor("logprobs").unwrap().data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    let offsets = st.tensor("offsets").unwrap().data().chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect();
    Reference { ids, logprobs, offsets, k }
}

backend_tests!(best_isa: smollm2_teacher_forced_matches_pytorch_and_llama_cpp);
backend_tests!(smollm2_teacher_forced_holds_on_the_first_texts);

/// Runs the first `texts` texts of the corpus; returns (vs PyTorch, vs llama.cpp).
fn measure<B: Backend>(engine: &Engine<B>, texts: usize) -> (Agreement, Agreement) {
    let m = &engine.model;
    let corpus = std::fs::read_to_string(common::fixtures().join("smollm2/teacher_forced/corpus.jsonl")).unwrap();
    let torch = load_ref("reference_torch.safetensors");
    let llama = load_ref("reference_llamacpp.safetensors");
    let (mut vs_torch, mut vs_llama) = (Agreement::default(), Agreement::default());
    for (i, line) in corpus.lines().take(texts).enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let ids: Vec<u32> = v["ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect();
        // Our own tokenizer must give the same ids as the reference used.
        assert_eq!(engine.tokenizer.encode(v["text"].as_str().unwrap(), false).unwrap(), ids, "text {i}");
        let mut cache = m.new_cache();
        let logits = m.forward(&mut [(&ids, &mut cache)], Logits::All).unwrap();
        let off = torch.offsets[i] as usize;
        assert_eq!(torch.offsets[i + 1] as usize - off, ids.len());
        for (t, row) in logits.chunks_exact(m.cfg.vocab).enumerate() {
            let lp = log_softmax(row);
            let r = (off + t) * torch.k;
            vs_torch.add(&lp, &torch.ids[r..r + torch.k], &torch.logprobs[r..r + torch.k]);
            vs_llama.add(&lp, &llama.ids[r..r + llama.k], &llama.logprobs[r..r + llama.k]);
        }
    }
    (vs_torch, vs_llama)
}

fn print_rows(rows: &[(&str, &Agreement)]) {
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(common::fixtures().join("smollm2/teacher_forced/meta.json")).unwrap()).unwrap();
    let lt = &meta["llamacpp_vs_torch"];
    println!("positions: {}", rows[0].1.n);
    println!("| pair | top-1 agreement | mean KL (top-20 + tail) | max KL |");
    println!("|---|---|---|---|");
    for (name, a) in rows {
        println!("| {name} | {:.4} | {:.2e} | {:.2e} |", a.top1(), a.kl(), a.kl_max);
    }
    println!(
        "| llama.cpp vs PyTorch fp32 (fixture) | {:.4} | {:.2e} | {:.2e} |",
        lt["top1_agreement_full_vocab"].as_f64().unwrap(),
        lt["kl_bucketed"]["mean"].as_f64().unwrap(),
        lt["kl_bucketed"]["max"].as_f64().unwrap()
    );
}

/// Exact path, the whole corpus: top-1 ≥ 99% and mean KL ≤ 1e-3 against PyTorch; every figure printed
/// beside llama.cpp's own against PyTorch.
fn smollm2_teacher_forced_matches_pytorch_and_llama_cpp<B: Backend + Clone>(be: &B) {
    let Some(model) = common::smollm2() else { return };
    let engine = Engine::load_on(be.clone(), &model).unwrap();
    let (exact_torch, exact_llama) = measure(&engine, usize::MAX);
    print_rows(&[("sqlora exact vs PyTorch fp32", &exact_torch), ("sqlora exact vs llama.cpp", &exact_llama)]);
    assert!(exact_torch.n >= 3000);
    assert!(exact_torch.top1() >= 0.99, "exact top-1 vs PyTorch {}", exact_torch.top1());
    assert!(exact_torch.kl() <= 1e-3, "exact KL vs PyTorch {}", exact_torch.kl());
}

/// The CPU's 8-bit-activation path (approximate, as llama.cpp computes), the whole corpus: top-1 ≥ 97%
/// and mean KL ≤ 0.01 against both PyTorch and llama.cpp.
#[test]
fn int8_teacher_forced_matches_pytorch_and_llama_cpp() {
    let Some(model) = common::smollm2() else { return };
    let _isa = common::hold_isa();
    println!("ISA {}", sqlora_kernel::cpu::isa::current());
    let engine = Engine::load_on(CpuBackend::new(Numerics::Int8), &model).unwrap();
    let (int8_torch, int8_llama) = measure(&engine, usize::MAX);
    print_rows(&[("sqlora int8 vs PyTorch fp32", &int8_torch), ("sqlora int8 vs llama.cpp", &int8_llama)]);
    for (name, a) in [("PyTorch", &int8_torch), ("llama.cpp", &int8_llama)] {
        assert!(a.top1() >= 0.97, "int8 top-1 vs {name} {}", a.top1());
        assert!(a.kl() <= 0.01, "int8 KL vs {name} {}", a.kl());
    }
}

/// How many texts the per-level checks run: `SQLORA_TF_TEXTS` (default 8: 1,582 positions). Under an
/// emulator (qemu, CI's aarch64 run) fewer keep it short.
fn first_texts() -> usize {
    std::env::var("SQLORA_TF_TEXTS").ok().and_then(|v| v.parse().ok()).unwrap_or(8)
}

/// The exact path's thresholds on every backend row (each ISA level's own kernels), over the first
/// texts, so that a machine with AVX-512 also checks its AVX2 and portable paths against the
/// references, not only against each other.
fn smollm2_teacher_forced_holds_on_the_first_texts<B: Backend + Clone>(be: &B) {
    let Some(model) = common::smollm2() else { return };
    let engine = Engine::load_on(be.clone(), &model).unwrap();
    let (exact, _) = measure(&engine, first_texts());
    println!("{}: {} positions; exact vs PyTorch top-1 {:.4} KL {:.2e}", be.name(), exact.n, exact.top1(), exact.kl());
    assert!(exact.n >= 100);
    assert!(exact.top1() >= 0.99 && exact.kl() <= 1e-3, "{}: exact top-1 {} KL {}", be.name(), exact.top1(), exact.kl());
}

/// The 8-bit path's thresholds on every ISA level, over the first texts. Its agreement needs 1,500+
/// positions to be measured (on 790 it read 0.967 against llama.cpp), so with fewer it is not checked,
/// and the test says so.
#[test]
fn int8_teacher_forced_holds_on_every_isa_level() {
    let Some(model) = common::smollm2() else { return };
    let texts = first_texts();
    // Known from the reference before any forward pass: under qemu a pass that cannot be checked
    // would take minutes for nothing.
    let offsets = load_ref("reference_torch.safetensors").offsets;
    let positions = offsets[texts.min(offsets.len() - 1)] as usize;
    if positions < 1500 {
        println!("8-bit path not checked on {positions} positions (needs 1,500+; SQLORA_TF_TEXTS={texts})");
        return;
    }
    common::for_each_isa(|isa| {
        let engine = Engine::load_on(CpuBackend::new(Numerics::Int8), &model).unwrap();
        let (int8_torch, int8_llama) = measure(&engine, texts);
        assert_eq!(int8_torch.n, positions);
        println!("{isa}: int8 top-1 {:.4} vs PyTorch, {:.4} vs llama.cpp", int8_torch.top1(), int8_llama.top1());
        for (name, a) in [("PyTorch", &int8_torch), ("llama.cpp", &int8_llama)] {
            assert!(a.top1() >= 0.97 && a.kl() <= 0.01, "{isa}: int8 vs {name} top-1 {} KL {}", a.top1(), a.kl());
        }
    });
}
