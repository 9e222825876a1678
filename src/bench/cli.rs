//! `sqlora bench`: the engine's speed on the same GGUF and thread count as its peers, in one run:
//! prefill of a 512-token prompt, decode of 128 tokens at batch 1, aggregate decode of 16 prompts
//! batched, peak RSS. With `--peers PYTHON`, the same measures from llama.cpp (llama-cpp-python) and
//! PyTorch + transformers (fp32, the GGUF dequantized) run from `bench/peers.py`, and ratios are printed.
//!
//! `sqlora bench --train`: LoRA training throughput instead (`train`), against PyTorch + peft running
//! the same step from `bench/train_peer.py`.
use super::args::BenchArgs;
use super::machine::{decode_batched, isa_line, median, peak_rss_mb, peer_isa_env, prompt_ids};
use crate::cli_args::NumericsArg;
use crate::device::WithBackend;
use anyhow::{Context, Result};
use sqlora_kernel::backend::Backend;
use sqlora_kernel::model::Logits;
use sqlora_kernel::Engine;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct BenchResult {
    pub prefill_tok_s: Option<f64>,
    pub decode_tok_s: Option<f64>,
    pub batched_decode_tok_s: Option<f64>,
    pub peak_rss_mb: Option<f64>,
}

pub fn measure<B: Backend>(engine: &Engine<B>, a: &BenchArgs) -> Result<BenchResult> {
    let m = &engine.model;
    // Prefill: one forward over the whole prompt; only the last position's logits are needed.
    let p = prompt_ids(engine, a.prefill_tokens, 0)?;
    let mut times = Vec::new();
    for r in 0..=a.reps {
        let mut c = m.new_cache();
        let t = Instant::now();
        m.forward(&mut [(&p, &mut c)], Logits::Last)?;
        if r > 0 {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    let prefill = a.prefill_tokens as f64 / median(times);
    eprintln!("prefill {}: {prefill:.1} tok/s", a.prefill_tokens);

    // Decode at batch 1 after a short prompt, ignoring EOS (fixed work).
    let p = prompt_ids(engine, 16, 1)?;
    let mut times = Vec::new();
    for _ in 0..a.reps.min(3) {
        let mut c = m.new_cache();
        let mut next = m.forward_greedy(&mut [(&p, &mut c)])?[0];
        let t = Instant::now();
        for _ in 0..a.decode_tokens {
            next = m.forward_greedy(&mut [(&[next], &mut c)])?[0];
        }
        times.push(t.elapsed().as_secs_f64());
    }
    let decode = a.decode_tokens as f64 / median(times);
    eprintln!("decode batch 1: {decode:.1} tok/s");

    // Batched: `batch` different 128-token prompts, then decode_tokens steps for all (aggregate tok/s,
    // decode phase only, as llama-batched-bench's S_TG).
    let prompts: Vec<Vec<u32>> = (0..a.batch).map(|i| prompt_ids(engine, 128, 100 + 13 * i)).collect::<Result<_>>()?;
    let mut times = Vec::new();
    for _ in 0..a.reps.min(2) {
        times.push(decode_batched(m, &prompts, a.decode_tokens, || {})?);
    }
    let batched = (a.batch * a.decode_tokens) as f64 / median(times);
    eprintln!("decode {} batched: {batched:.1} tok/s aggregate", a.batch);
    Ok(BenchResult {
        prefill_tok_s: Some(prefill),
        decode_tok_s: Some(decode),
        batched_decode_tok_s: Some(batched),
        peak_rss_mb: peak_rss_mb(),
    })
}

pub fn run(a: BenchArgs) -> Result<()> {
    if a.kernels {
        return super::kernels::run(a);
    }
    if a.train {
        return super::train::run(a);
    }
    if let Some(t) = a.threads {
        rayon::ThreadPoolBuilder::new().num_threads(t).build_global().ok();
    }
    let threads = rayon::current_num_threads();
    let model_path = a.model.resolve()?;
    println!("{}", isa_line());
    // Both numerics, one after the other (the peak RSS is that of one loaded model).
    let mut ours = Vec::new();
    for int8 in [false, true] {
        ours.push(a.device.run(NumericsArg { int8 }, Measure { path: &model_path, args: &a })?);
    }
    let (llama, torch) = match &a.peers {
        Some(py) => run_peers(py, &model_path, &a, threads)?,
        None => (BenchResult::default(), BenchResult::default()),
    };
    println!("{}", isa_line());
    print_table(&ours[0], &ours[1], &llama, &torch, a.prefill_tokens, a.decode_tokens, a.batch);
    Ok(())
}

/// Loads the model on the chosen backend and measures it.
struct Measure<'a> {
    path: &'a std::path::Path,
    args: &'a BenchArgs,
}

impl WithBackend for Measure<'_> {
    type Output = Result<BenchResult>;
    fn with<B: Backend>(self, backend: B) -> Result<BenchResult> {
        let engine = crate::assets::load_engine(backend, self.path)?;
        println!("model {} on {}", self.path.display(), engine.model.backend_name());
        measure(&engine, self.args)
    }
}

