//! The CPU backend: kernels written once over a small SIMD layer (`simd/`) and compiled for AVX-512,
//! AVX2 (+AVX-VNNI), NEON (+dotprod) and portable code; the best the processor has is chosen at run
//! time (`isa.rs`, capped by `SQLORA_ISA`). Work is split over all cores with rayon.
pub mod backward;
pub mod int8;
pub mod isa;
pub mod matrix;
pub mod ops;
pub mod panel;
pub mod simd;
pub mod vector;

use crate::backend::{AdamWStep, AttnSeq, AttnShape, Backend, HostMatrix, LoraShape, RopeStyle};
use crate::Result;
pub use matrix::CpuMatrix;
use rayon::prelude::*;

/// Tunes glibc's allocator for training (call once, before the thread pool starts): one arena, every
/// buffer up to 32 MB from the heap, freed memory kept. A training step allocates and frees the same
/// ~1.5 GB of activations each time; by default the large buffers are mmap'ed, so every step faults
/// each page in again and the kernel zeroes it (`clear_page_erms` took 10–30 % of a SmolLM2 step's
/// CPU samples), and the threads' separate arenas kept stale copies (peak RSS 1.74 GB after one step,
/// up to 3.2 GB after two). A no-op elsewhere.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        const M_TRIM_THRESHOLD: i32 = -1;
        const M_MMAP_THRESHOLD: i32 = -3;
        const M_ARENA_MAX: i32 = -8;
        // SAFETY: mallopt only changes allocator settings; 32 MB is glibc's largest mmap threshold.
        unsafe {
            mallopt(M_ARENA_MAX, 1);
            mallopt(M_MMAP_THRESHOLD, 32 << 20);
            mallopt(M_TRIM_THRESHOLD, i32::MAX);
        }
    }
}

/// A raw pointer that tasks may share because each writes a disjoint part of the buffer.
pub(crate) struct SyncPtr(pub *mut f32);
unsafe impl Sync for SyncPtr {}
unsafe impl Send for SyncPtr {}

/// How the CPU backend multiplies quantized weights.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Numerics {
    /// f32 activations times the exactly dequantized weights (the reference path).
    #[default]
    Exact,
    /// Activations quantized to 8 bits per block of 32, integer products (VNNI, AVX2 `vpmaddubsw`, NEON
    /// `sdot`), as llama.cpp computes; approximate and faster (see `int8.rs`).
    Int8,
}

#[derive(Default, Clone, Copy)]
pub struct CpuBackend {
    pub numerics: Numerics,
}

impl CpuBackend {
    pub fn new(numerics: Numerics) -> Self {
        CpuBackend { numerics }
    }
}

impl Backend for CpuBackend {
    type Tensor = Vec<f32>;
    type Matrix = CpuMatrix;

