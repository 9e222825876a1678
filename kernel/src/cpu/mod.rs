//! The CPU backend: kernels written once over a small SIMD layer (`simd/`) and compiled for AVX-512,
//! AVX2 (+AVX-VNNI), NEON (+dotprod) and portable code; the best the processor has is chosen at run
//! time (`isa.rs`, capped by `SQLORA_ISA`). Work is split over all cores with rayon.
mod gemm;
pub mod int8;
pub mod isa;
pub mod matrix;
pub mod ops;
pub mod panel;
pub mod simd;
pub mod vector;

use crate::backend::{
    AdamWStep, AttnSaved, AttnSeq, AttnShape, Backend, HostMatrix, LoraGradMut, LoraRef, NormShape, Qkv, QkvMut, RopeShape, Rows,
    TrainBackend,
};
use crate::Result;
pub use matrix::CpuMatrix;

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

pub use crate::backend::Numerics;

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
    fn copy(&self, src: &Vec<f32>, dst: &mut Vec<f32>, n: usize) {
        ops::rows::copy(src, dst, n)
    }
    fn copy_rows(&self, src: &Vec<f32>, src_row: usize, dst: &mut Vec<f32>, dst_row: usize, rows: Rows) {
        ops::rows::copy_rows(src, src_row, dst, dst_row, rows)
    }
    fn gather_rows(&self, x: &Vec<f32>, rows: &[usize], n: usize, out: &mut Vec<f32>) {
        ops::rows::gather_rows(x, rows, n, out)
    }
    fn matmul(&self, x: &Vec<f32>, m: usize, w: &CpuMatrix, out: &mut Vec<f32>) {
        ops::matmul::matmul(x, m, w, self.numerics, out)
    }
    fn lora(&self, x: &Vec<f32>, m: usize, l: LoraRef<'_, Vec<f32>>, xa: &mut Vec<f32>, y: &mut Vec<f32>) {
        ops::lora::lora(x, m, slices(l), xa, y)
    }
    fn embed(&self, table: &CpuMatrix, ids: &[u32], out: &mut Vec<f32>) {
        ops::embed::embed(table, ids, out)
    }
    fn add_bias(&self, x: &mut Vec<f32>, m: usize, bias: &Vec<f32>) {
        ops::add::add_bias(x, m, bias)
    }
    fn add(&self, x: &mut Vec<f32>, y: &Vec<f32>, n: usize) {
        ops::add::add(x, y, n)
    }
    fn rmsnorm(&self, x: &Vec<f32>, w: &Vec<f32>, s: NormShape, out: &mut Vec<f32>) {
        ops::rmsnorm::rmsnorm(x, w, s, out)
    }
    fn rope(&self, x: &mut Vec<f32>, positions: &[u32], s: RopeShape) {
        ops::rope::rope(x, positions, s)
    }
    fn swiglu(&self, gate: &Vec<f32>, up: &Vec<f32>, n: usize, out: &mut Vec<f32>) {
        ops::swiglu::swiglu(gate, up, n, out)
    }
    fn attention(&self, q: &Vec<f32>, seqs: &[AttnSeq<'_, Vec<f32>>], shape: AttnShape, out: &mut Vec<f32>) {
        ops::attention::attention(q, seqs, shape, out)
    }
}

/// A LoRA term's tensors as the slices the CPU ops take.
fn slices<'a>(l: LoraRef<'a, Vec<f32>>) -> LoraRef<'a, [f32]> {
    LoraRef { a: l.a, b: l.b, shape: l.shape }
}

impl TrainBackend for CpuBackend {
    fn scatter_rows(&self, x: &Vec<f32>, rows: &[usize], n: usize, out: &mut Vec<f32>) {
        ops::rows::scatter_rows(x, rows, n, out)
    }
    fn dropout(&self, x: &Vec<f32>, n: usize, p: f32, seed: u64, out: &mut Vec<f32>) {
        ops::dropout::dropout(&x[..n], p, seed, &mut out[..n]);
    }
    fn rmsnorm_bwd(&self, dy: &Vec<f32>, x: &Vec<f32>, w: &Vec<f32>, s: NormShape, dx: &mut Vec<f32>, dw: Option<&mut Vec<f32>>) {
        ops::rmsnorm::rmsnorm_bwd(dy, x, w, s, dx, dw.map(|d| d.as_mut_slice()))
    }
    fn rope_bwd(&self, d: &mut Vec<f32>, positions: &[u32], s: RopeShape) {
        ops::rope::rope_bwd(d, positions, s)
    }
    fn swiglu_bwd(&self, dy: &Vec<f32>, gate: &Vec<f32>, up: &Vec<f32>, n: usize, dgate: &mut Vec<f32>, dup: &mut Vec<f32>) {
        ops::swiglu::swiglu_bwd(dy, gate, up, n, dgate, dup)
    }
    fn matmul_bwd(&self, dy: &Vec<f32>, m: usize, w: &CpuMatrix, dx: &mut Vec<f32>, accumulate: bool) {
        ops::matmul::matmul_bwd(dy, m, w, self.numerics, dx, accumulate)
    }
    fn lora_bwd(&self, dy: &Vec<f32>, x: &Vec<f32>, xa: &Vec<f32>, m: usize, l: LoraRef<'_, Vec<f32>>, g: LoraGradMut<'_, Vec<f32>>) {
        ops::lora::lora_bwd(dy, x, xa, m, slices(l), LoraGradMut { a: g.a, b: g.b, x: g.x })
    }
    fn attention_packed(&self, qkv: Qkv<'_, Vec<f32>>, seqs: &[(usize, usize)], shape: AttnShape, out: &mut Vec<f32>, lse: &mut Vec<f32>) {
        ops::attention_packed::attention_packed(Qkv { q: qkv.q, k: qkv.k, v: qkv.v }, seqs, shape, out, lse)
    }
    fn attention_packed_bwd(
        &self,
        dout: &Vec<f32>,
        qkv: Qkv<'_, Vec<f32>>,
        saved: AttnSaved<'_, Vec<f32>>,
        seqs: &[(usize, usize)],
        shape: AttnShape,
        g: QkvMut<'_, Vec<f32>>,
    ) {
        let qkv: Qkv<'_, [f32]> = Qkv { q: qkv.q, k: qkv.k, v: qkv.v };
        let saved: AttnSaved<'_, [f32]> = AttnSaved { out: saved.out, lse: saved.lse };
        ops::attention_packed::attention_packed_bwd(dout, qkv, saved, seqs, shape, QkvMut { q: g.q, k: g.k, v: g.v })
    }
    fn cross_entropy(&self, hidden: &Vec<f32>, targets: &[u32], weights: &[f32], head: &CpuMatrix, dhidden: &mut Vec<f32>) -> f64 {
        ops::cross_entropy::cross_entropy(hidden, targets, weights, head, self.numerics, dhidden)
    }
    fn sum_squares(&self, x: &Vec<f32>, n: usize) -> f64 {
        ops::adamw::sum_squares(&x[..n])
    }
    fn adamw(&self, p: &mut Vec<f32>, g: &Vec<f32>, m: &mut Vec<f32>, v: &mut Vec<f32>, n: usize, step: AdamWStep) {
        ops::adamw::adamw(&mut p[..n], &g[..n], &mut m[..n], &mut v[..n], step)
    }
}
