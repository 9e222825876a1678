//! The GPU backend's speed on a model of a given shape with random weights (made here: speed does not
//! depend on the weights), as gpu/bench.sh runs it on a GPU machine: prefill tokens/s, decode tokens/s
//! at batch 1 and 64, a workload shaped like the whole Spider dev baseline (prompts behind one shared
//! prefix, 48 new tokens each: its wall time), and the GPU memory in use. One JSON line per measure
//! on stdout.
//!
//!     gpu_bench --device cuda|emulated --config smollm2|llama1b|tiny [--dev-lengths FILE]
//!     gpu_bench --train [--train-batch 8] [--train-len 512] [--peak-tflops T] --device … --config …
//!
//! `--train` measures LoRA training instead (a process of its own, so its peak memory is training's):
//! tokens/s of whole optimizer steps (r = 16 on all seven projections, the loss on the second half
//! of each sequence, clipping, AdamW), the model FLOP utilisation as 4·N·tokens/s against
//! `--peak-tflops` (the GPU's dense bf16 peak; bench.sh passes its datasheet figure), peak memory.
//!
//! `--dev-lengths`: a JSON object {"prefix": N, "suffixes": [n, …]} (gpu/bench/dev_lengths.json: the
//! 3-shot prompt's shared part and each dev question's own part, in SmolLM2 tokens); without it a
//! small synthetic set (for trying the script on the emulator). The weights are Q4_1 (the default
//! model's encoding), the embedding Q8_0, norms f32, written as a GGUF file in the temp folder.
use sqlora_gpu::{EmulatedGpu, GpuBackend};
use sqlora_kernel::backend::TrainBackend;
use sqlora_kernel::bench::inputs::random_bytes;
use sqlora_kernel::formats::gguf::Value;
use sqlora_kernel::formats::gguf_write::{write, TensorOut};
use sqlora_kernel::formats::quant::GgmlType;
use sqlora_kernel::loader::ModelSource;
use sqlora_kernel::lora::{Adapter, Proj};
use sqlora_kernel::model::{Logits, Model, TrainSeq};
use sqlora_kernel::train::{train_step, AdamW, Optimizer};
use std::sync::Arc;
use std::time::Instant;

struct Shape {
    name: &'static str,
    hidden: usize,
    layers: usize,
    heads: usize,
    kv_heads: usize,
    inter: usize,
    vocab: usize,
    theta: f32,
}

const SHAPES: [Shape; 3] = [
    // SmolLM2-135M.
    Shape { name: "smollm2", hidden: 576, layers: 30, heads: 9, kv_heads: 3, inter: 1536, vocab: 49152, theta: 100000.0 },
    // A Llama of ~1.2B parameters (Llama-3.2-1B's shape).
    Shape { name: "llama1b", hidden: 2048, layers: 16, heads: 32, kv_heads: 8, inter: 8192, vocab: 128256, theta: 500000.0 },
    // For trying the script on the emulator.
    Shape { name: "tiny", hidden: 64, layers: 2, heads: 4, kv_heads: 2, inter: 160, vocab: 320, theta: 10000.0 },
];

