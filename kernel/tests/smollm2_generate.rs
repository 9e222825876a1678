//! SmolLM2 greedy continuations (48 tokens, 20 Spider prompts) against PyTorch's and llama.cpp's
//! (fixture from tests/fixtures/ref/make_greedy.py), and the generator's errors on bad input.
mod common;
use sqlora_kernel::backend::Backend;
use sqlora_kernel::cpu::{CpuBackend, Numerics};
use sqlora_kernel::generate::{GenConfig, Generator};
use sqlora_kernel::Engine;

backend_tests!(best_isa: smollm2_greedy_continuations_match_pytorch, generator_rejects_bad_input_clearly);

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

struct Greedy {
    prompts: Vec<Vec<u32>>,
    rows: Vec<serde_json::Value>,
}

fn greedy_fixture() -> Greedy {
    let text = std::fs::read_to_string(common::fixtures().join("smollm2/greedy.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    Greedy { prompts: rows.iter().map(|r| ids(&r["prompt_ids"])).collect(), rows }
}

/// All 20 decoded as one batch (batching must not change a greedy continuation); how many equal
/// PyTorch's.
fn same_as_pytorch<B: Backend>(engine: &Engine<B>, label: &str) -> usize {
    let fx = greedy_fixture();
    let cfg = GenConfig { max_new_tokens: 48, stop_at_eos: true, ..Default::default() };
    let strip_eos = |v: Vec<u32>| v.into_iter().filter(|&t| t != 2).collect::<Vec<_>>();
    let gens = Generator::new(&engine.model, &engine.tokenizer).generate(&fx.prompts, None, &cfg).unwrap();
    let (mut same_torch, mut same_llama, mut torch_llama) = (0, 0, 0);
    for (g, r) in gens.iter().zip(&fx.rows) {
        let (t, l) = (strip_eos(ids(&r["torch"])), strip_eos(ids(&r["llamacpp"])));
        same_torch += (g.tokens == t) as usize;
        same_llama += (g.tokens == l) as usize;
        torch_llama += (t == l) as usize;
    }
    println!("{label}: identical of 20: sqlora = PyTorch {same_torch}, sqlora = llama.cpp {same_llama}, llama.cpp = PyTorch {torch_llama}");
    same_torch
}

/// The exact path computes the same function as the fp32 reference; only summation order differs,
/// which can flip a near-tie once in a while.
fn smollm2_greedy_continuations_match_pytorch<B: Backend + Clone>(be: &B) {
    let Some(model) = common::smollm2() else { return };
    let engine = Engine::load_on(be.clone(), &model).unwrap();
    let same = same_as_pytorch(&engine, &be.name());
    assert!(same >= 18, "only {same} of 20 greedy continuations equal PyTorch's");
}

/// The CPU's 8-bit-activation path is reported, and bounded loosely: on this model any rounding
/// (llama.cpp's included) changes about half of the 48-token continuations.
#[test]
fn int8_greedy_continuations_are_reported() {
    let Some(model) = common::smollm2() else { return };
    let engine = Engine::load_on(CpuBackend::new(Numerics::Int8), &model).unwrap();
    let same = same_as_pytorch(&engine, "cpu int8");
    assert!(same >= 3, "only {same} of 20 int8 greedy continuations equal PyTorch's");
}

fn generator_rejects_bad_input_clearly<B: Backend + Clone>(be: &B) {
    let Some(model) = common::smollm2() else { return };
    let engine = Engine::load_on(be.clone(), &model).unwrap();
    let gen = Generator::new(&engine.model, &engine.tokenizer);
    let cfg = GenConfig::default();
    let e = gen.generate(&[vec![]], None, &cfg).unwrap_err().to_string();
    assert!(e.contains("prompt 0 is empty"), "{e}");
    let long = vec![100u32; engine.model.cfg.context + 5];
    let e = gen.generate(&[long], None, &cfg).unwrap_err().to_string();
    assert!(e.contains("exceeds the context"), "{e}");
    let e = gen.generate(&[vec![60000]], None, &cfg).unwrap_err().to_string();
    assert!(e.contains("outside the vocabulary"), "{e}");
}
