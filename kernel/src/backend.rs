//! The Backend trait: every op the model needs, over buffers the backend owns. `Model<B>` is written
//! once against it; the CPU backend lives in `cpu/`, a CUDA one can implement the same trait.
//!
//! Shapes are passed explicitly and buffers are flat row-major f32: a matrix of `m` rows of `n` columns
//! is `m * n` values. Each backward op (`*_bwd`) sits beside its forward; `crate::reference` holds the
//! plain f64 versions every implementation is tested against.
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

/// How RoPE pairs the dimensions of a head: GGUF llama files store q/k permuted so that adjacent
/// dimensions (2i, 2i+1) rotate together; Hugging Face checkpoints and GGUF qwen2 rotate (i, i + d/2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeStyle {
    Interleaved,
    Half,
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

#[derive(Debug, Clone, Copy)]
pub struct AttnShape {
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
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
    fn zeros(&self, n: usize) -> Self::Tensor;
    fn upload(&self, data: &[f32]) -> Self::Tensor;
    fn download(&self, t: &Self::Tensor) -> Vec<f32>;
    fn len(&self, t: &Self::Tensor) -> usize;
    /// Grows (never shrinks) a tensor to at least `n` values, keeping its contents.
    fn ensure_len(&self, t: &mut Self::Tensor, n: usize);

    fn matrix(&self, w: &HostMatrix) -> Result<Self::Matrix>;