fn write_model(s: &Shape, path: &std::path::Path) {
    let head_dim = s.hidden / s.heads;
    let md = |k: &str| format!("llama.{k}");
    let metadata = vec![
        ("general.architecture".to_string(), Value::Str("llama".into())),
        (md("embedding_length"), Value::U32(s.hidden as u32)),
        (md("block_count"), Value::U32(s.layers as u32)),
        (md("feed_forward_length"), Value::U32(s.inter as u32)),
        (md("attention.head_count"), Value::U32(s.heads as u32)),
        (md("attention.head_count_kv"), Value::U32(s.kv_heads as u32)),
        (md("attention.layer_norm_rms_epsilon"), Value::F32(1e-5)),
        (md("rope.freq_base"), Value::F32(s.theta)),
        (md("context_length"), Value::U32(8192)),
    ];
    let ones: Vec<u8> = (0..s.hidden).flat_map(|_| 1.0f32.to_le_bytes()).collect();
    let mut owned: Vec<(String, GgmlType, usize, usize, Vec<u8>)> = Vec::new();
    owned.push(("token_embd.weight".into(), GgmlType::Q8_0, s.vocab, s.hidden, random_bytes(GgmlType::Q8_0, s.vocab, s.hidden, 1)));
    for l in 0..s.layers {
        let kv = s.kv_heads * head_dim;
        for (i, (n, rows, cols)) in [
            ("attn_q", s.hidden, s.hidden),
            ("attn_k", kv, s.hidden),
            ("attn_v", kv, s.hidden),
            ("attn_output", s.hidden, s.hidden),
            ("ffn_gate", s.inter, s.hidden),
            ("ffn_up", s.inter, s.hidden),
            ("ffn_down", s.hidden, s.inter),
        ]
        .into_iter()
        .enumerate()
        {
            let seed = 100 + (l * 7 + i) as u64;
            owned.push((format!("blk.{l}.{n}.weight"), GgmlType::Q4_1, rows, cols, random_bytes(GgmlType::Q4_1, rows, cols, seed)));
        }
    }
    let mut tensors: Vec<TensorOut> = owned
        .iter()
        .map(|(name, ty, rows, cols, bytes)| TensorOut { name: name.clone(), dims: vec![*cols as u64, *rows as u64], ty: *ty, bytes })
        .collect();
    let norm = |name: String| TensorOut { name, dims: vec![s.hidden as u64], ty: GgmlType::F32, bytes: &ones };
    tensors.push(norm("output_norm.weight".into()));
    for l in 0..s.layers {
        tensors.push(norm(format!("blk.{l}.attn_norm.weight")));
        tensors.push(norm(format!("blk.{l}.ffn_norm.weight")));
    }
    write(path, &metadata, &tensors).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

impl Shape {
    /// Parameters N of the model FLOP count 4·N per trained token (tied embedding counted once).
    fn params(&self) -> usize {
        let (h, kv) = (self.hidden, self.hidden / self.heads * self.kv_heads);
        self.vocab * h + self.layers * (2 * h * h + 2 * h * kv + 3 * h * self.inter + 2 * h) + h
    }
}

fn tokens(n: usize, seed: usize, vocab: usize) -> Vec<u32> {
    (0..n).map(|i| ((i * 7919 + seed * 104729) % (vocab - 1)) as u32 + 1).collect()
}

struct Dev {
    prefix: usize,
    suffixes: Vec<usize>,
}

fn dev_lengths(path: Option<&str>) -> Dev {
    match path {
        Some(p) => {
            let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{p}: {e}"))).unwrap();
            let suffixes = v["suffixes"].as_array().expect("suffixes").iter().map(|x| x.as_u64().unwrap() as usize).collect();
            Dev { prefix: v["prefix"].as_u64().expect("prefix") as usize, suffixes }
        }
        None => Dev { prefix: 40, suffixes: (0..12).map(|i| 10 + i * 3).collect() },
    }
}

struct Bench<'a, B: TrainBackend> {
    model: &'a Model<B>,
    vocab: usize,
    sync: &'a dyn Fn(),
    memory: &'a dyn Fn() -> Option<usize>,
    peak: std::cell::Cell<usize>,
}

