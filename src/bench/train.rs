//! `sqlora bench --train`: LoRA training throughput on SmolLM2 (or any GGUF), ours and PyTorch + peft's
//! in the same run, on the same tokens and thread count.
//!
//! A step is what a trainer does per optimizer step: the loss and every LoRA gradient of the batch
//! (`Model::loss_and_grads`), the gradient norm and clipping to 1.0, and an AdamW step. The first
//! step is a warm-up (not timed); the median of the others is reported. FLOP counts use the usual
//! estimate for a frozen base: 4·N per token (2·N forward, 2·N for the input gradients; the base has
//! no weight gradient), N = the parameters of every matrix a token goes through (the seven
//! projections of each layer and the output head).
use super::args::BenchArgs;
use super::machine::{isa_line, median, peak_rss_mb, peer_isa_env, prompt_ids};
use crate::cli_args::NumericsArg;
use crate::device::WithTrainBackend;
use anyhow::{Context, Result};
use sqlora_kernel::backend::LoraShape;
use sqlora_kernel::backend::TrainBackend;
use sqlora_kernel::bench::peaks;
use sqlora_kernel::lora::Proj;
use sqlora_kernel::model::{LoraPair, LoraParams, Model, TrainSeq};
use sqlora_kernel::train::{clip_factor, grad_norm, AdamW, Optimizer};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, Default, Clone, serde::Deserialize)]
struct PeerResult {
    tok_s: Option<f64>,
    peak_rss_mb: Option<f64>,
    first_loss: Option<f64>,
    torch_cpu_capability: Option<String>,
}

struct Ours {
    tok_s: f64,
    step_s: f64,
    first_loss: f64,
    peak_rss_mb: Option<f64>,
    /// 4·N: the model FLOP per token.
    flop_per_tok: f64,
    /// The batch (the peer trains on the same tokens).
    ids: Vec<Vec<u32>>,
    target: Vec<Vec<bool>>,
}

/// LoRA weights as peft initializes them (A uniform in ±1/√din, Kaiming's bound for its init; B = 0,
/// so the first loss is the base model's and both sides must agree on it), scale α/r with α = 2r.
pub(super) fn init_params<B: TrainBackend>(model: &Model<B>, r: usize) -> LoraParams<B> {
    let c = &model.cfg;
    let b = &model.backend;
    let mut seed = 0x5eed_u64;
    let mut modules = BTreeMap::new();
    for li in 0..c.n_layers {
        for p in Proj::ALL {
            let (din, dout) = p.dims(c);
            let bound = 1.0 / (din as f32).sqrt();
            let a: Vec<f32> = (0..r * din)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    ((seed >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * bound
                })
                .collect();
            let shape = LoraShape { r, din, dout, scale: 2.0 };
            modules.insert((li, p), LoraPair { a: b.upload(&a), b: b.zeros(dout * r), shape });
        }
    }
    LoraParams { r, scale: 2.0, modules, dropout: None }
}

/// Parameters a token's forward multiplies by (projections and head; the embedding lookup is free).
fn matrix_params<B: TrainBackend>(model: &Model<B>) -> f64 {
    let c = &model.cfg;
    let per_layer = 2 * c.hidden * c.q_dim() + 2 * c.hidden * c.kv_dim() + 3 * c.hidden * c.intermediate;
    (c.n_layers * per_layer + c.vocab * c.hidden) as f64
}

