//! The model-level training step against PyTorch + peft (tests/fixtures/ref/make_tiny_train.py): on
//! the tiny Llama and Qwen2 with a non-zero PEFT adapter, a batch of two sequences of different lengths
//! with a loss mask, our loss and every LoRA gradient against the f64 reference: loss within 1e-4
//! relative, gradients within 1e-4 (max over tensors of ‖ours − ref‖ / ‖ref‖); then 10 AdamW steps
//! (weight decay, linear warmup and decay, clipping) on that batch: every step's loss, gradient norm
//! and learning rate, and the final adapter within 1e-4.
mod common;
use common::backends::{counting, Counting};
use safetensors::SafeTensors;
use sqlora_kernel::backend::{Backend, TrainBackend};
use sqlora_kernel::loader::ModelSource;
use sqlora_kernel::lora::{peft_name, Adapter, Proj};
use sqlora_kernel::model::{Dropout, LoraParams, Model};
use sqlora_kernel::train::{clip_factor, grad_norm, AdamW, Optimizer, Schedule};

backend_tests!(
    gpu:
    tiny_llama_lora_loss_gradients_and_adamw_steps_match_peft,
    tiny_qwen2_lora_loss_gradients_and_adamw_steps_match_peft,
    training_step_stays_on_the_backend,
);

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

/// The largest ‖ours − ref‖ / ‖ref‖ over every A and B of `p` against the fixture's `prefix` tensors,
/// and its name. (The tiny models are Hugging Face directories: B's rows are in PEFT's order.)
fn worst_rel<B: Backend>(be: &B, p: &LoraParams<B>, st: &SafeTensors, prefix: &str) -> (f64, String) {
    let mut worst = (0f64, String::new());
    for (&(layer, proj), m) in &p.modules {
        for (is_a, got) in [(true, &m.a), (false, &m.b)] {
            let key = format!("{prefix}{}", peft_name(layer, proj, is_a));
            let r = rel(&be.download(got), &f32s(st, &key));
            if r > worst.0 {
                worst = (r, key);
            }
        }
    }
    worst
}

fn check<B: TrainBackend + Clone>(be: &B, name: &str) {
    let dir = common::fixtures().join("tiny");
    let src = ModelSource::open(dir.join(name)).unwrap();
    let model = Model::load(be.clone(), &src).unwrap();
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
    let n = 2 * grads.modules.len();
    assert_eq!(n, 2 * 7 * model.cfg.n_layers, "{name}: a gradient per LoRA weight");
    let worst = worst_rel(be, &grads, &st, "grad.");
    println!("{name}: {n} LoRA gradients, worst ‖ours − ref‖/‖ref‖ = {:.2e} ({})", worst.0, worst.1);
    assert!(worst.0 < 1e-4, "{name}: gradient {} off by {:.2e}", worst.1, worst.0);

    // Ten AdamW steps on the same batch, with the script's settings (its meta.json).
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{name}_train")).join("meta.json")).unwrap()).unwrap();
    let o = &meta["optimizer"];
    let num = |v: &serde_json::Value| v.as_f64().unwrap();
    let cfg = AdamW {
        lr: num(&o["lr"]),
        beta1: num(&o["betas"][0]),
        beta2: num(&o["betas"][1]),
        eps: num(&o["eps"]),
        weight_decay: num(&o["weight_decay"]),
    };
    let steps = o["steps"].as_u64().unwrap() as usize;
    assert_eq!(o["schedule"].as_str().unwrap(), format!("get_linear_schedule_with_warmup(warmup=3, total={steps})"));
    let sched = Schedule::Linear { warmup: 3, total: steps };
    let max_norm = num(&o["clip_grad_norm"]);
    let mut params = params;
    let mut opt = Optimizer::new(&model, &params, cfg);
    for (s, want) in meta["steps"].as_array().unwrap().iter().enumerate() {
        let mut grads = model.lora_zeros(&params);
        let loss = model.loss_and_grads(&batch, &params, &mut grads).unwrap();
        let norm = grad_norm(be, &grads);
        let lr = cfg.lr * sched.factor(s);
        let (wl, wn, wlr) = (num(&want["loss"]), num(&want["grad_norm"]), num(&want["lr"]));
        assert!(
            (loss - wl).abs() <= 1e-4 * wl && (norm - wn).abs() <= 1e-4 * wn && (lr - wlr).abs() <= 1e-12,
            "{name} step {s}: loss {loss} / {wl}, grad norm {norm} / {wn}, lr {lr} / {wlr}"
        );
        opt.step(be, &mut params, &grads, lr, clip_factor(norm, max_norm));
    }
    let worst = worst_rel(be, &params, &st, "step10.");
    // Moved: the start is far enough from the end that an update that did nothing would fail.
    let start = f32s(
        &SafeTensors::deserialize(&std::fs::read(dir.join(format!("{name}_train")).join("adapter_model.safetensors")).unwrap()).unwrap(),
        &peft_name(0, Proj::Q, false),
    );
    let end = f32s(&st, &format!("step10.{}", peft_name(0, Proj::Q, false)));
    println!(
        "{name}: after {steps} AdamW steps, worst ‖ours − ref‖/‖ref‖ = {:.2e} ({}); the steps moved layer 0 q lora_B by {:.2e}",
        worst.0,
        worst.1,
        rel(&start, &end)
    );
    assert!(rel(&start, &end) > 1e-3, "{name}: the reference steps barely moved the adapter");
    assert!(worst.0 < 1e-4, "{name}: after {steps} steps {} is off by {:.2e}", worst.1, worst.0);
}

