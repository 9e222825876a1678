//! What both benches share: the machine they ran on (ISA, CPU, peak RSS, the peers' ISA cap), the
//! prompts they feed, and the median.
use anyhow::Result;
use sqlora_kernel::backend::Backend;
use sqlora_kernel::model::Model;
use sqlora_kernel::Engine;
use std::time::Instant;

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Deterministic filler text long enough for any prompt length (token ids from the model's own
/// tokenizer, cut to length).
pub fn prompt_ids<B: Backend>(engine: &Engine<B>, n: usize, salt: usize) -> Result<Vec<u32>> {
    let mut text = String::new();
    let mut i = salt;
    let mut ids = Vec::new();
    while ids.len() < n {
        text.push_str(&format!(
            "SELECT name, count(*) FROM table_{} WHERE value > {} GROUP BY name ORDER BY count(*) DESC; -- query {i}\n",
            i % 17,
            i * 7 % 100
        ));
        i += 1;
        ids = engine.tokenizer.encode(&text, false)?;
    }
    ids.truncate(n);
    Ok(ids)
}

/// Which instruction set the kernels use, what the CPU has, and the cap asked for: every speed figure is
/// only meaningful with it.
pub fn isa_line() -> String {
    use sqlora_kernel::cpu::isa;
    let (cur, best) = (isa::current(), isa::detect_best());
    let cap = std::env::var("SQLORA_ISA").map(|v| format!("SQLORA_ISA={v}")).unwrap_or_else(|_| "SQLORA_ISA unset".into());
    format!("ISA: {cur} ({}); this CPU's best: {best}; {cap}; {}", cur.describe(), cpu_model())
}

/// The CPU's model name (/proc/cpuinfo), else the architecture.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).map(|m| m.trim().to_string()))
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// VmHWM from /proc/self/status (Linux), in MB.
pub fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// When `SQLORA_ISA` caps the engine to AVX2 on a machine with more, the same cap for PyTorch's
/// kernels (ATen's dispatch, oneDNN and MKL), so both sides run what an AVX2-only machine runs.
/// llama.cpp's instruction set is fixed when it is built: pass an AVX2-only build with `--llama-peer`.
pub fn peer_isa_env() -> Vec<(String, String)> {
    use sqlora_kernel::cpu::isa::{self, Isa};
    let cur = isa::current();
    if cur >= isa::detect_best() || !matches!(cur, Isa::Avx2 | Isa::AvxVnni) {
        return Vec::new();
    }
    [("ATEN_CPU_CAPABILITY", "avx2"), ("ONEDNN_MAX_CPU_ISA", "AVX2"), ("MKL_ENABLE_INSTRUCTIONS", "AVX2")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Batched greedy decoding: each prompt prefilled into its own cache, then `steps` steps of one new
/// token for every sequence (EOS ignored: fixed work). `before_decode` runs between the prefill and
/// the first step (to start counting); returns the seconds of the decode steps alone.
pub fn decode_batched<B: Backend>(m: &Model<B>, prompts: &[Vec<u32>], steps: usize, before_decode: impl FnOnce()) -> Result<f64> {
    let mut caches: Vec<_> = prompts.iter().map(|_| m.new_cache()).collect();
    let mut batch: Vec<(&[u32], &mut _)> = prompts.iter().map(|p| p.as_slice()).zip(caches.iter_mut()).collect();
    let mut next: Vec<[u32; 1]> = m.forward_greedy(&mut batch)?.into_iter().map(|t| [t]).collect();
    drop(batch);
    before_decode();
    let t = Instant::now();
    for _ in 0..steps {
        let mut batch: Vec<(&[u32], &mut _)> = next.iter().map(|n| n.as_slice()).zip(caches.iter_mut()).collect();
        let tokens = m.forward_greedy(&mut batch)?;
        drop(batch);
        for (n, t) in next.iter_mut().zip(tokens) {
            n[0] = t;
        }
    }
    Ok(t.elapsed().as_secs_f64())
}
