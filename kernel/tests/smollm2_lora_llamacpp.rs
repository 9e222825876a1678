//! The GGUF LoRA export against llama.cpp (tests/fixtures/ref/make_smollm2_lora_llamacpp.py): the
//! random PEFT adapter of tests/fixtures/smollm2/lora_random, written by `lora::save_gguf`, byte for
//! byte the file llama.cpp was given (CRC-32 in meta_llamacpp.json), read back by our GGUF reader as
//! the same adapter; and llama.cpp with that file agrees with our engine with the PEFT adapter as
//! well as the two agree without any adapter. llama.cpp's CPU kernels are approximate (8-bit
//! activations), so the comparison is relative: on the 412 positions, top-1 agreement with the
//! adapter within 2 points of the base models' agreement (measured 0.975 for both, exact path), mean
//! KL within 0.01, and far from llama.cpp without the adapter (0.85). The same for the F16 file
//! (`save_gguf_as(.., Storage::F16)`, what `sqlora export` ships: meta_llamacpp_f16.json,
//! reference_llamacpp_f16.safetensors), our engine then running the F16-rounded adapter it reads back.
mod common;
use common::agreement::{log_softmax, Agreement};
use safetensors::SafeTensors;
use sqlora_kernel::backend::Backend;
use sqlora_kernel::lora::{load_gguf, save_gguf_as, Adapter, Storage};
use sqlora_kernel::model::Logits;
use sqlora_kernel::Engine;
use std::sync::Arc;

backend_tests!(best_isa: gguf_lora_export_loads_in_llama_cpp_and_agrees_with_ours, f16_gguf_lora_export_loads_in_llama_cpp_and_agrees_with_ours);

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0xEDB8_8320 } else { c >> 1 };
        }
    }
    !c
}

fn tensor_i32(st: &SafeTensors, n: &str) -> Vec<i32> {
    st.tensor(n).unwrap().data().chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap())).collect()
}
fn tensor_f32(st: &SafeTensors, n: &str) -> Vec<f32> {
    st.tensor(n).unwrap().data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

/// Our log-probs per position of the fixture's texts against llama.cpp's top-20 `ids`/`logprobs`.
fn agree<B: Backend>(engine: &Engine<B>, texts: &[Vec<u32>], ids: &[i32], lps: &[f32]) -> Agreement {
    let m = &engine.model;
    let mut a = Agreement::default();
    let mut row = 0;
    for t in texts {
        let mut cache = m.new_cache();
        let logits = m.forward(&mut [(t, &mut cache)], Logits::All).unwrap();
        for l in logits.chunks_exact(m.cfg.vocab) {
            a.add(&log_softmax(l), &ids[row * 20..row * 20 + 20], &lps[row * 20..row * 20 + 20]);
            row += 1;
        }
    }
    a
}

fn gguf_lora_export_loads_in_llama_cpp_and_agrees_with_ours<B: Backend + Clone>(be: &B) {
    llama_cpp_agrees(be, Storage::F32, "");
}

fn f16_gguf_lora_export_loads_in_llama_cpp_and_agrees_with_ours<B: Backend + Clone>(be: &B) {
    llama_cpp_agrees(be, Storage::F16, "_f16");
}

/// The export in `storage` against llama.cpp's run of it (files `meta_llamacpp{suffix}.json`,
/// `reference_llamacpp{suffix}.safetensors`).
fn llama_cpp_agrees<B: Backend + Clone>(be: &B, storage: Storage, suffix: &str) {
    let Some(path) = common::smollm2() else { return };
    let dir = common::fixtures().join("smollm2/lora_random");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(format!("meta_llamacpp{suffix}.json"))).unwrap()).unwrap();
    let mut engine = Engine::load_on(be.clone(), &path).unwrap();
    let out = tempfile::tempdir().unwrap();
    let gguf = out.path().join("adapter.gguf");
    save_gguf_as(&Adapter::load(&dir).unwrap(), &engine.model.cfg, &gguf, storage).unwrap();
    // What llama.cpp runs: the weights as the file stores them (the F16 rounding for F16).
    let adapter = if storage == Storage::F32 { Adapter::load(&dir).unwrap() } else { load_gguf(&gguf, &engine.model.cfg).unwrap() };
    let bytes = std::fs::read(&gguf).unwrap();
    assert_eq!(bytes.len() as u64, meta["adapter_gguf_bytes"].as_u64().unwrap());
    assert_eq!(
        crc32(&bytes) as u64,
        meta["adapter_gguf_crc32"].as_u64().unwrap(),
        "save_gguf writes other bytes than llama.cpp was checked with"
    );
    let back = load_gguf(&gguf, &engine.model.cfg).unwrap();
    assert_eq!(back.modules, adapter.modules);
    assert_eq!(back.scale, adapter.scale);

    let refb = std::fs::read(dir.join("reference.safetensors")).unwrap();
    let refs = SafeTensors::deserialize(&refb).unwrap();
    let (input, offsets) = (
        tensor_i32(&refs, "input_ids"),
        refs.tensor("offsets")
            .unwrap()
            .data()
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as usize)
            .collect::<Vec<_>>(),
    );
    let texts: Vec<Vec<u32>> = offsets.windows(2).map(|w| input[w[0]..w[1]].iter().map(|&x| x as u32).collect()).collect();
    let llb = std::fs::read(dir.join(format!("reference_llamacpp{suffix}.safetensors"))).unwrap();
    let ll = SafeTensors::deserialize(&llb).unwrap();
    let (l_ids, l_lp, lb_ids, lb_lp) =
        (tensor_i32(&ll, "ids"), tensor_f32(&ll, "logprobs"), tensor_i32(&ll, "base_ids"), tensor_f32(&ll, "base_logprobs"));

    let base = agree(&engine, &texts, &lb_ids, &lb_lp);
    engine.model.set_adapter(Some(Arc::new(adapter))).unwrap();
    let with = agree(&engine, &texts, &l_ids, &l_lp);
    let cross = agree(&engine, &texts, &lb_ids, &lb_lp);
    println!("exact path vs llama.cpp, {} positions:", with.n);
    println!("  base vs base:                top-1 {:.4}, mean KL {:.2e}, max KL {:.2e}", base.top1(), base.kl(), base.kl_max);
    println!("  adapter vs adapter.gguf:     top-1 {:.4}, mean KL {:.2e}, max KL {:.2e}", with.top1(), with.kl(), with.kl_max);
    println!("  adapter vs llama.cpp's base: top-1 {:.4}, mean KL {:.2e}", cross.top1(), cross.kl());
    assert_eq!(with.n, 412);
    assert!(with.top1() >= base.top1() - 0.02, "with the adapter top-1 {} vs base {}", with.top1(), base.top1());
    assert!(with.kl() <= base.kl() + 0.01, "with the adapter KL {} vs base {}", with.kl(), base.kl());
    assert!(
        with.top1() > cross.top1() + 0.05 && with.kl() * 5.0 < cross.kl(),
        "llama.cpp's adapted logits are not told apart from its base"
    );
}