    fn name(&self) -> String {
        let numerics = match self.numerics {
            Numerics::Exact => "exact f32",
            Numerics::Int8 => "8-bit activations",
        };
        let isa = isa::current();
        format!("cpu ({} threads, ISA {isa}: {}, {numerics})", rayon::current_num_threads(), isa.describe())
    }
    fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        // From a thread outside the pool every parallel op is injected into it and waited for (a
        // wake-up and a sleep per op, hundreds per token); inside a worker, nested ops are forked and
        // joined by work stealing.
        rayon::scope(|_| f())
    }
    fn zeros(&self, n: usize) -> Vec<f32> {
        vec![0.0; n]
    }
    fn upload(&self, data: &[f32]) -> Vec<f32> {
        data.to_vec()
    }
    fn download(&self, t: &Vec<f32>) -> Vec<f32> {
        t.clone()
    }
    fn len(&self, t: &Vec<f32>) -> usize {
        t.len()
    }
    fn ensure_len(&self, t: &mut Vec<f32>, n: usize) {
        if t.len() < n {
            // Grow the capacity geometrically, and only when it is exhausted, so a KV cache appended
            // token by token is not copied every step.
            if t.capacity() < n {
                let cap = n.max(t.capacity() * 3 / 2);
                t.reserve_exact(cap - t.len());
            }
            t.resize(n, 0.0);
        }
    }
    fn matrix(&self, w: &HostMatrix) -> Result<CpuMatrix> {
        CpuMatrix::from_host(w)
    }
    fn matmul(&self, x: &Vec<f32>, m: usize, w: &CpuMatrix, out: &mut Vec<f32>) {
        match w {
            CpuMatrix::Quant(p) if self.numerics == Numerics::Int8 => p.matmul_int8(x, m, out),
            _ => w.matmul(x, m, out),
        }
    }
    fn embed(&self, table: &CpuMatrix, ids: &[u32], out: &mut Vec<f32>) {
        let n = table.cols();
        out[..ids.len() * n].par_chunks_mut(n).zip(ids).for_each(|(o, &id)| table.dequant_row(id as usize, o));
    }
    fn add_bias(&self, x: &mut Vec<f32>, m: usize, bias: &Vec<f32>) {
        let n = bias.len();
        for r in x[..m * n].chunks_exact_mut(n) {
            for (a, b) in r.iter_mut().zip(bias) {
                *a += b;
            }
        }
    }
    fn dropout(&self, x: &Vec<f32>, n: usize, p: f32, seed: u64, out: &mut Vec<f32>) {
        ops::dropout(&x[..n], p, seed, &mut out[..n]);
    }
    fn add(&self, x: &mut Vec<f32>, y: &Vec<f32>, n: usize) {
        for (a, b) in x[..n].iter_mut().zip(&y[..n]) {
            *a += b;
        }
    }
    fn rmsnorm(&self, x: &Vec<f32>, w: &Vec<f32>, m: usize, n: usize, eps: f32, out: &mut Vec<f32>) {
        ops::rmsnorm(x, w, m, n, eps, out)
    }
    fn rope(&self, x: &mut Vec<f32>, m: usize, n_heads: usize, head_dim: usize, positions: &[u32], theta: f32, style: RopeStyle) {
        ops::rope(x, m, n_heads, head_dim, positions, theta, style)
    }
    fn swiglu(&self, gate: &Vec<f32>, up: &Vec<f32>, n: usize, out: &mut Vec<f32>) {
        ops::swiglu(gate, up, n, out)
    }
    fn copy_rows(&self, src: &Vec<f32>, src_row: usize, dst: &mut Vec<f32>, dst_row: usize, n_rows: usize, row_len: usize) {
        dst[dst_row * row_len..(dst_row + n_rows) * row_len]
            .copy_from_slice(&src[src_row * row_len..(src_row + n_rows) * row_len]);
    }
    fn gather_rows(&self, x: &Vec<f32>, rows: &[usize], n: usize, out: &mut Vec<f32>) {
        for (i, &r) in rows.iter().enumerate() {
            out[i * n..(i + 1) * n].copy_from_slice(&x[r * n..(r + 1) * n]);
        }
    }
    fn attention(&self, q: &Vec<f32>, seqs: &[AttnSeq<'_, Vec<f32>>], shape: AttnShape, out: &mut Vec<f32>) {
        ops::attention(q, seqs, shape, out)
    }
    fn rmsnorm_bwd(&self, dy: &Vec<f32>, x: &Vec<f32>, w: &Vec<f32>, m: usize, n: usize, eps: f32, dx: &mut Vec<f32>, dw: Option<&mut Vec<f32>>) {
        backward::rmsnorm_bwd(dy, x, w, m, n, eps, dx, dw.map(|d| d.as_mut_slice()))
    }
    fn rope_bwd(&self, d: &mut Vec<f32>, m: usize, n_heads: usize, head_dim: usize, positions: &[u32], theta: f32, style: RopeStyle) {
        backward::rope_bwd(d, m, n_heads, head_dim, positions, theta, style)
    }
    fn swiglu_bwd(&self, dy: &Vec<f32>, gate: &Vec<f32>, up: &Vec<f32>, n: usize, dgate: &mut Vec<f32>, dup: &mut Vec<f32>) {
        backward::swiglu_bwd(dy, gate, up, n, dgate, dup)
    }
    fn matmul_bwd(&self, dy: &Vec<f32>, m: usize, w: &CpuMatrix, dx: &mut Vec<f32>, accumulate: bool) {
        backward::matmul_bwd(dy, m, w, dx, accumulate)
    }
    fn lora_fwd(&self, x: &Vec<f32>, m: usize, a: &Vec<f32>, b: &Vec<f32>, l: LoraShape, h: &mut Vec<f32>, y: &mut Vec<f32>) {
        backward::lora_fwd(x, m, a, b, l.r, l.din, l.dout, l.scale, h, y)
    }
    fn lora_bwd(&self, dy: &Vec<f32>, x: &Vec<f32>, h: &Vec<f32>, m: usize, a: &Vec<f32>, b: &Vec<f32>, l: LoraShape, da: &mut Vec<f32>, db: &mut Vec<f32>, dx: &mut Vec<f32>) {
        backward::lora_bwd(dy, x, h, m, a, b, l.r, l.din, l.dout, l.scale, da, db, dx)
    }
    fn attention_train(&self, q: &Vec<f32>, k: &Vec<f32>, v: &Vec<f32>, seqs: &[(usize, usize)], shape: AttnShape, out: &mut Vec<f32>, lse: &mut Vec<f32>) {
        backward::attention_train(q, k, v, seqs, shape, out, lse)
    }
    fn attention_bwd(&self, dout: &Vec<f32>, q: &Vec<f32>, k: &Vec<f32>, v: &Vec<f32>, out: &Vec<f32>, lse: &Vec<f32>, seqs: &[(usize, usize)], shape: AttnShape, dq: &mut Vec<f32>, dk: &mut Vec<f32>, dv: &mut Vec<f32>) {
        backward::attention_bwd(dout, q, k, v, out, lse, seqs, shape, dq, dk, dv)
    }
    fn cross_entropy_fwd_bwd(&self, hidden: &Vec<f32>, targets: &[u32], weights: &[f32], head: &CpuMatrix, dhidden: &mut Vec<f32>) -> f64 {
        backward::cross_entropy(hidden, targets, weights, head, dhidden)
    }
    fn sum_squares(&self, x: &Vec<f32>, n: usize) -> f64 {
        backward::sum_squares(&x[..n])
    }
    fn adamw_step(&self, p: &mut Vec<f32>, g: &Vec<f32>, m: &mut Vec<f32>, v: &mut Vec<f32>, n: usize, h: AdamWStep) {
        backward::adamw_step(&mut p[..n], &g[..n], &mut m[..n], &mut v[..n], h)
    }
}