fn run_peers(py: &PathBuf, model: &std::path::Path, a: &BenchArgs, threads: usize) -> Result<(BenchResult, BenchResult)> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench").join("peers.py");
    let caps = peer_isa_env();
    if !caps.is_empty() {
        eprintln!("peers capped like the engine: {}", caps.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "));
    }
    let run = |py: &PathBuf, only: &str| -> Result<BenchResult> {
        eprintln!("running peer {only} ({} with {}) …", script.display(), py.display());
        let out = std::process::Command::new(py)
            .arg(&script)
            .arg("--model")
            .arg(model)
            .args(["--threads", &threads.to_string(), "--prefill", &a.prefill_tokens.to_string()])
            .args(["--decode", &a.decode_tokens.to_string(), "--batch", &a.batch.to_string(), "--reps", &a.reps.to_string()])
            .args(["--only", only])
            .envs(caps.iter().cloned())
            .stderr(std::process::Stdio::inherit())
            .output()
            .with_context(|| format!("running {}", py.display()))?;
        if !out.status.success() {
            anyhow::bail!("peer script failed for {only} ({})", out.status);
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let last = stdout.lines().last().unwrap_or_default();
        serde_json::from_str::<BenchResult>(last).with_context(|| format!("peer {only}: output is not a JSON result: {last}"))
    };
    let llama = run(a.llama_peer.as_ref().unwrap_or(py), "llama_cpp")?;
    Ok((llama, run(py, "torch")?))
}

fn print_table(exact: &BenchResult, int8: &BenchResult, llama: &BenchResult, torch: &BenchResult, p: usize, d: usize, b: usize) {
    let f = |x: Option<f64>| x.map_or("—".to_string(), |v| format!("{v:.1}"));
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "—".into(),
    };
    println!("| measure | sqlora exact | sqlora int8 | llama.cpp | PyTorch fp32 | exact / llama.cpp | int8 / llama.cpp | exact / PyTorch | int8 / PyTorch |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let rows = [
        (format!("prefill {p} tokens (tok/s)"), exact.prefill_tok_s, int8.prefill_tok_s, llama.prefill_tok_s, torch.prefill_tok_s),
        (format!("decode {d} tokens, batch 1 (tok/s)"), exact.decode_tok_s, int8.decode_tok_s, llama.decode_tok_s, torch.decode_tok_s),
        (
            format!("decode {b}×{d} batched, aggregate (tok/s)"),
            exact.batched_decode_tok_s,
            int8.batched_decode_tok_s,
            llama.batched_decode_tok_s,
            torch.batched_decode_tok_s,
        ),
    ];
    for (name, e, i, l, t) in rows {
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} |",
            f(e),
            f(i),
            f(l),
            f(t),
            ratio(e, l),
            ratio(i, l),
            ratio(e, t),
            ratio(i, t)
        );
    }
    println!(
        "| peak RSS (MB) | {} | {} | {} | {} | | | | |",
        f(exact.peak_rss_mb),
        f(int8.peak_rss_mb),
        f(llama.peak_rss_mb),
        f(torch.peak_rss_mb)
    );
}