fn measure<B: TrainBackend>(model: &Model<B>, batch: &[TrainSeq<'_>], a: &BenchArgs) -> Result<Ours> {
    let b = &model.backend;
    let mut params = init_params(model, a.rank);
    let mut opt = Optimizer::new(model, &params, AdamW { lr: 1e-4, weight_decay: 0.0, ..AdamW::default() });
    let tokens: usize = batch.iter().map(|s| s.tokens.len()).sum();
    let (mut times, mut first_loss) = (Vec::new(), 0.0);
    for s in 0..=a.train_steps {
        let t = Instant::now();
        let mut grads = model.lora_zeros(&params);
        let loss = model.loss_and_grads(batch, &params, &mut grads)?;
        let norm = grad_norm(b, &grads);
        opt.step(b, &mut params, &grads, 1e-4, clip_factor(norm, 1.0));
        let el = t.elapsed().as_secs_f64();
        eprintln!("sqlora step {s}: loss {loss:.4}, {el:.2} s");
        if s == 0 {
            first_loss = loss;
        } else {
            times.push(el);
        }
    }
    let step_s = median(times);
    Ok(Ours {
        tok_s: tokens as f64 / step_s,
        step_s,
        first_loss,
        peak_rss_mb: peak_rss_mb(),
        flop_per_tok: 0.0,
        ids: Vec::new(),
        target: Vec::new(),
    })
}

fn run_peer(
    py: &PathBuf,
    model: &std::path::Path,
    ids: &[Vec<u32>],
    target: &[Vec<bool>],
    a: &BenchArgs,
    threads: usize,
) -> Result<PeerResult> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench").join("train_peer.py");
    let batch_file = std::env::temp_dir().join(format!("sqlora-bench-train-{}.json", std::process::id()));
    std::fs::write(&batch_file, serde_json::to_string(&serde_json::json!({ "ids": ids, "target": target }))?)?;
    let caps = peer_isa_env();
    if !caps.is_empty() {
        eprintln!("peer capped like the engine: {}", caps.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "));
    }
    eprintln!("running the PyTorch + peft peer ({} with {}) …", script.display(), py.display());
    let out = std::process::Command::new(py)
        .arg(&script)
        .arg("--model")
        .arg(model)
        .arg("--batch-file")
        .arg(&batch_file)
        .args(["--threads", &threads.to_string(), "--r", &a.rank.to_string(), "--alpha", &(2 * a.rank).to_string()])
        .args(["--steps", &a.train_steps.to_string()])
        .envs(caps.iter().cloned())
        // transformers' progress bars (GGUF dequantization, weight loading) would fill the log.
        .env("TQDM_DISABLE", "1")
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", py.display()));
    std::fs::remove_file(&batch_file).ok();
    let out = out?;
    if !out.status.success() {
        anyhow::bail!("the PyTorch training peer failed ({})", out.status);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).with_context(|| format!("PyTorch peer: output is not a JSON result: {last}"))
}

pub fn run(a: BenchArgs) -> Result<()> {
    // Before the thread pool starts: one arena, training's buffers reused step after step.
    sqlora_kernel::cpu::tune_allocator();
    let threads = a.threads.unwrap_or(2);
    rayon::ThreadPoolBuilder::new().num_threads(threads).build_global().ok();
    let threads = rayon::current_num_threads();
    let model_path = a.model.resolve()?;
    println!("{}", isa_line());
    let (nb, len) = (a.train_batch, a.train_len);
    println!(
        "training step: {nb} × {len} tokens, loss on the second half of each, LoRA r = {} (α = {}) on all seven projections, {threads} threads, clipping + AdamW",
        a.rank,
        2 * a.rank
    );
    // Both training numerics, one after the other (`finetune --numerics`).
    let exact = a.device.run_train(NumericsArg { int8: false }, TrainBench { args: &a, path: &model_path })?;
    let int8 = a.device.run_train(NumericsArg { int8: true }, TrainBench { args: &a, path: &model_path })?;
    let peer_py = a.torch_peer.clone().or_else(|| Some(PathBuf::from("/opt/peers/bin/python")).filter(|p| p.exists()));
    let peer = match &peer_py {
        Some(py) => match run_peer(py, &model_path, &exact.ids, &exact.target, &a, threads) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("PyTorch peer not measured: {e:#}");
                None
            }
        },
        None => {
            eprintln!("PyTorch peer skipped: no --torch-peer and no /opt/peers/bin/python");
            None
        }
    };
    // The machine's peaks, measured here (model FLOP utilisation is against these, not a data sheet).
    let p = peaks::measure(0.3, peaks::memory_gbs(peaks::DEFAULT_MEM_FLOATS / 4));
    println!("{}", isa_line());
    if let Some(c) = peer.as_ref().and_then(|p| p.torch_cpu_capability.as_ref()) {
        println!("PyTorch CPU capability: {c}");
    }
    let f = |x: Option<f64>, d: usize| x.map_or("—".to_string(), |v| format!("{v:.d$}"));
    let pt = peer.as_ref().and_then(|p| p.tok_s);
    let ratio = |o: &Ours| pt.map_or("—".into(), |p| format!("{:.2}×", o.tok_s / p));
    let gflops = |t: f64| exact.flop_per_tok * t / 1e9;
    println!(
        "| LoRA training, {nb} × {len} tokens, r = {}, {threads} threads | sqlora exact | sqlora int8 | PyTorch + peft fp32 |",
        a.rank
    );
    println!("|---|---|---|---|");
    println!("| tokens/s (median of {} steps) | {:.1} | {:.1} | {} |", a.train_steps, exact.tok_s, int8.tok_s, f(pt, 1));
    println!("| against PyTorch + peft | {} | {} | 1× |", ratio(&exact), ratio(&int8));
    println!(
        "| GFLOP/s (4·N·tokens, N = {:.1} M) | {:.1} | {:.1} | {} |",
        exact.flop_per_tok / 4e6,
        gflops(exact.tok_s),
        gflops(int8.tok_s),
        f(pt.map(gflops), 1)
    );
    let mfu = |t: f64, peak: f64| format!("{:.0}%", 100.0 * gflops(t) / peak);
    println!(
        "| of the f32 FMA peak ({:.0} GFLOP/s) | {} | {} | {} |",
        p.f32_gflops,
        mfu(exact.tok_s, p.f32_gflops),
        mfu(int8.tok_s, p.f32_gflops),
        pt.map_or("—".into(), |t| mfu(t, p.f32_gflops))
    );
    println!("| of the 8-bit dot peak ({:.0} GOP/s) | | {} | |", p.int8_gops, mfu(int8.tok_s, p.int8_gops));
    if let Some(bf) = p.bf16_gflops {
        println!("| (the bf16 dot peak, for comparison: {bf:.0} GFLOP/s) | | | |");
    }
    println!("| step (s) | {:.2} | {:.2} | {} |", exact.step_s, int8.step_s, f(pt.map(|p| (nb * len) as f64 / p), 2));
    println!(
        "| peak RSS (MB) | {} | {} (both runs, one process) | {} |",
        f(exact.peak_rss_mb, 0),
        f(int8.peak_rss_mb, 0),
        f(peer.as_ref().and_then(|p| p.peak_rss_mb), 0)
    );
    println!(
        "| first step's loss (B = 0: the base model's) | {:.4} | {:.4} | {} |",
        exact.first_loss,
        int8.first_loss,
        f(peer.as_ref().and_then(|p| p.first_loss), 4)
    );
    Ok(())
}

/// One numerics' measure: the model loaded on the backend `Device::run` built.
struct TrainBench<'a> {
    args: &'a BenchArgs,
    path: &'a std::path::Path,
}

impl WithTrainBackend for TrainBench<'_> {
    type Output = Result<Ours>;
    fn with<B: TrainBackend>(self, backend: B) -> Result<Ours> {
        let a = self.args;
        let engine = crate::assets::load_engine(backend, self.path)?;
        let model = &engine.model;
        println!("model {} on {}", self.path.display(), model.backend_name());
        let (nb, len) = (a.train_batch, a.train_len);
        let ids: Vec<Vec<u32>> = (0..nb).map(|i| prompt_ids(&engine, len, 7 * i)).collect::<Result<_>>()?;
        let target: Vec<Vec<bool>> = (0..nb).map(|_| (0..len).map(|t| t >= len / 2).collect()).collect();
        let batch: Vec<TrainSeq> = ids.iter().zip(&target).map(|(tokens, target)| TrainSeq { tokens, target }).collect();
        let mut ours = measure(model, &batch, a)?;
        ours.flop_per_tok = 4.0 * matrix_params(model);
        ours.ids = ids;
        ours.target = target;
        Ok(ours)
    }
}
