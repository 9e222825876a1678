//! The training half of a backend: the backward of each inference op the model trains through, the
//! training forwards that save what their backward needs, and the optimizer. A training step calls
//! only these and the inference ops: it stays on the backend but for the loss and gradient-norm
//! scalars.
use super::{AttnShape, Backend, LoraRef, NormShape, RopeShape};

/// q, k and v of causal attention over the packed sequences of a batch: q `[rows × n_heads·hd]`, k
/// and v `[rows × n_kv_heads·hd]`.
pub struct Qkv<'a, T: ?Sized> {
    pub q: &'a T,
    pub k: &'a T,
    pub v: &'a T,
}

/// The gradients of q, k and v (overwritten).
pub struct QkvMut<'a, T: ?Sized> {
    pub q: &'a mut T,
    pub k: &'a mut T,
    pub v: &'a mut T,
}

/// What `attention_packed` saved for its backward: its output and the log-sum-exp of each row's
/// softmax `[rows × n_heads]`.
pub struct AttnSaved<'a, T: ?Sized> {
    pub out: &'a T,
    pub lse: &'a T,
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

pub trait TrainBackend: Backend {
    /// out row `rows[i]` = x row i (row length `n`); the other rows of `out` are left as they are (the
    /// inverse of `gather_rows`; the rows must be distinct).
    fn scatter_rows(&self, x: &Self::Tensor, rows: &[usize], n: usize, out: &mut Self::Tensor);
    /// Inverted dropout over the first `n` values: out[i] = x[i] / (1 − p) where
    /// `rng::dropout_keeps(seed, i, p)`, else 0. The mask is a function of (seed, i) alone, so the
    /// backward is this same op applied to the gradient.
    fn dropout(&self, x: &Self::Tensor, n: usize, p: f32, seed: u64, out: &mut Self::Tensor);

    /// dx of out = rmsnorm(x)·w given dy; with `dw`, also dw[n] += the weight's gradient.
    fn rmsnorm_bwd(
        &self,
        dy: &Self::Tensor,
        x: &Self::Tensor,
        w: &Self::Tensor,
        s: NormShape,
        dx: &mut Self::Tensor,
        dw: Option<&mut Self::Tensor>,
    );
    /// In place, dy becomes dx: the inverse rotation of `rope`.
    fn rope_bwd(&self, d: &mut Self::Tensor, positions: &[u32], s: RopeShape);
    /// d gate and d up of out = silu(gate)·up over `n` values.
    fn swiglu_bwd(
        &self,
        dy: &Self::Tensor,
        gate: &Self::Tensor,
        up: &Self::Tensor,
        n: usize,
        dgate: &mut Self::Tensor,
        dup: &mut Self::Tensor,
    );
    /// dx[m × cols] = dy[m × rows]·W through a frozen weight (`accumulate`: dx += instead).
    fn matmul_bwd(&self, dy: &Self::Tensor, m: usize, w: &Self::Matrix, dx: &mut Self::Tensor, accumulate: bool);
    /// From dy, the term's input x and the saved xa = x·Aᵀ: grads.a += dA, grads.b += dB (so
    /// micro-batches accumulate) and dx += the term's share of the input gradient.
    fn lora_bwd(
        &self,
        dy: &Self::Tensor,
        x: &Self::Tensor,
        xa: &Self::Tensor,
        m: usize,
        l: LoraRef<'_, Self::Tensor>,
        grads: LoraGradMut<'_, Self::Tensor>,
    );
    /// Causal grouped-query attention over the sequences `(row0, len)` of a packed batch (each row sees
    /// the rows of its own sequence up to itself), saving lse `[rows × n_heads]`, the log-sum-exp of
    /// each row's softmax, for `attention_packed_bwd`.
    fn attention_packed(
        &self,
        qkv: Qkv<'_, Self::Tensor>,
        seqs: &[(usize, usize)],
        shape: AttnShape,
        out: &mut Self::Tensor,
        lse: &mut Self::Tensor,
    );
    /// dq, dk, dv (overwritten) of `attention_packed` given dout; P is recomputed from lse.
    fn attention_packed_bwd(
        &self,
        dout: &Self::Tensor,
        qkv: Qkv<'_, Self::Tensor>,
        saved: AttnSaved<'_, Self::Tensor>,
        seqs: &[(usize, usize)],
        shape: AttnShape,
        grads: QkvMut<'_, Self::Tensor>,
    );
    /// Cross-entropy fused with the output head over the rows that carry a loss (hidden `[r × n]`,
    /// final-normed), forward and backward in one pass: returns Σ weight_i·(−log softmax(hidden_i·Wᵀ)
    /// [target_i]) and writes dhidden `[r × n]`, going over the vocabulary in chunks (no `r × vocab`
    /// logits tensor).
    fn cross_entropy(
        &self,
        hidden: &Self::Tensor,
        targets: &[u32],
        weights: &[f32],
        head: &Self::Matrix,
        dhidden: &mut Self::Tensor,
    ) -> f64;
    /// Σ x² over the first `n` values (gradient norms).
    fn sum_squares(&self, x: &Self::Tensor, n: usize) -> f64;
    /// One AdamW step over `n` parameters `p` with gradient `g` (times `step.grad_scale`) and moments
    /// `m`, `v`, as `torch.optim.AdamW` computes it.
    fn adamw(&self, p: &mut Self::Tensor, g: &Self::Tensor, m: &mut Self::Tensor, v: &mut Self::Tensor, n: usize, step: AdamWStep);
}

/// Where `lora_bwd` adds its gradients: A's, B's and the input's.
pub struct LoraGradMut<'a, T: ?Sized> {
    pub a: &'a mut T,
    pub b: &'a mut T,
    pub x: &'a mut T,
}
