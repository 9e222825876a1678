//! Adapters in and out of the engine: `Model::lora_params` then `Model::adapter_from_params` gives
//! back the PEFT-layout adapter exactly, on the tiny Hugging Face llama (HF row order) and on the
//! SmolLM2 GGUF (q/k rows of lora_B permuted into llama.cpp's order on the way in and back out);
//! `save_peft` then `Adapter::load` is the identity.
mod common;
use sqlora_kernel::backend::Backend;
use sqlora_kernel::loader::ModelSource;
use sqlora_kernel::lora::{Adapter, Proj};
use sqlora_kernel::model::Model;
use sqlora_kernel::rng::Rng;

backend_tests!(adapter_from_params_inverts_lora_params_on_tiny_llama, adapter_from_params_inverts_lora_params_on_smollm2_gguf);

fn randomize_b(a: &mut Adapter, seed: u64) {
    let mut rng = Rng::new(seed);
    for w in a.modules.values_mut() {
        w.b.iter_mut().for_each(|x| *x = rng.uniform(-0.1, 0.1));
    }
}

fn round_trip<B: Backend>(model: &Model<B>, a: &Adapter) {
    let p = model.lora_params(a).unwrap();
    let back = model.adapter_from_params(&p, a.alpha, a.rslora, "x".into());
    assert_eq!((back.r, back.scale), (a.r, a.scale));
    assert_eq!(back.modules, a.modules);
    let dir = tempfile::tempdir().unwrap();
    back.save_peft(dir.path(), "base").unwrap();
    assert_eq!(Adapter::load(dir.path()).unwrap().modules, a.modules);
}

fn adapter_from_params_inverts_lora_params_on_tiny_llama<B: Backend + Clone>(be: &B) {
    let dir = common::fixtures().join("tiny");
    let model = Model::load(be.clone(), &ModelSource::open(dir.join("llama")).unwrap()).unwrap();
    let adapter = Adapter::load(dir.join("llama_train")).unwrap();
    round_trip(&model, &adapter);
}

fn adapter_from_params_inverts_lora_params_on_smollm2_gguf<B: Backend + Clone>(be: &B) {
    let Some(path) = common::smollm2() else { return };
    let model = Model::load(be.clone(), &ModelSource::open(&path).unwrap()).unwrap();
    assert!(sqlora_kernel::lora::rows_permuted(&model.cfg), "a GGUF llama holds q/k in llama.cpp's order");
    let mut cfg = model.cfg.clone();
    cfg.n_layers = 2;
    let mut a = Adapter::init_peft(&cfg, 4, 8.0, false, &Proj::ALL, 1);
    randomize_b(&mut a, 2);
    round_trip(&model, &a);
    // The engine's q/k B rows really are reordered (v is not).
    let p = model.lora_params(&a).unwrap();
    assert_ne!(be.download(&p.modules[&(0, Proj::Q)].b), a.modules[&(0, Proj::Q)].b);
    assert_ne!(be.download(&p.modules[&(1, Proj::K)].b), a.modules[&(1, Proj::K)].b);
    assert_eq!(be.download(&p.modules[&(0, Proj::V)].b), a.modules[&(0, Proj::V)].b);
}
