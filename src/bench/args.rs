//! `sqlora bench`'s arguments (the inference and the training measures share them).
use crate::cli_args::{DeviceArg, ModelArg};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelArg,
    #[command(flatten)]
    pub device: DeviceArg,
    /// Timed repetitions per measure (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub reps: usize,
    /// Prompt length for the prefill measure.
    #[arg(long, default_value_t = 512)]
    pub prefill_tokens: usize,
    /// Tokens decoded per sequence.
    #[arg(long, default_value_t = 128)]
    pub decode_tokens: usize,
    /// Sequences in the batched decode measure (each with a 128-token prompt).
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// A Python interpreter that has llama-cpp-python, torch, transformers and gguf: runs the peers.
    #[arg(long)]
    pub peers: Option<PathBuf>,
    /// A different interpreter for the llama.cpp peer (e.g. one whose llama-cpp-python was built for
    /// AVX2 only, to compare with `SQLORA_ISA=avx2` on an AVX-512 machine). Default: `--peers`.
    #[arg(long, requires = "peers")]
    pub llama_peer: Option<PathBuf>,
    /// Threads (default: all cores; 2 with --train).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Measure LoRA training instead: tokens/s of full training steps (loss, gradients, clipping,
    /// AdamW) of a batch of `--train-batch` sequences of `--train-len` tokens, LoRA rank `--rank` on
    /// all seven projections, the loss on the second half of each sequence; and the same step in
    /// PyTorch + peft (`--torch-peer`).
    #[arg(long)]
    pub train: bool,
    #[arg(long, default_value_t = 8)]
    pub train_batch: usize,
    #[arg(long, default_value_t = 256)]
    pub train_len: usize,
    #[arg(long, default_value_t = 16)]
    pub rank: usize,
    /// Timed training steps (after one untimed warm-up step; the median is reported).
    #[arg(long, default_value_t = 3)]
    pub train_steps: usize,
    /// The Python (torch, transformers, gguf, peft) of the PyTorch training peer. Default:
    /// /opt/peers/bin/python if it exists, else the peer is skipped.
    #[arg(long)]
    pub torch_peer: Option<PathBuf>,
    /// Kernel level instead: every backend op, forward and backward, at the model's shapes (prefill
    /// of 512 rows; 16 decoding sequences; an 8 × 256 training
    /// micro-batch at --rank), checked against its f64 reference, then timed against the machine's
    /// measured peaks (f32 FMA, 8-bit dot, bf16 dot, memory bandwidth). With --train / --decode also
    /// where a training / decode step's time goes, per op. Writes OUT_DIR/kernels.parquet.
    #[arg(long)]
    pub kernels: bool,
    /// With --kernels: the ISA level to run the kernels at, or `all` for every level this CPU has
    /// (default: the current level, SQLORA_ISA or the best).
    #[arg(long, requires = "kernels")]
    pub isa: Option<String>,
    /// With --kernels: also profile a batched decode step per op.
    #[arg(long, requires = "kernels")]
    pub decode: bool,
    /// With --kernels: tiny row counts and short probes (a smoke run of every op and path, seconds).
    #[arg(long, requires = "kernels")]
    pub tiny: bool,
    /// With --kernels: the name of this bench run in kernels.parquet (default: the CPU and the time);
    /// a rerun with the same label replaces its rows.
    #[arg(long, requires = "kernels")]
    pub label: Option<String>,
    /// With --kernels: also the frozen-weight products in every encoding the engine reads (F32, F16,
    /// BF16, Q4_0, Q4_1, Q8_0, Q4_K, Q5_K, Q6_K), not only the model file's.
    #[arg(long, requires = "kernels")]
    pub all_encodings: bool,
    /// With --kernels: only the ops whose name contains this (`matmul`, `attention`, `_bwd`).
    #[arg(long, requires = "kernels")]
    pub op: Option<String>,
    /// With --kernels: where kernels.parquet goes.
    #[arg(long, default_value = "results")]
    pub out_dir: PathBuf,
}