fn tiny_llama_lora_loss_gradients_and_adamw_steps_match_peft<B: TrainBackend + Clone>(be: &B) {
    check(be, "llama");
}

fn tiny_qwen2_lora_loss_gradients_and_adamw_steps_match_peft<B: TrainBackend + Clone>(be: &B) {
    check(be, "qwen2");
}

/// A training step makes no host transfer but the loss and gradient-norm scalars: after the first
/// step (and the parameters' upload), `loss_and_grads` and the optimizer call neither `upload` nor
/// `download`, with and without dropout; the counter sees the one download a checkpoint makes.
fn training_step_stays_on_the_backend<B: TrainBackend + Clone>(be: &B) {
    let dir = common::fixtures().join("tiny");
    let counting = counting(be.clone());
    let model = Model::load(counting.clone(), &ModelSource::open(dir.join("llama")).unwrap()).unwrap();
    let adapter = Adapter::load(dir.join("llama_train")).unwrap();
    let bytes = std::fs::read(dir.join("llama_train").join("reference.safetensors")).unwrap();
    let rb = common::train_batch::RefBatch::read(&SafeTensors::deserialize(&bytes).unwrap());
    let mut params = model.lora_params(&adapter).unwrap();
    let mut opt = Optimizer::new(&model, &params, AdamW::default());
    let mut step = |params: &mut LoraParams<Counting<B>>| {
        let mut grads = model.lora_zeros(params);
        let loss = model.loss_and_grads(&rb.seqs(), params, &mut grads).unwrap();
        let norm = grad_norm(&counting, &grads);
        opt.step(&counting, params, &grads, 1e-3, clip_factor(norm, 1.0));
        loss
    };
    step(&mut params);
    let after_first = counting.observer.transfers();
    for dropout in [None, Some(Dropout { p: 0.1, seed: 5 })] {
        params.dropout = dropout;
        let loss = step(&mut params);
        assert!(loss.is_finite());
        assert_eq!(
            counting.observer.transfers(),
            after_first,
            "a training step (dropout {dropout:?}) moved tensors between host and backend"
        );
    }
    let _ = model.adapter_from_params(&params, 16.0, false, std::path::PathBuf::new());
    assert!(counting.observer.transfers().1 > after_first.1, "the counter sees downloads");
    println!("{}: training steps after the first: 0 uploads, 0 downloads", be.name());
}
