//! The model-level training step against PyTorch + peft (tests/fixtures/ref/make_tiny_train.py): on
//! the tiny Llama and Qwen2 with a non-zero PEFT adapter, a batch of two sequences of different lengths
//! with a loss mask, our loss and every LoRA gradient against the f64 reference: loss within 1e-4
//! relative, gradients within 1e-4 (max over tensors of ‖ours − ref‖ / ‖ref‖).
mod common;
use safetensors::SafeTensors;
use sqlora_kernel::backend::Backend;
use sqlora_kernel::cpu::CpuBackend;
use sqlora_kernel::loader::ModelSource;
use sqlora_kernel::lora::{Adapter, TARGETS};
use sqlora_kernel::model::{Model, TrainSeq};

fn i64s(st: &SafeTensors, name: &str) -> Vec<i64> {
    st.tensor(name).unwrap().data().chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect()
}

fn f32s(st: &SafeTensors, name: &str) -> Vec<f32> {
    let t = st.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    t.data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

fn rel(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len());
    let d: f64 = got.iter().zip(want).map(|(a, b)| (*a as f64 - *b as f64).powi(2)).sum();
    let n: f64 = want.iter().map(|b| (*b as f64).powi(2)).sum();
    (d / n).sqrt()
}

/// PEFT's tensor name of (layer, target) for lora_A or lora_B.
fn peft_name(layer: usize, t: usize, half: &str) -> String {
    let block = if t < 4 { "self_attn" } else { "mlp" };
    format!("base_model.model.model.layers.{layer}.{block}.{}.{half}.weight", TARGETS[t])
}

fn check(name: &str) {
    let dir = common::fixtures().join("tiny");
    let src = ModelSource::open(dir.join(name)).unwrap();
    let model = Model::load(CpuBackend::default(), &src).unwrap();
    let adapter = Adapter::load(dir.join(format!("{name}_train"))).unwrap();
    let bytes = std::fs::read(dir.join(format!("{name}_train")).join("reference.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let ids = i64s(&st, "input_ids");
    let lengths = i64s(&st, "lengths");
    let mask = i64s(&st, "loss_mask");
    let t = ids.len() / lengths.len();
    let loss_want = {
        let l = st.tensor("loss").unwrap();
        f64::from_le_bytes(l.data().try_into().unwrap())
    };
    let toks: Vec<Vec<u32>> = (0..lengths.len()).map(|b| ids[b * t..b * t + lengths[b] as usize].iter().map(|&v| v as u32).collect()).collect();
    let tgts: Vec<Vec<bool>> = (0..lengths.len()).map(|b| mask[b * t..b * t + lengths[b] as usize].iter().map(|&v| v != 0).collect()).collect();
    let batch: Vec<TrainSeq> = toks.iter().zip(&tgts).map(|(tokens, target)| TrainSeq { tokens, target }).collect();
    let params = model.lora_params(&adapter).unwrap();
    let mut grads = model.lora_zeros(&params);
    let loss = model.loss_and_grads(&batch, &params, &mut grads).unwrap();
    let e = (loss - loss_want).abs() / loss_want.abs();
    println!("{name}: loss {loss} vs peft {loss_want} (rel {e:.2e})");
    assert!(e < 1e-4, "{name}: loss {loss} vs {loss_want}");
    let be = CpuBackend::default();
    let mut worst = (0f64, String::new());
    let mut n = 0;
    for (&(layer, tgt), g) in &grads.modules {
        for (half, got) in [("lora_A", &g.a), ("lora_B", &g.b)] {
            let key = format!("grad.{}", peft_name(layer, tgt, half));
            let r = rel(&be.download(got), &f32s(&st, &key));
            if r > worst.0 {
                worst = (r, key);
            }
            n += 1;
        }
    }
    assert_eq!(n, 2 * 7 * model.cfg.n_layers, "{name}: a gradient per LoRA weight");
    println!("{name}: {n} LoRA gradients, worst ‖ours − ref‖/‖ref‖ = {:.2e} ({})", worst.0, worst.1);
    assert!(worst.0 < 1e-4, "{name}: gradient {} off by {:.2e}", worst.1, worst.0);
}

#[test]
fn tiny_llama_lora_loss_and_gradients_match_peft() {
    check("llama");
}

#[test]
fn tiny_qwen2_lora_loss_and_gradients_match_peft() {
    check("qwen2");
}
