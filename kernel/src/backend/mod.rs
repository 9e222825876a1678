//! The backend traits: every op the model needs, over buffers the backend owns. `Model<B>` is written
//! once against them; the CPU backend lives in `cpu/`, a GPU one implements the same traits.
//!
//! - [`Backend`]: memory and the inference ops (what generation, evaluation and MMLU need): a backend
//!   can ship these first.
//! - [`TrainBackend`] (in `train.rs`): the training ops, each backward named after its forward
//!   (`rmsnorm` / `rmsnorm_bwd`, `lora` / `lora_bwd`, …).
//! - `instrumented`: any backend with every op handed to an observer (counting, timing).
//!
//! Shapes are passed explicitly and buffers are flat row-major f32: a matrix of `m` rows of `n` columns
//! is `m * n` values. `crate::reference` holds the plain f64 version of every op, which every backend
//! is tested against (kernel/tests/).
pub mod instrumented;
mod train;

pub use train::{AdamWStep, AttnSaved, LoraGradMut, Qkv, QkvMut, TrainBackend};

use crate::config::RopeStyle;
use crate::formats::quant::GgmlType;
use crate::Result;

/// A weight matrix as loaded from disk: `rows` output features of `cols` input features, encoded as
/// `ty` (row-major, rows of whole blocks).
pub struct HostMatrix<'a> {
    pub name: String,
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub bytes: &'a [u8],
}

impl HostMatrix<'_> {
    /// Errs unless the bytes hold exactly `rows` rows of whole blocks of `cols` values: what every
    /// backend checks before reading a matrix it was handed.
    pub fn check_size(&self) -> Result<()> {
        if self.bytes.len() != self.ty.row_bytes(self.cols) * self.rows || !self.cols.is_multiple_of(self.ty.block_size()) {
            return Err(crate::Error::BadInput(format!(
                "tensor {}: {} bytes do not hold {}×{} values of {}",
                self.name,
                self.bytes.len(),
                self.rows,
                self.cols,
                self.ty.name()
            )));
        }
        Ok(())
    }
}

/// One sequence's part of a batched attention call.
pub struct AttnSeq<'a, T> {
    /// First row of this sequence's new tokens in the batched q / output buffers.
    pub row0: usize,
    /// Number of new tokens (rows) of this sequence in this call.
    pub n_new: usize,
    /// Key/value segments in position order, each `(k, v, len)` with `len` rows of `n_kv_heads *
    /// head_dim`; the last segment already holds the new tokens' keys and values at its end. A shared
    /// prefix cache is simply the first segment.
    pub segments: Vec<(&'a T, &'a T, usize)>,
}

/// How a backend multiplies activations with quantized weights.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Numerics {
    /// f32 activations times the exactly dequantized weights (the reference path).
    #[default]
    Exact,
    /// Activations quantized to 8 bits per block of 32, integer products, as llama.cpp computes;
    /// approximate and faster (the CPU's `int8.rs`).
    Int8,
}

/// The heads of causal grouped-query attention.
#[derive(Debug, Clone, Copy)]
pub struct AttnShape {
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
}

/// `m` rows of `n` values each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rows {
    pub m: usize,
    pub n: usize,
}

/// RMSNorm over rows of `rows.n`: out = x / sqrt(mean(x²) + eps) · w.
#[derive(Debug, Clone, Copy)]
pub struct NormShape {
    pub rows: Rows,
    pub eps: f32,
}

/// RoPE over `m` rows of `n_heads` heads of `head_dim` (the positions are given per row).
#[derive(Debug, Clone, Copy)]
pub struct RopeShape {
    pub m: usize,
    pub n_heads: usize,
    pub head_dim: usize,
    pub theta: f32,
    pub style: RopeStyle,
}

/// The shape of one LoRA term: rank, input and output features, and the scale s (α/r, or α/√r).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoraShape {
    pub r: usize,
    pub din: usize,
    pub dout: usize,
    pub scale: f32,
}

/// One LoRA term on a backend: A (r × din), B (dout × r), unscaled (the op applies the scale).
pub struct LoraRef<'a, T: ?Sized> {
    pub a: &'a T,
    pub b: &'a T,
    pub shape: LoraShape,
}

