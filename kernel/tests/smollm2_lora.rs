//! A PEFT adapter (Hugging Face layout) on the SmolLM2 Q4_1 GGUF against transformers + peft
//! (tests/fixtures/ref/make_smollm2_lora.py: r = 8, all seven projections of layers 0, 14, 29, A and B
//! random): teacher-forced over three Spider texts (412 positions) the exact path must meet the
//! teacher-forced test's thresholds (top-1 ≥ 99%, mean KL ≤ 1e-3 against PyTorch), and the greedy
//! continuation must equal peft's. The GGUF holds q_proj / k_proj rows in llama.cpp's permuted order,
//! so lora_B of q/k must be permuted on load: the same adapter with that step undone misses the
//! thresholds (checked here too, so the test stays sensitive to it).
mod common;
use common::agreement::{log_softmax, Agreement};
use safetensors::SafeTensors;
use sqlora_kernel::backend::Backend;
use sqlora_kernel::generate::{GenConfig, Generator};
use sqlora_kernel::lora::{b_from_engine, Adapter};
use sqlora_kernel::model::{Logits, Model};
use sqlora_kernel::Engine;
use std::sync::Arc;

backend_tests!(best_isa: smollm2_gguf_with_peft_adapter_matches_peft);

fn tensor<T>(st: &SafeTensors, name: &str, width: usize, f: impl Fn(&[u8]) -> T) -> Vec<T> {
    st.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}")).data().chunks_exact(width).map(f).collect()
}
fn i32s(st: &SafeTensors, name: &str) -> Vec<i32> {
    tensor(st, name, 4, |c| i32::from_le_bytes(c.try_into().unwrap()))
}

pub struct Fixture {
    pub input_ids: Vec<i32>,
    pub offsets: Vec<i64>,
    pub ids: Vec<i32>,
    pub logprobs: Vec<f32>,
    pub base_ids: Vec<i32>,
    pub base_logprobs: Vec<f32>,
    pub greedy_prompt: Vec<i32>,
    pub greedy_ids: Vec<i32>,
}

fn fixture() -> Fixture {
    let bytes = std::fs::read(common::fixtures().join("smollm2/lora_random/reference.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let f32s = |n: &str| tensor(&st, n, 4, |c| f32::from_le_bytes(c.try_into().unwrap()));
    Fixture {
        input_ids: i32s(&st, "input_ids"),
        offsets: tensor(&st, "offsets", 8, |c| i64::from_le_bytes(c.try_into().unwrap())),
        ids: i32s(&st, "ids"),
        logprobs: f32s("logprobs"),
        base_ids: i32s(&st, "base_ids"),
        base_logprobs: f32s("base_logprobs"),
        greedy_prompt: i32s(&st, "greedy_prompt"),
        greedy_ids: i32s(&st, "greedy_ids"),
    }
}

/// Our agreement with peft's adapted log-probs, and with the base model's.
fn measure<B: Backend>(m: &Model<B>, fx: &Fixture) -> (Agreement, Agreement) {
    const K: usize = 20;
    let (mut adapted, mut base) = (Agreement::default(), Agreement::default());
    for w in fx.offsets.windows(2) {
        let (s, e) = (w[0] as usize, w[1] as usize);
        let ids: Vec<u32> = fx.input_ids[s..e].iter().map(|&x| x as u32).collect();
        let mut cache = m.new_cache();
        let logits = m.forward(&mut [(&ids, &mut cache)], Logits::All).unwrap();
        for (t, row) in logits.chunks_exact(m.cfg.vocab).enumerate() {
            let lp = log_softmax(row);
            let r = (s + t) * K;
            adapted.add(&lp, &fx.ids[r..r + K], &fx.logprobs[r..r + K]);
            base.add(&lp, &fx.base_ids[r..r + K], &fx.base_logprobs[r..r + K]);
        }
    }
    (adapted, base)
}

fn smollm2_gguf_with_peft_adapter_matches_peft<B: Backend + Clone>(be: &B) {
    let Some(path) = common::smollm2() else { return };
    let fx = fixture();
    let mut engine = Engine::load_on(be.clone(), &path).unwrap();
    let adapter = Adapter::load(common::fixtures().join("smollm2/lora_random")).unwrap();
    assert_eq!((adapter.r, adapter.modules.len()), (8, 21));
    engine.model.set_adapter(Some(Arc::new(adapter.clone()))).unwrap();
    let (ours, vs_base) = measure(&engine.model, &fx);
    println!(
        "sqlora exact + adapter vs peft: {} positions, top-1 {:.4}, mean KL {:.2e}, max KL {:.2e}; vs the base model's: top-1 {:.4}, mean KL {:.2e}",
        ours.n,
        ours.top1(),
        ours.kl(),
        ours.kl_max,
        vs_base.top1(),
        vs_base.kl()
    );
    assert_eq!(ours.n, 412);
    assert!(ours.top1() >= 0.99 && ours.kl() <= 1e-3, "top-1 {} KL {}", ours.top1(), ours.kl());
    assert!(vs_base.kl() > 0.05, "the adapter should move the distribution (KL vs base {})", vs_base.kl());

    let prompt: Vec<u32> = fx.greedy_prompt.iter().map(|&x| x as u32).collect();
    let cfg = GenConfig { max_new_tokens: fx.greedy_ids.len(), stop_at_eos: false, ..Default::default() };
    let g = Generator::new(&engine.model, &engine.tokenizer).generate(&[prompt], None, &cfg).unwrap();
    let want: Vec<u32> = fx.greedy_ids.iter().map(|&x| x as u32).collect();
    assert_eq!(g[0].tokens, want, "greedy continuation: ours {:?}", g[0].text);

    // Without the q/k row permutation (B's rows given to the engine in HF order) the match is lost.
    let mut unpermuted = adapter;
    for (&(_, p), w) in unpermuted.modules.iter_mut() {
        w.b = b_from_engine(&engine.model.cfg, p, &w.b, 8);
    }
    engine.model.set_adapter(Some(Arc::new(unpermuted))).unwrap();
    let (wrong, _) = measure(&engine.model, &fx);
    println!("without the q/k permutation: top-1 {:.4}, mean KL {:.2e}", wrong.top1(), wrong.kl());
    assert!(wrong.top1() < 0.99 || wrong.kl() > 1e-3, "the check does not see the q/k row order");
}
