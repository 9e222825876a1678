//! Times one LoRA training step (loss_and_grads, no optimizer) on a real model (a development probe):
//! `cargo run --release --example train_probe [MODEL.gguf]`, BATCH × LEN tokens (default 4 × 128),
//! rank R (16) on all seven projections, random A and B, STEPS steps (2). Prints tokens/s and the peak
//! RSS; with PROFILE=1 also the time per backend op (a delegating backend times every call).
use sqlora_kernel::backend::{AdamWStep, AttnSeq, AttnShape, Backend, HostMatrix, LoraShape, RopeStyle};
use sqlora_kernel::cpu::{CpuBackend, CpuMatrix};
use sqlora_kernel::loader::ModelSource;
use sqlora_kernel::model::{LoraPair, LoraParams, Model, TrainSeq};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn peak_rss_mb() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()).unwrap_or(0.0) / 1024.0
}

/// The CPU backend with every op timed (seconds and calls per op name).
#[derive(Default)]
struct Timed {
    cpu: CpuBackend,
    t: Mutex<BTreeMap<&'static str, (f64, usize)>>,
}

impl Timed {
    fn time<R>(&self, name: &'static str, f: impl FnOnce() -> R) -> R {
        let t = Instant::now();
        let r = f();
        let s = t.elapsed().as_secs_f64();
        let mut m = self.t.lock().unwrap();
        let e = m.entry(name).or_default();
        e.0 += s;
        e.1 += 1;
        r
    }
}