impl<B: TrainBackend> Bench<'_, B> {
    fn note_memory(&self) {
        if let Some(m) = (self.memory)() {
            self.peak.set(self.peak.get().max(m));
        }
    }

    /// Tokens/s of LoRA training steps on `batch` sequences of `len` tokens (median of 3 after a
    /// warm-up step; a step ends with its gradient norm read back, so the device has finished it).
    fn train(&self, batch: usize, len: usize) -> f64 {
        let adapter = Adapter::init_peft(&self.model.cfg, 16, 32.0, false, &Proj::ALL, 7);
        let mut params = self.model.lora_params(&adapter).unwrap();
        let mut opt = Optimizer::new(self.model, &params, AdamW::default());
        let seqs: Vec<Vec<u32>> = (0..batch).map(|b| tokens(len, b + 50, self.vocab)).collect();
        let targets: Vec<Vec<bool>> = seqs.iter().map(|s| (0..s.len()).map(|i| i >= s.len() / 2).collect()).collect();
        let batch_seqs: Vec<TrainSeq<'_>> = seqs.iter().zip(&targets).map(|(tokens, target)| TrainSeq { tokens, target }).collect();
        let mut times = Vec::new();
        for rep in 0..4 {
            let t = Instant::now();
            train_step(self.model, &mut params, &mut opt, std::slice::from_ref(&batch_seqs), 1e-4, Some(1.0)).unwrap();
            (self.sync)();
            self.note_memory();
            if rep > 0 {
                times.push(t.elapsed().as_secs_f64());
            }
        }
        times.sort_by(f64::total_cmp);
        (batch * len) as f64 / times[1]
    }

    /// Tokens/s of one prefill of `n` tokens (median of 3 after a warm-up).
    fn prefill(&self, n: usize) -> f64 {
        let ids = tokens(n, 1, self.vocab);
        let mut times = Vec::new();
        for rep in 0..4 {
            let mut cache = self.model.new_cache();
            let t = Instant::now();
            self.model.forward_greedy(&mut [(&ids[..], &mut cache)]).unwrap();
            (self.sync)();
            self.note_memory();
            if rep > 0 {
                times.push(t.elapsed().as_secs_f64());
            }
        }
        times.sort_by(f64::total_cmp);
        n as f64 / times[1]
    }

    /// Tokens/s of `steps` greedy decode steps of `batch` sequences after 128-token prompts.
    fn decode(&self, batch: usize, steps: usize) -> f64 {
        let prompts: Vec<Vec<u32>> = (0..batch).map(|b| tokens(128, b + 2, self.vocab)).collect();
        let mut caches: Vec<_> = (0..batch).map(|_| self.model.new_cache()).collect();
        let mut items: Vec<(&[u32], &mut _)> = prompts.iter().map(|p| &p[..]).zip(caches.iter_mut()).collect();
        let mut next = self.model.forward_greedy(&mut items).unwrap();
        let t = Instant::now();
        for _ in 0..steps {
            let step: Vec<[u32; 1]> = next.iter().map(|&t| [t]).collect();
            let mut items: Vec<(&[u32], &mut _)> = step.iter().map(|s| &s[..]).zip(caches.iter_mut()).collect();
            next = self.model.forward_greedy(&mut items).unwrap();
        }
        (self.sync)();
        self.note_memory();
        (batch * steps) as f64 / t.elapsed().as_secs_f64()
    }

    /// Seconds for the dev-shaped workload: the prefix once, then the questions in batches of 64,
    /// each prompt its own suffix behind the shared prefix, `new` greedy tokens each.
    fn dev(&self, d: &Dev, new: usize) -> f64 {
        let t = Instant::now();
        let prefix_ids = tokens(d.prefix, 9, self.vocab);
        let mut prefix = self.model.new_cache();
        self.model.forward(&mut [(&prefix_ids[..], &mut prefix)], Logits::None).unwrap();
        let prefix = Arc::new(prefix);
        for (chunk_i, chunk) in d.suffixes.chunks(64).enumerate() {
            let prompts: Vec<Vec<u32>> = chunk.iter().enumerate().map(|(i, &n)| tokens(n, 1000 + chunk_i * 64 + i, self.vocab)).collect();
            let mut caches: Vec<_> = chunk.iter().map(|_| self.model.cache_after(prefix.clone())).collect();
            let mut items: Vec<(&[u32], &mut _)> = prompts.iter().map(|p| &p[..]).zip(caches.iter_mut()).collect();
            let mut next = self.model.forward_greedy(&mut items).unwrap();
            for _ in 1..new {
                let step: Vec<[u32; 1]> = next.iter().map(|&t| [t]).collect();
                let mut items: Vec<(&[u32], &mut _)> = step.iter().map(|s| &s[..]).zip(caches.iter_mut()).collect();
                next = self.model.forward_greedy(&mut items).unwrap();
            }
            self.note_memory();
        }
        (self.sync)();
        t.elapsed().as_secs_f64()
    }
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn run<B: TrainBackend>(be: B, shape: &Shape, a: &[String], sync: &dyn Fn(), memory: &dyn Fn() -> Option<usize>) {
    let path = std::env::temp_dir().join(format!("sqlora-bench-{}-{}.gguf", shape.name, std::process::id()));
    write_model(shape, &path);
    let t = Instant::now();
    let model = Model::load(be, &ModelSource::open(&path).unwrap()).unwrap();
    let _ = std::fs::remove_file(&path);
    let load_s = t.elapsed().as_secs_f64();
    let b = Bench { model: &model, vocab: shape.vocab, sync, memory, peak: std::cell::Cell::new(0) };
    b.note_memory();
    let emit = |measure: &str, value: f64, unit: &str| {
        println!(
            "{}",
            serde_json::json!({"engine": "sqlora", "backend": model.backend_name(), "model": shape.name, "measure": measure, "value": value, "unit": unit})
        );
    };
    emit("load", load_s, "s");
    if a.iter().any(|x| x == "--train") {
        let batch: usize = arg(a, "--train-batch").map_or(8, |v| v.parse().unwrap());
        let len: usize = arg(a, "--train-len").map_or(512, |v| v.parse().unwrap());
        let rate = b.train(batch, len);
        emit(&format!("train LoRA r16 all 7, {batch} × {len}"), rate, "tokens/s");
        if let Some(peak) = arg(a, "--peak-tflops").map(|v| v.parse::<f64>().unwrap()) {
            emit("train MFU (4·N·tokens/s of the dense bf16 peak)", 100.0 * 4.0 * shape.params() as f64 * rate / (peak * 1e12), "%");
        }
        if b.peak.get() > 0 {
            emit("train GPU memory in use (peak of samples)", b.peak.get() as f64 / (1u64 << 20) as f64, "MiB");
        }
        return;
    }
    let prefill_n: usize = arg(a, "--prefill").map_or(512, |v| v.parse().unwrap());
    let steps: usize = arg(a, "--decode-steps").map_or(32, |v| v.parse().unwrap());
    emit(&format!("prefill {prefill_n}"), b.prefill(prefill_n), "tokens/s");
    for batch in [1, 64] {
        emit(&format!("decode batch {batch}"), b.decode(batch, steps), "tokens/s");
    }
    let dev = dev_lengths(arg(a, "--dev-lengths").as_deref());
    let new: usize = arg(a, "--new-tokens").map_or(48, |v| v.parse().unwrap());
    emit(&format!("dev-shaped: {} prompts, prefix {}, {new} new tokens", dev.suffixes.len(), dev.prefix), b.dev(&dev, new), "s");
    if b.peak.get() > 0 {
        emit("GPU memory in use (peak of samples)", b.peak.get() as f64 / (1u64 << 20) as f64, "MiB");
    }
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let device = arg(&a, "--device").unwrap_or_else(|| "cuda".into());
    let config = arg(&a, "--config").unwrap_or_else(|| "smollm2".into());
    let shape = SHAPES.iter().find(|s| s.name == config).unwrap_or_else(|| panic!("--config: smollm2, llama1b or tiny, not {config}"));
    match device.as_str() {
        "emulated" => run(GpuBackend::new(EmulatedGpu::default()), shape, &a, &|| {}, &|| None),
        #[cfg(feature = "cuda")]
        "cuda" => {
            let gpu = Arc::new(sqlora_gpu::CudaGpu::new(0).unwrap_or_else(|e| {
                eprintln!("{e}");
                std::process::exit(1)
            }));
            let (g1, g2) = (gpu.clone(), gpu.clone());
            run(GpuBackend::shared(gpu), shape, &a, &move || g1.synchronize().unwrap(), &move || g2.memory_in_use().ok())
        }
        other => {
            eprintln!("--device: cuda (built with --features cuda) or emulated, not {other}");
            std::process::exit(2)
        }
    }
}