    /// out[m × rows] = x[m × cols] · Wᵀ.
    fn matmul(&self, x: &Self::Tensor, m: usize, w: &Self::Matrix, out: &mut Self::Tensor);
    /// out[i] = row `ids[i]` of the embedding table `table`, dequantized.
    fn embed(&self, table: &Self::Matrix, ids: &[u32], out: &mut Self::Tensor);
    /// x[m × n] += bias[n] for each row.
    fn add_bias(&self, x: &mut Self::Tensor, m: usize, bias: &Self::Tensor);
    /// x += y, elementwise over the first `n` values.
    fn add(&self, x: &mut Self::Tensor, y: &Self::Tensor, n: usize);
    /// Inverted dropout over the first `n` values: out[i] = x[i] / (1 − p) where `dropout_keeps(seed, i, p)`,
    /// else 0. The mask is a function of (seed, i) alone, so the backward (the same op on the gradient)
    /// regenerates it instead of storing it.
    fn dropout(&self, x: &Self::Tensor, n: usize, p: f32, seed: u64, out: &mut Self::Tensor);
    /// out = x / rms(x) * w per row of `n`.
    fn rmsnorm(&self, x: &Self::Tensor, w: &Self::Tensor, m: usize, n: usize, eps: f32, out: &mut Self::Tensor);
    /// Rotates each head of each row by its position.
    #[allow(clippy::too_many_arguments)]
    fn rope(&self, x: &mut Self::Tensor, m: usize, n_heads: usize, head_dim: usize, positions: &[u32], theta: f32, style: RopeStyle);
    /// out = silu(gate) * up over `n` values.
    fn swiglu(&self, gate: &Self::Tensor, up: &Self::Tensor, n: usize, out: &mut Self::Tensor);
    /// Copies `n_rows` rows of `row_len` from src (from `src_row`) into dst (at `dst_row`).
    fn copy_rows(&self, src: &Self::Tensor, src_row: usize, dst: &mut Self::Tensor, dst_row: usize, n_rows: usize, row_len: usize);
    /// Selects rows of `x` (row length `n`) into `out` in the given order.
    fn gather_rows(&self, x: &Self::Tensor, rows: &[usize], n: usize, out: &mut Self::Tensor);
    /// Causal grouped-query attention: the new token j of a sequence with `past` earlier positions sees
    /// every key at position ≤ past + j. q and out are `[rows × n_heads·head_dim]`.
    fn attention(&self, q: &Self::Tensor, seqs: &[AttnSeq<'_, Self::Tensor>], shape: AttnShape, out: &mut Self::Tensor);

    // Training: the backward ops, and the forwards that save what their backward needs.

    /// dx[m × n] of out = rmsnorm(x)·w given dy; with `dw`, also dw[n] += the weight's gradient.
    #[allow(clippy::too_many_arguments)]
    fn rmsnorm_bwd(&self, dy: &Self::Tensor, x: &Self::Tensor, w: &Self::Tensor, m: usize, n: usize, eps: f32, dx: &mut Self::Tensor, dw: Option<&mut Self::Tensor>);
    /// In place, dy becomes dx: the inverse rotation of `rope`.
    #[allow(clippy::too_many_arguments)]
    fn rope_bwd(&self, d: &mut Self::Tensor, m: usize, n_heads: usize, head_dim: usize, positions: &[u32], theta: f32, style: RopeStyle);
    /// d gate and d up of out = silu(gate)·up over `n` values.
    fn swiglu_bwd(&self, dy: &Self::Tensor, gate: &Self::Tensor, up: &Self::Tensor, n: usize, dgate: &mut Self::Tensor, dup: &mut Self::Tensor);
    /// dx[m × cols] = dy[m × rows]·W through a frozen weight (`accumulate`: dx += instead).
    fn matmul_bwd(&self, dy: &Self::Tensor, m: usize, w: &Self::Matrix, dx: &mut Self::Tensor, accumulate: bool);
    /// The LoRA term for A (r × din) and B (dout × r): h[m × r] = x·Aᵀ (saved) and y[m × dout] += s·h·Bᵀ.
    #[allow(clippy::too_many_arguments)]
    fn lora_fwd(&self, x: &Self::Tensor, m: usize, a: &Self::Tensor, b: &Self::Tensor, lora: LoraShape, h: &mut Self::Tensor, y: &mut Self::Tensor);
    /// From dy and the saved h: dA += its gradient, dB += its gradient, dx += the term's share.
    #[allow(clippy::too_many_arguments)]
    fn lora_bwd(&self, dy: &Self::Tensor, x: &Self::Tensor, h: &Self::Tensor, m: usize, a: &Self::Tensor, b: &Self::Tensor, lora: LoraShape, da: &mut Self::Tensor, db: &mut Self::Tensor, dx: &mut Self::Tensor);
    /// Causal grouped-query attention over the sequences `(row0, len)` of a packed batch (q, out
    /// `[rows × n_heads·head_dim]`, k, v `[rows × n_kv_heads·head_dim]`), saving lse `[rows × n_heads]`,
    /// the log-sum-exp of each row's softmax (its max and sum), for `attention_bwd`.
    #[allow(clippy::too_many_arguments)]
    fn attention_train(&self, q: &Self::Tensor, k: &Self::Tensor, v: &Self::Tensor, seqs: &[(usize, usize)], shape: AttnShape, out: &mut Self::Tensor, lse: &mut Self::Tensor);
    /// dq, dk, dv (overwritten) of `attention_train` given dout; P is recomputed from lse.
    #[allow(clippy::too_many_arguments)]
    fn attention_bwd(&self, dout: &Self::Tensor, q: &Self::Tensor, k: &Self::Tensor, v: &Self::Tensor, out: &Self::Tensor, lse: &Self::Tensor, seqs: &[(usize, usize)], shape: AttnShape, dq: &mut Self::Tensor, dk: &mut Self::Tensor, dv: &mut Self::Tensor);
    /// Cross-entropy fused with the output head over the rows that carry a loss (hidden `[r × n]`,
    /// final-normed): returns Σ weight_i·(−log softmax(hidden_i·Wᵀ)[target_i]) and writes dhidden
    /// `[r × n]`, going over the vocabulary in chunks (no `r × vocab` logits tensor).
    fn cross_entropy_fwd_bwd(&self, hidden: &Self::Tensor, targets: &[u32], weights: &[f32], head: &Self::Matrix, dhidden: &mut Self::Tensor) -> f64;
    /// Σ x² over the first `n` values (gradient norms).
    fn sum_squares(&self, x: &Self::Tensor, n: usize) -> f64;
    /// One AdamW step over `n` parameters `p` with gradient `g` (times `h.grad_scale`) and moments
    /// `m`, `v`, as `torch.optim.AdamW` computes it.
    fn adamw_step(&self, p: &mut Self::Tensor, g: &Self::Tensor, m: &mut Self::Tensor, v: &mut Self::Tensor, n: usize, h: AdamWStep);
}

/// The settings of one AdamW step: decoupled weight decay p −= lr·wd·p, then the bias-corrected Adam
/// update with step count `t` (1 for the first step); the gradient is multiplied by `grad_scale`
/// first (clipping, averaging accumulated micro-batches). The settings are f64, as PyTorch's Python
/// floats: the step's constants (1 − β2 among them, which 0.999 in f32 would get 1e-5 wrong) are
/// computed in f64 and rounded once.
#[derive(Debug, Clone, Copy)]
pub struct AdamWStep {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub t: u32,
    pub grad_scale: f64,
}

/// The shape of one LoRA term: rank, input and output features, and the scale s (α/r, or α/√r).
#[derive(Debug, Clone, Copy)]
pub struct LoraShape {
    pub r: usize,
    pub din: usize,
    pub dout: usize,
    pub scale: f32,
}

/// Whether element `i` survives dropout with probability `p` of being dropped: a counter-based draw
/// (splitmix64 of seed and index), so every backend and the backward give the same mask.
pub fn dropout_keeps(seed: u64, i: u64, p: f32) -> bool {
    let z = crate::lora::splitmix64_mix(seed ^ i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    crate::lora::unit_f32(z) >= p
}
