//! The LoRA term, forward and backward: y += s·(x·Aᵀ)·Bᵀ, by small GEMMs (r is 8 to 64). Generation and
//! training both go through these.
use crate::backend::{LoraGradMut, LoraRef, LoraShape};
use crate::cpu::gemm::{gemm_strided, Parallelism};

/// The LoRA term's forward: xa[m × r] = x·Aᵀ (saved for the backward) and y[m × dout] += s·xa·Bᵀ, for
/// A (r × din) and B (dout × r) plain f32 tensors.
pub fn lora(x: &[f32], m: usize, l: LoraRef<'_, [f32]>, xa: &mut [f32], y: &mut [f32]) {
    let (a, b, LoraShape { r, din, dout, scale }) = (l.a, l.b, l.shape);
    assert!(
        x.len() >= m * din && a.len() >= r * din && b.len() >= dout * r && xa.len() >= m * r && y.len() >= m * dout,
        "lora: bad shapes"
    );
    // SAFETY: the shapes are asserted; Aᵀ is A read with strides (1, din), Bᵀ is B with (1, r).
    unsafe {
        gemm_strided(Parallelism::Rayon(0), m, r, din, xa.as_mut_ptr(), r, false, x.as_ptr(), din, 1, a.as_ptr(), 1, din, 1.0);
        gemm_strided(Parallelism::Rayon(0), m, dout, r, y.as_mut_ptr(), dout, true, xa.as_ptr(), r, 1, b.as_ptr(), 1, r, scale);
    }
}

/// The LoRA term's backward from dy and the saved xa = x·Aᵀ: dA += (s·dy·B)ᵀ·x, dB += s·dyᵀ·xa (both
/// accumulate, for gradient accumulation), and dx += (s·dy·B)·A, its share of the input gradient.
pub fn lora_bwd(dy: &[f32], x: &[f32], xa: &[f32], m: usize, l: LoraRef<'_, [f32]>, g: LoraGradMut<'_, [f32]>) {
    let (a, b, LoraShape { r, din, dout, scale }) = (l.a, l.b, l.shape);
    assert!(
        dy.len() >= m * dout && x.len() >= m * din && xa.len() >= m * r && a.len() >= r * din && b.len() >= dout * r,
        "lora_bwd: bad shapes"
    );
    assert!(g.a.len() >= r * din && g.b.len() >= dout * r && g.x.len() >= m * din, "lora_bwd: bad shapes");
    let mut dxa = vec![0f32; m * r];
    // SAFETY: the shapes are asserted; transposed operands are read through their strides
    // (dyᵀ: (1, dout), dxaᵀ: (1, r)); every destination is its own buffer.
    unsafe {
        gemm_strided(Parallelism::Rayon(0), m, r, dout, dxa.as_mut_ptr(), r, false, dy.as_ptr(), dout, 1, b.as_ptr(), r, 1, scale);
        gemm_strided(Parallelism::Rayon(0), dout, r, m, g.b.as_mut_ptr(), r, true, dy.as_ptr(), 1, dout, xa.as_ptr(), r, 1, scale);
        gemm_strided(Parallelism::Rayon(0), r, din, m, g.a.as_mut_ptr(), din, true, dxa.as_ptr(), 1, r, x.as_ptr(), din, 1, 1.0);
        gemm_strided(Parallelism::Rayon(0), m, din, r, g.x.as_mut_ptr(), din, true, dxa.as_ptr(), r, 1, a.as_ptr(), din, 1, 1.0);
    }
}
