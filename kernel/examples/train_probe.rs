//! Times one LoRA training step (loss_and_grads, no optimizer) on a real model (a development probe):
//! `cargo run --release --example train_probe [MODEL.gguf]`, BATCH × LEN tokens (default 4 × 128),
//! rank R (16) on all seven projections, random A and B, STEPS steps (2). Prints tokens/s and the peak
//! RSS; with PROFILE=1 also the time per backend op (a delegating backend times every call);
//! NUMERICS=int8 for the 8-bit-activation products (default exact).
use sqlora_kernel::backend::instrumented::Instrumented;
use sqlora_kernel::backend::{Backend, LoraShape};
use sqlora_kernel::bench::profile::{table, OpTimes};
use sqlora_kernel::cpu::{CpuBackend, Numerics};
use sqlora_kernel::loader::ModelSource;
use sqlora_kernel::lora::Proj;
use sqlora_kernel::model::{LoraPair, LoraParams, Model, TrainSeq};
use std::collections::BTreeMap;
use std::time::Instant;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn peak_rss_mb() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()).unwrap_or(0.0) / 1024.0
}

/// User + system CPU seconds of this process (all threads): on a shared, loaded machine the work a
/// step does, where its wall time also counts waiting for a core.
fn cpu_s() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = s.rsplit_once(')').map(|x| x.1).unwrap_or("").split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| format!("{}/.cache/sqlora/models/SmolLM2-135M-Instruct.Q4_1.gguf", std::env::var("HOME").unwrap()));
    let (batch, len, r, steps) = (env("BATCH", 4), env("LEN", 128), env("R", 16), env("STEPS", 2));
    let profile = env("PROFILE", 0) == 1;
    if env("TUNE_ALLOC", 1) == 1 {
        sqlora_kernel::cpu::tune_allocator();
    }
    let numerics = match std::env::var("NUMERICS").as_deref() {
        Ok("int8") => Numerics::Int8,
        _ => Numerics::default(),
    };
    let src = ModelSource::open(&path).unwrap();
    let model = Model::load(Instrumented { inner: CpuBackend::new(numerics), observer: OpTimes::default() }, &src).unwrap();
    let c = &model.cfg;
    let be = CpuBackend::default();
    let mut seed = 1u64;
    let mut rnd = |n: usize, s: f32| -> Vec<f32> {
        (0..n)
            .map(|_| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * s
            })
            .collect()
    };
    let mut modules = BTreeMap::new();
    for li in 0..c.n_layers {
        for p in Proj::ALL {
            let (din, dout) = p.dims(c);
            let shape = LoraShape { r, din, dout, scale: 2.0 };
            modules.insert((li, p), LoraPair { a: be.upload(&rnd(r * din, 0.1)), b: be.upload(&rnd(dout * r, 0.01)), shape });
        }
    }
    let params = LoraParams::<Instrumented<CpuBackend, OpTimes>> { r, scale: 2.0, modules, dropout: None };
    let toks: Vec<Vec<u32>> = (0..batch).map(|b| (0..len).map(|i| ((i * 7919 + b * 104729) % c.vocab) as u32).collect()).collect();
    let mask: Vec<Vec<bool>> = (0..batch).map(|_| (0..len).map(|i| i >= len / 2).collect()).collect();
    let seqs: Vec<TrainSeq> = toks.iter().zip(&mask).map(|(tokens, target)| TrainSeq { tokens, target }).collect();
    println!("{} — {batch} × {len} tokens, r = {r}, all projections", model.backend_name());
    for rep in 0..steps {
        let mut grads = model.lora_zeros(&params);
        model.backend.observer.take();
        let (t, c0) = (Instant::now(), cpu_s());
        let loss = model.loss_and_grads(&seqs, &params, &mut grads).unwrap();
        let s = t.elapsed().as_secs_f64();
        let cpu = cpu_s() - c0;
        let threads = rayon::current_num_threads() as f64;
        println!(
            "step {rep}: loss {loss:.4}, {s:.2} s, {:.0} tok/s; {cpu:.2} CPU s, {:.0} tok/s per {threads} CPU-s; peak RSS {:.0} MB",
            (batch * len) as f64 / s,
            (batch * len) as f64 * threads / cpu,
            peak_rss_mb()
        );
        if profile {
            print!("{}", table(&model.backend.observer.take(), s));
        }
    }
}