pub trait Backend: Send + Sync {
    /// An activation or cache buffer of f32.
    type Tensor: Send + Sync;
    /// A weight matrix in the backend's preferred encoding.
    type Matrix: Send + Sync;

    fn name(&self) -> String;
    /// Runs a whole forward pass (many small ops) where the backend's ops run cheapest: the CPU backend
    /// moves it onto a worker thread once, instead of handing every op over from the calling thread.
    fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        f()
    }

    // Memory.

    fn zeros(&self, n: usize) -> Self::Tensor;
    /// Host → backend. The model calls it at load time and for a step's inputs only.
    fn upload(&self, data: &[f32]) -> Self::Tensor;
    /// Backend → host.
    fn download(&self, t: &Self::Tensor) -> Vec<f32>;
    fn len(&self, t: &Self::Tensor) -> usize;
    /// Grows (never shrinks) a tensor to at least `n` values, keeping its contents.
    fn ensure_len(&self, t: &mut Self::Tensor, n: usize);
    fn matrix(&self, w: &HostMatrix) -> Result<Self::Matrix>;

    // Data movement.

    /// dst[..n] = src[..n].
    fn copy(&self, src: &Self::Tensor, dst: &mut Self::Tensor, n: usize);
    /// Copies `rows.m` rows of `rows.n` values from src (from row `src_row`) into dst (at row `dst_row`).
    fn copy_rows(&self, src: &Self::Tensor, src_row: usize, dst: &mut Self::Tensor, dst_row: usize, rows: Rows);
    /// out row i = x row `rows[i]` (row length `n`).
    fn gather_rows(&self, x: &Self::Tensor, rows: &[usize], n: usize, out: &mut Self::Tensor);

    // Inference ops.

    /// out[m × rows] = x[m × cols] · Wᵀ.
    fn matmul(&self, x: &Self::Tensor, m: usize, w: &Self::Matrix, out: &mut Self::Tensor);
    /// The LoRA term: xa[m × r] = x·Aᵀ (the backward's input) and y[m × dout] += s·xa·Bᵀ.
    fn lora(&self, x: &Self::Tensor, m: usize, l: LoraRef<'_, Self::Tensor>, xa: &mut Self::Tensor, y: &mut Self::Tensor);
    /// out[i] = row `ids[i]` of the embedding table `table`, dequantized.
    fn embed(&self, table: &Self::Matrix, ids: &[u32], out: &mut Self::Tensor);
    /// x[m × n] += bias[n] for each row.
    fn add_bias(&self, x: &mut Self::Tensor, m: usize, bias: &Self::Tensor);
    /// x += y, elementwise over the first `n` values.
    fn add(&self, x: &mut Self::Tensor, y: &Self::Tensor, n: usize);
    /// out = x / rms(x) · w per row.
    fn rmsnorm(&self, x: &Self::Tensor, w: &Self::Tensor, s: NormShape, out: &mut Self::Tensor);
    /// Rotates each head of each row by its position.
    fn rope(&self, x: &mut Self::Tensor, positions: &[u32], s: RopeShape);
    /// out = silu(gate) · up over `n` values.
    fn swiglu(&self, gate: &Self::Tensor, up: &Self::Tensor, n: usize, out: &mut Self::Tensor);
    /// Causal grouped-query attention over KV-cache segments: the new token j of a sequence with `past`
    /// earlier positions sees every key at position ≤ past + j. q and out are `[rows × n_heads·head_dim]`.
    fn attention(&self, q: &Self::Tensor, seqs: &[AttnSeq<'_, Self::Tensor>], shape: AttnShape, out: &mut Self::Tensor);
    /// Greedy decoding's choice for each of `rows.m` rows of `rows.n` logits (`generate::argmax`'s
    /// rule). A GPU computes it where the logits are and moves `m` indices instead of `m × n` values.
    fn argmax_rows(&self, x: &Self::Tensor, rows: Rows) -> Vec<u32> {
        let v = self.download(x);
        v.chunks_exact(rows.n).take(rows.m).map(crate::generate::argmax).collect()
    }
}