type T = Vec<f32>;
impl Backend for Timed {
    type Tensor = T;
    type Matrix = CpuMatrix;
    fn name(&self) -> String { self.cpu.name() }
    fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R { self.cpu.run(f) }
    fn zeros(&self, n: usize) -> T { self.time("zeros", || self.cpu.zeros(n)) }
    fn upload(&self, d: &[f32]) -> T { self.time("upload", || self.cpu.upload(d)) }
    fn download(&self, t: &T) -> Vec<f32> { self.time("download", || self.cpu.download(t)) }
    fn len(&self, t: &T) -> usize { t.len() }
    fn ensure_len(&self, t: &mut T, n: usize) { self.cpu.ensure_len(t, n) }
    fn matrix(&self, w: &HostMatrix) -> sqlora_kernel::Result<CpuMatrix> { self.cpu.matrix(w) }
    fn matmul(&self, x: &T, m: usize, w: &CpuMatrix, out: &mut T) { self.time("matmul", || self.cpu.matmul(x, m, w, out)) }
    fn embed(&self, t: &CpuMatrix, ids: &[u32], out: &mut T) { self.time("embed", || self.cpu.embed(t, ids, out)) }
    fn add_bias(&self, x: &mut T, m: usize, b: &T) { self.time("add_bias", || self.cpu.add_bias(x, m, b)) }
    fn add(&self, x: &mut T, y: &T, n: usize) { self.time("add", || self.cpu.add(x, y, n)) }
    fn dropout(&self, x: &T, n: usize, p: f32, seed: u64, out: &mut T) { self.time("dropout", || self.cpu.dropout(x, n, p, seed, out)) }
    fn rmsnorm(&self, x: &T, w: &T, m: usize, n: usize, eps: f32, out: &mut T) { self.time("rmsnorm", || self.cpu.rmsnorm(x, w, m, n, eps, out)) }
    fn rope(&self, x: &mut T, m: usize, nh: usize, hd: usize, p: &[u32], th: f32, s: RopeStyle) { self.time("rope", || self.cpu.rope(x, m, nh, hd, p, th, s)) }
    fn swiglu(&self, g: &T, u: &T, n: usize, out: &mut T) { self.time("swiglu", || self.cpu.swiglu(g, u, n, out)) }
    fn copy_rows(&self, s: &T, sr: usize, d: &mut T, dr: usize, n: usize, l: usize) { self.time("copy_rows", || self.cpu.copy_rows(s, sr, d, dr, n, l)) }
    fn gather_rows(&self, x: &T, r: &[usize], n: usize, out: &mut T) { self.time("gather_rows", || self.cpu.gather_rows(x, r, n, out)) }
    fn attention(&self, q: &T, s: &[AttnSeq<'_, T>], sh: AttnShape, out: &mut T) { self.time("attention", || self.cpu.attention(q, s, sh, out)) }
    fn rmsnorm_bwd(&self, dy: &T, x: &T, w: &T, m: usize, n: usize, eps: f32, dx: &mut T, dw: Option<&mut T>) { self.time("rmsnorm_bwd", || self.cpu.rmsnorm_bwd(dy, x, w, m, n, eps, dx, dw)) }
    fn rope_bwd(&self, d: &mut T, m: usize, nh: usize, hd: usize, p: &[u32], th: f32, s: RopeStyle) { self.time("rope_bwd", || self.cpu.rope_bwd(d, m, nh, hd, p, th, s)) }
    fn swiglu_bwd(&self, dy: &T, g: &T, u: &T, n: usize, dg: &mut T, du: &mut T) { self.time("swiglu_bwd", || self.cpu.swiglu_bwd(dy, g, u, n, dg, du)) }
    fn matmul_bwd(&self, dy: &T, m: usize, w: &CpuMatrix, dx: &mut T, acc: bool) { self.time("matmul_bwd", || self.cpu.matmul_bwd(dy, m, w, dx, acc)) }
    fn lora_fwd(&self, x: &T, m: usize, a: &T, b: &T, l: LoraShape, h: &mut T, y: &mut T) { self.time("lora_fwd", || self.cpu.lora_fwd(x, m, a, b, l, h, y)) }
    fn lora_bwd(&self, dy: &T, x: &T, h: &T, m: usize, a: &T, b: &T, l: LoraShape, da: &mut T, db: &mut T, dx: &mut T) { self.time("lora_bwd", || self.cpu.lora_bwd(dy, x, h, m, a, b, l, da, db, dx)) }
    fn attention_train(&self, q: &T, k: &T, v: &T, s: &[(usize, usize)], sh: AttnShape, out: &mut T, lse: &mut T) { self.time("attention_train", || self.cpu.attention_train(q, k, v, s, sh, out, lse)) }
    fn attention_bwd(&self, d: &T, q: &T, k: &T, v: &T, o: &T, lse: &T, s: &[(usize, usize)], sh: AttnShape, dq: &mut T, dk: &mut T, dv: &mut T) { self.time("attention_bwd", || self.cpu.attention_bwd(d, q, k, v, o, lse, s, sh, dq, dk, dv)) }
    fn cross_entropy_fwd_bwd(&self, h: &T, t: &[u32], w: &[f32], head: &CpuMatrix, dh: &mut T) -> f64 { self.time("cross_entropy", || self.cpu.cross_entropy_fwd_bwd(h, t, w, head, dh)) }
    fn sum_squares(&self, x: &T, n: usize) -> f64 { self.time("sum_squares", || self.cpu.sum_squares(x, n)) }
    fn adamw_step(&self, p: &mut T, g: &T, m: &mut T, v: &mut T, n: usize, h: AdamWStep) { self.time("adamw", || self.cpu.adamw_step(p, g, m, v, n, h)) }
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
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        format!("{}/.cache/sqlora/models/SmolLM2-135M-Instruct.Q4_1.gguf", std::env::var("HOME").unwrap())
    });
    let (batch, len, r, steps) = (env("BATCH", 4), env("LEN", 128), env("R", 16), env("STEPS", 2));
    let profile = env("PROFILE", 0) == 1;
    if env("TUNE_ALLOC", 1) == 1 {
        sqlora_kernel::cpu::tune_allocator();
    }
    let src = ModelSource::open(&path).unwrap();
    let model = Model::load(Timed::default(), &src).unwrap();
    let c = &model.cfg;
    let dims = [(c.hidden, c.q_dim()), (c.hidden, c.kv_dim()), (c.hidden, c.kv_dim()), (c.q_dim(), c.hidden), (c.hidden, c.intermediate), (c.hidden, c.intermediate), (c.intermediate, c.hidden)];
    let be = CpuBackend::default();
    let mut seed = 1u64;
    let mut rnd = |n: usize, s: f32| -> Vec<f32> {
        (0..n).map(|_| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * s
        }).collect()
    };
    let mut modules = BTreeMap::new();
    for li in 0..c.n_layers {
        for (t, &(din, dout)) in dims.iter().enumerate() {
            let shape = LoraShape { r, din, dout, scale: 2.0 };
            modules.insert((li, t), LoraPair { a: be.upload(&rnd(r * din, 0.1)), b: be.upload(&rnd(dout * r, 0.01)), shape });
        }
    }
    let params = LoraParams::<Timed> { r, scale: 2.0, modules, dropout: None };
    let toks: Vec<Vec<u32>> = (0..batch).map(|b| (0..len).map(|i| ((i * 7919 + b * 104729) % c.vocab) as u32).collect()).collect();
    let mask: Vec<Vec<bool>> = (0..batch).map(|_| (0..len).map(|i| i >= len / 2).collect()).collect();
    let seqs: Vec<TrainSeq> = toks.iter().zip(&mask).map(|(tokens, target)| TrainSeq { tokens, target }).collect();
    println!("{} — {batch} × {len} tokens, r = {r}, all projections", model.backend_name());
    for rep in 0..steps {
        let mut grads = model.lora_zeros(&params);
        model.backend.t.lock().unwrap().clear();
        let (t, c0) = (Instant::now(), cpu_s());
        let loss = model.loss_and_grads(&seqs, &params, &mut grads).unwrap();
        let s = t.elapsed().as_secs_f64();
        let cpu = cpu_s() - c0;
        let threads = rayon::current_num_threads() as f64;
        println!("step {rep}: loss {loss:.4}, {s:.2} s, {:.0} tok/s; {cpu:.2} CPU s, {:.0} tok/s per {threads} CPU-s; peak RSS {:.0} MB", (batch * len) as f64 / s, (batch * len) as f64 * threads / cpu, peak_rss_mb());
        if profile {
            let m = model.backend.t.lock().unwrap();
            let mut v: Vec<_> = m.iter().collect();
            v.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0));
            let tot: f64 = v.iter().map(|e| e.1 .0).sum();
            for (k, (secs, n)) in v {
                println!("  {k:16} {secs:7.3} s {:5.1}%  {n} calls", 100.0 * secs / s);
            }
            println!("  {:16} {:7.3} s (untimed {:.3} s)", "sum", tot, s - tot);
        }
    }
}
