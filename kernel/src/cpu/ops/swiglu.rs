//! SwiGLU, forward and backward: out = silu(gate) · up.
use crate::cpu::simd::{math, Simd};
use crate::simd_fn;
use rayon::prelude::*;

simd_fn! {
    /// out = silu(gate)·up = gate / (1 + exp(−gate)) · up, elementwise over one chunk (the shortest slice).
    pub fn swiglu_chunk(gate: &[f32], up: &[f32], out: &mut [f32]) => swiglu_k
}

#[inline(always)]
unsafe fn swiglu_k<S: Simd>(gate: &[f32], up: &[f32], out: &mut [f32]) {
    let n = out.len().min(gate.len()).min(up.len());
    let one = S::splat(1.0);
    let mut i = 0;
    while i < n {
        let c = (n - i).min(16);
        let g = S::load_n(gate.as_ptr().add(i), c);
        let u = S::load_n(up.as_ptr().add(i), c);
        let e = math::exp::<S>(S::sub(S::zero(), g));
        let o = S::mul(S::div(g, S::add(one, e)), u);
        S::store_n(out.as_mut_ptr().add(i), c, o);
        i += c;
    }
}

/// Elements per parallel task.
const CHUNK: usize = 4096;

/// out = silu(gate)·up over `n` values, in parallel chunks.
pub fn swiglu(gate: &[f32], up: &[f32], n: usize, out: &mut [f32]) {
    out[..n].par_chunks_mut(CHUNK).zip(gate[..n].par_chunks(CHUNK).zip(up[..n].par_chunks(CHUNK))).for_each(|(o, (g, u))| {
        swiglu_chunk(g, u, o);
    });
}

simd_fn! {
    /// d gate = dy·up·σ(g)·(1 + g·(1 − σ(g))), d up = dy·g·σ(g), elementwise.
    pub fn swiglu_bwd_chunk(dy: &[f32], gate: &[f32], up: &[f32], dgate: &mut [f32], dup: &mut [f32]) => swiglu_bwd_k
}

#[inline(always)]
unsafe fn swiglu_bwd_k<S: Simd>(dy: &[f32], gate: &[f32], up: &[f32], dgate: &mut [f32], dup: &mut [f32]) {
    let n = dy.len().min(gate.len()).min(up.len()).min(dgate.len()).min(dup.len());
    let one = S::splat(1.0);
    let mut i = 0;
    while i < n {
        let c = (n - i).min(16);
        let g = S::load_n(gate.as_ptr().add(i), c);
        let u = S::load_n(up.as_ptr().add(i), c);
        let dy = S::load_n(dy.as_ptr().add(i), c);
        let sig = S::div(one, S::add(one, math::exp::<S>(S::sub(S::zero(), g))));
        // 1 − σ(g) = σ(−g), from its own exp: no cancellation, and 0 (not NaN) where exp(g) overflows.
        let sig_neg = S::div(one, S::add(one, math::exp::<S>(g)));
        let gs = S::mul(g, sig);
        let dsilu = S::mul(sig, S::fma(g, sig_neg, one));
        S::store_n(dgate.as_mut_ptr().add(i), c, S::mul(S::mul(dy, u), dsilu));
        S::store_n(dup.as_mut_ptr().add(i), c, S::mul(dy, gs));
        i += c;
    }
}

/// d gate and d up of `swiglu` given dy, over `n` values, in parallel chunks.
pub fn swiglu_bwd(dy: &[f32], gate: &[f32], up: &[f32], n: usize, dgate: &mut [f32], dup: &mut [f32]) {
    const CH: usize = CHUNK;
    dgate[..n].par_chunks_mut(CH).zip(dup[..n].par_chunks_mut(CH)).enumerate().for_each(|(c, (dg, du))| {
        let r = c * CH..(c * CH + dg.len());
        swiglu_bwd_chunk(&dy[r.clone()], &gate[r.clone()], &up[r], dg, du);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector SwiGLU against the scalar formula, across the range the MLP sees and past where
    /// exp(−g) overflows (g < −88: silu → −0).
    #[test]
    fn swiglu_matches_scalar() {
        let gate: Vec<f32> = (0..1001).map(|i| (i as f32 - 500.0) * 0.21).collect();
        let up: Vec<f32> = (0..1001).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect();
        let mut out = vec![0f32; 1001];
        swiglu_chunk(&gate, &up, &mut out);
        for ((o, g), u) in out.iter().zip(&gate).zip(&up) {
            let want = (*g as f64 / (1.0 + (-*g as f64).exp()) * *u as f64) as f32;
            assert!((o - want).abs() <= 4e-7 * want.abs() + 1e-30, "g={g}: {o} vs {want}");
        }
    }
}
