//! SmolLM2 greedy continuations (48 tokens, 20 Spider prompts) against PyTorch's and llama.cpp's
//! (fixture from tests/fixtures/ref/make_greedy.py), and the generator's errors on bad input.
mod common;
use sqlora_kernel::generate::{GenConfig, Generator};
use sqlora_kernel::cpu::Numerics;
use sqlora_kernel::Engine;

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

#[test]
fn smollm2_greedy_continuations_match_pytorch() {
    let Some(model) = common::smollm2() else { return };
    let text = std::fs::read_to_string(common::fixtures().join("smollm2/greedy.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let prompts: Vec<Vec<u32>> = rows.iter().map(|r| ids(&r["prompt_ids"])).collect();
    let cfg = GenConfig { max_new_tokens: 48, stop_at_eos: true, ..Default::default() };
    let strip_eos = |v: Vec<u32>| v.into_iter().filter(|&t| t != 2).collect::<Vec<_>>();
    let mut exact_same_torch = 0;
    for numerics in [Numerics::Exact, Numerics::Int8] {
        let engine = Engine::load_cpu(&model, numerics).unwrap();
        // All 20 decoded as one batch: batching must not change a greedy continuation.
        let gens = Generator::new(&engine.model, &engine.tokenizer).generate(&prompts, None, &cfg).unwrap();
        let (mut same_torch, mut same_llama, mut torch_llama) = (0, 0, 0);
        for (g, r) in gens.iter().zip(&rows) {
            let (t, l) = (strip_eos(ids(&r["torch"])), strip_eos(ids(&r["llamacpp"])));
            same_torch += (g.tokens == t) as usize;
            same_llama += (g.tokens == l) as usize;
            torch_llama += (t == l) as usize;
        }
        println!("{numerics:?}: identical of 20: sqlora = PyTorch {same_torch}, sqlora = llama.cpp {same_llama}, llama.cpp = PyTorch {torch_llama}");
        if numerics == Numerics::Exact {
            exact_same_torch = same_torch;
        }
    }
    // The exact path computes the same function as the fp32 reference; only summation order differs,
    // which can flip a near-tie once in a while. The int8 path is reported, not bounded: on this model
    // any rounding (llama.cpp's included) changes about half of the 48-token continuations.
    assert!(exact_same_torch >= 18, "only {exact_same_torch} of 20 greedy continuations equal PyTorch's");
}

#[test]
fn generator_rejects_bad_input_clearly() {
    let Some(model) = common::smollm2() else { return };
    let engine = Engine::load(&model).unwrap();
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
