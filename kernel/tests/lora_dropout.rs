//! LoRA dropout (PEFT's lora_dropout, inverted dropout on each LoRA branch's input) in the training
//! step: its gradients against central finite differences of the loss under the same masks, on the
//! tiny Llama fixture with a non-zero adapter; p = 0 is the step without dropout, bit for bit; the
//! masks drop p of the inputs and depend on the seed.
mod common;
use sqlora_kernel::backend::TrainBackend;
use sqlora_kernel::loader::ModelSource;
use sqlora_kernel::lora::{Adapter, Proj};
use sqlora_kernel::model::{Dropout, LoraParams, Model};
use sqlora_kernel::rng::dropout_keeps;

backend_tests!(gpu: dropout_masks_drop_p_of_the_inputs_and_follow_the_seed, dropout_gradients_match_finite_differences);

fn setup<B: TrainBackend + Clone>(be: &B) -> (Model<B>, Adapter, common::train_batch::RefBatch) {
    let dir = common::fixtures().join("tiny");
    let model = Model::load(be.clone(), &ModelSource::open(dir.join("llama")).unwrap()).unwrap();
    let adapter = Adapter::load(dir.join("llama_train")).unwrap();
    let bytes = std::fs::read(dir.join("llama_train").join("reference.safetensors")).unwrap();
    let rb = common::train_batch::RefBatch::read(&safetensors::SafeTensors::deserialize(&bytes).unwrap());
    (model, adapter, rb)
}

fn loss_grads<B: TrainBackend>(model: &Model<B>, p: &LoraParams<B>, rb: &common::train_batch::RefBatch) -> (f64, LoraParams<B>) {
    let mut g = model.lora_zeros(p);
    let l = model.loss_and_grads(&rb.seqs(), p, &mut g).unwrap();
    (l, g)
}

fn dropout_masks_drop_p_of_the_inputs_and_follow_the_seed<B: TrainBackend>(b: &B) {
    let n = 200_000u64;
    let kept = (0..n).filter(|&i| dropout_keeps(7, i, 0.1)).count() as f64 / n as f64;
    assert!((kept - 0.9).abs() < 0.005, "kept {kept}");
    let same = (0..1000).filter(|&i| dropout_keeps(7, i, 0.5) == dropout_keeps(8, i, 0.5)).count();
    assert!((400..600).contains(&same), "another seed draws another mask ({same}/1000 equal)");
    let x = b.upload(&vec![1.0f32; 1000]);
    let mut out = b.zeros(1000);
    b.dropout(&x, 1000, 0.25, 3, &mut out);
    for (i, v) in b.download(&out).iter().enumerate() {
        let want = if dropout_keeps(3, i as u64, 0.25) { 1.0 / 0.75 } else { 0.0 };
        assert_eq!(*v, want, "element {i}");
    }
}

fn dropout_gradients_match_finite_differences<B: TrainBackend + Clone>(be: &B) {
    let (model, adapter, rb) = setup(be);
    let b = &model.backend;
    let mut p = model.lora_params(&adapter).unwrap();
    let (l_plain, g_plain) = loss_grads(&model, &p, &rb);
    p.dropout = Some(Dropout { p: 0.0, seed: 5 });
    let (l0, g0) = loss_grads(&model, &p, &rb);
    assert_eq!(l0.to_bits(), l_plain.to_bits(), "p = 0 is no dropout");
    for (k, m) in &g0.modules {
        assert_eq!(b.download(&m.a), b.download(&g_plain.modules[k].a));
    }
    p.dropout = Some(Dropout { p: 0.3, seed: 5 });
    let (l, g) = loss_grads(&model, &p, &rb);
    assert!((l - l_plain).abs() > 1e-6, "dropout changes the loss ({l} vs {l_plain})");
    // Central differences on the entries with the largest gradients of a few modules, A and B.
    let keys: Vec<(usize, Proj)> = p.modules.keys().copied().step_by(3).collect();
    let mut worst = 0f64;
    for key in keys {
        for which in 0..2 {
            let grad = b.download(if which == 0 { &g.modules[&key].a } else { &g.modules[&key].b });
            let i = (0..grad.len()).max_by(|&x, &y| grad[x].abs().total_cmp(&grad[y].abs())).unwrap();
            let base = b.download(if which == 0 { &p.modules[&key].a } else { &p.modules[&key].b });
            let eps = 1e-2f32;
            let mut at = |delta: f32| {
                let mut v = base.clone();
                v[i] += delta;
                let m = p.modules.get_mut(&key).unwrap();
                *(if which == 0 { &mut m.a } else { &mut m.b }) = b.upload(&v);
                let (l, _) = loss_grads(&model, &p, &rb);
                let m = p.modules.get_mut(&key).unwrap();
                *(if which == 0 { &mut m.a } else { &mut m.b }) = b.upload(&base);
                l
            };
            let fd = (at(eps) - at(-eps)) / (2.0 * eps as f64);
            let rel = (fd - grad[i] as f64).abs() / (grad[i] as f64).abs().max(1e-12);
            println!(
                "layer {} {} {}[{i}]: grad {:.6e}, central difference {fd:.6e}, rel {rel:.2e}",
                key.0,
                key.1,
                ["A", "B"][which],
                grad[i]
            );
            worst = worst.max(rel);
        }
    }
    assert!(worst < 2e-2, "dropout gradients off finite differences by {worst:.2e}");
}
