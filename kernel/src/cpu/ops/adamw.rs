//! The optimizer: AdamW as torch.optim.AdamW computes it, and the sum of squares that gradient-norm
//! clipping feeds it.
use crate::backend::AdamWStep;
use crate::cpu::simd::Simd;
use crate::cpu::vector::dot;
use crate::simd_fn;
use rayon::prelude::*;

/// Σ x², in f32 per chunk of 4096 and f64 across chunks.
pub fn sum_squares(x: &[f32]) -> f64 {
    x.par_chunks(4096).map(|c| dot(c, c) as f64).sum()
}

simd_fn! {
    /// AdamW over one chunk (see `adamw`).
    pub fn adamw_chunk(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], step: AdamWStep) => adamw_chunk_k
}

#[inline(always)]
#[allow(clippy::extra_unused_type_parameters)]
unsafe fn adamw_chunk_k<S: Simd>(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], step: AdamWStep) {
    // torch.optim.AdamW (single-tensor, non-fused): p *= 1 − lr·wd; m = β1·m + (1 − β1)·g;
    // v = β2·v + (1 − β2)·g²; p −= lr / (1 − β1^t) · m / (sqrt(v) / sqrt(1 − β2^t) + eps).
    let decay = (1.0 - step.lr * step.weight_decay) as f32;
    let (b1, b2, c1, c2) = (step.beta1 as f32, step.beta2 as f32, (1.0 - step.beta1) as f32, (1.0 - step.beta2) as f32);
    let lr_t = (step.lr / (1.0 - step.beta1.powi(step.t as i32))) as f32;
    let bc2 = (1.0 - step.beta2.powi(step.t as i32)).sqrt() as f32;
    let (eps, scale) = (step.eps as f32, step.grad_scale as f32);
    // A plain loop: compiled inside this ISA's wrapper, it vectorizes with that ISA's instructions.
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        let g = g * scale;
        *m = b1 * *m + c1 * g;
        *v = b2 * *v + c2 * g * g;
        *p = *p * decay - lr_t * *m / (v.sqrt() / bc2 + eps);
    }
}

/// One AdamW step over the parameters `p` (see `TrainBackend::adamw`), in parallel chunks.
pub fn adamw(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], step: AdamWStep) {
    const CH: usize = 4096;
    p.par_chunks_mut(CH).zip(m.par_chunks_mut(CH).zip(v.par_chunks_mut(CH))).enumerate().for_each(|(c, (p, (m, v)))| {
        adamw_chunk(p, &g[c * CH..], m, v, step);
    });
}
