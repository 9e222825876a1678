//! The model-level training step against PyTorch + peft (tests/fixtures/ref/make_tiny_train.py): on
//! the tiny Llama and Qwen2 with a non-zero PEFT adapter, a batch of two sequences of different lengths
//! with a loss mask, our loss and every LoRA gradient against the f64 reference: loss within 1e-4
//! relative, gradients within 1e-4 (max over tensors of ‖ours − ref‖ / ‖ref‖); then 10 AdamW steps
//! (weight decay, linear warmup and decay, clipping) on that batch: every step's loss, gradient norm
//! and learning rate, and the final adapter within 1e-4.
mod common;
use safetensors::SafeTensors;
use sqlora_kernel::backend::Backend;
use sqlora_kernel::cpu::CpuBackend;
use sqlora_kernel::loader::ModelSource;
use sqlora_kernel::lora::{Adapter, TARGETS};
use sqlora_kernel::model::{LoraParams, Model};
use sqlora_kernel::train::{clip_factor, grad_norm, AdamW, Optimizer, Schedule};

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

/// The largest ‖ours − ref‖ / ‖ref‖ over every A and B of `p` against the fixture's `prefix` tensors,
/// and its name.
fn worst_rel(p: &LoraParams<CpuBackend>, st: &SafeTensors, prefix: &str) -> (f64, String) {
    let be = CpuBackend::default();
    let mut worst = (0f64, String::new());
    for (&(layer, tgt), m) in &p.modules {
        for (half, got) in [("lora_A", &m.a), ("lora_B", &m.b)] {
            let key = format!("{prefix}{}", peft_name(layer, tgt, half));
            let r = rel(&be.download(got), &f32s(st, &key));
            if r > worst.0 {
                worst = (r, key);
            }
        }
    }
    worst
}

fn check(name: &str) {
    let dir = common::fixtures().join("tiny");
    let src = ModelSource::open(dir.join(name)).unwrap();
    let model = Model::load(CpuBackend::default(), &src).unwrap();
    let adapter = Adapter::load(dir.join(format!("{name}_train"))).unwrap();
    let bytes = std::fs::read(dir.join(format!("{name}_train")).join("reference.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let rb = common::train_batch::RefBatch::read(&st);
    let (batch, loss_want) = (rb.seqs(), rb.loss);
    let params = model.lora_params(&adapter).unwrap();
    let mut grads = model.lora_zeros(&params);
    let loss = model.loss_and_grads(&batch, &params, &mut grads).unwrap();
    let e = (loss - loss_want).abs() / loss_want.abs();
    println!("{name}: loss {loss} vs peft {loss_want} (rel {e:.2e})");
    assert!(e < 1e-4, "{name}: loss {loss} vs {loss_want}");
    let be = CpuBackend::default();
    let n = 2 * grads.modules.len();
    assert_eq!(n, 2 * 7 * model.cfg.n_layers, "{name}: a gradient per LoRA weight");
    let worst = worst_rel(&grads, &st, "grad.");
    println!("{name}: {n} LoRA gradients, worst ‖ours − ref‖/‖ref‖ = {:.2e} ({})", worst.0, worst.1);
    assert!(worst.0 < 1e-4, "{name}: gradient {} off by {:.2e}", worst.1, worst.0);

    // Ten AdamW steps on the same batch, with the script's settings (its meta.json).
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{name}_train")).join("meta.json")).unwrap()).unwrap();
    let o = &meta["optimizer"];
    let num = |v: &serde_json::Value| v.as_f64().unwrap();
    let cfg = AdamW { lr: num(&o["lr"]), beta1: num(&o["betas"][0]), beta2: num(&o["betas"][1]), eps: num(&o["eps"]), weight_decay: num(&o["weight_decay"]) };
    let steps = o["steps"].as_u64().unwrap() as usize;
    assert_eq!(o["schedule"].as_str().unwrap(), format!("get_linear_schedule_with_warmup(warmup=3, total={steps})"));
    let sched = Schedule::Linear { warmup: 3, total: steps };
    let max_norm = num(&o["clip_grad_norm"]);
    let mut params = params;
    let mut opt = Optimizer::new(&model, &params, cfg);
    for (s, want) in meta["steps"].as_array().unwrap().iter().enumerate() {
        let mut grads = model.lora_zeros(&params);
        let loss = model.loss_and_grads(&batch, &params, &mut grads).unwrap();
        let norm = grad_norm(&be, &grads);
        let lr = cfg.lr * sched.factor(s);
        let (wl, wn, wlr) = (num(&want["loss"]), num(&want["grad_norm"]), num(&want["lr"]));
        assert!((loss - wl).abs() <= 1e-4 * wl && (norm - wn).abs() <= 1e-4 * wn && (lr - wlr).abs() <= 1e-12,
            "{name} step {s}: loss {loss} / {wl}, grad norm {norm} / {wn}, lr {lr} / {wlr}");
        opt.step(&be, &mut params, &grads, lr, clip_factor(norm, max_norm));
    }
    let worst = worst_rel(&params, &st, "step10.");
    // Moved: the start is far enough from the end that an update that did nothing would fail.
    let start = f32s(&SafeTensors::deserialize(&std::fs::read(dir.join(format!("{name}_train")).join("adapter_model.safetensors")).unwrap()).unwrap(),
        &peft_name(0, 0, "lora_B"));
    let end = f32s(&st, &format!("step10.{}", peft_name(0, 0, "lora_B")));
    println!("{name}: after {steps} AdamW steps, worst ‖ours − ref‖/‖ref‖ = {:.2e} ({}); the steps moved layer 0 q lora_B by {:.2e}", worst.0, worst.1, rel(&start, &end));
    assert!(rel(&start, &end) > 1e-3, "{name}: the reference steps barely moved the adapter");
    assert!(worst.0 < 1e-4, "{name}: after {steps} steps {} is off by {:.2e}", worst.1, worst.0);
}

#[test]
fn tiny_llama_lora_loss_gradients_and_adamw_steps_match_peft() {
    check("llama");
}

#[test]
fn tiny_qwen2_lora_loss_gradients_and_adamw_steps_match_peft() {
    check("qwen2");
}
