//! RMSNorm, forward and backward: out = x / sqrt(mean(x²) + eps) · w per row.
use crate::backend::NormShape;
use crate::cpu::simd::Simd;
use crate::cpu::vector::{axpy, dot, dot_k};
use crate::simd_fn;
use rayon::prelude::*;

simd_fn! {
    /// One row of RMSNorm: out = x / sqrt(mean(x²) + eps) · w.
    pub fn rmsnorm_row(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) => rmsnorm_row_k
}

#[inline(always)]
unsafe fn rmsnorm_row_k<S: Simd>(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let n = x.len();
    let ss = dot_k::<S>(x, x) / n as f32;
    let inv = 1.0 / (ss + eps).sqrt();
    // A plain loop: compiled inside this ISA's wrapper, it vectorizes with that ISA's instructions.
    for ((o, xi), wi) in out[..n].iter_mut().zip(x).zip(&w[..n]) {
        *o = xi * inv * wi;
    }
}

/// out = rmsnorm(x)·w over `s.rows`, rows in parallel.
pub fn rmsnorm(x: &[f32], w: &[f32], s: NormShape, out: &mut [f32]) {
    let (m, n, eps) = (s.rows.m, s.rows.n, s.eps);
    out[..m * n].par_chunks_mut(n).zip(x[..m * n].par_chunks(n)).for_each(|(o, xr)| rmsnorm_row(xr, w, eps, o));
}

simd_fn! {
    /// One row of RMSNorm's backward: dx = inv·(dy⊙w) − inv³/n·x·Σ(dy⊙w⊙x), inv = 1/sqrt(mean(x²) + eps).
    /// Returns inv (for dw).
    pub fn rmsnorm_bwd_row(dy: &[f32], x: &[f32], w: &[f32], eps: f32, dx: &mut [f32]) -> f32 => rmsnorm_bwd_row_k
}

#[inline(always)]
unsafe fn rmsnorm_bwd_row_k<S: Simd>(dy: &[f32], x: &[f32], w: &[f32], eps: f32, dx: &mut [f32]) -> f32 {
    let n = x.len();
    let inv = 1.0 / (dot(x, x) / n as f32 + eps).sqrt();
    let mut acc = S::zero();
    let mut i = 0;
    while i < n {
        let c = (n - i).min(16);
        let g = S::mul(S::load_n(dy.as_ptr().add(i), c), S::load_n(w.as_ptr().add(i), c));
        acc = S::fma(g, S::load_n(x.as_ptr().add(i), c), acc);
        i += c;
    }
    let k = inv * inv * inv * S::reduce_add(acc) / n as f32;
    let (iv, kv) = (S::splat(inv), S::splat(k));
    let mut i = 0;
    while i < n {
        let c = (n - i).min(16);
        let g = S::mul(S::load_n(dy.as_ptr().add(i), c), S::load_n(w.as_ptr().add(i), c));
        let d = S::fnma(kv, S::load_n(x.as_ptr().add(i), c), S::mul(g, iv));
        S::store_n(dx.as_mut_ptr().add(i), c, d);
        i += c;
    }
    inv
}

/// dx [m × n] of out = rmsnorm(x)·w given dy; with `dw`, also dw[n] += Σ_rows dy⊙x·inv.
pub fn rmsnorm_bwd(dy: &[f32], x: &[f32], w: &[f32], s: NormShape, dx: &mut [f32], dw: Option<&mut [f32]>) {
    let (m, n, eps) = (s.rows.m, s.rows.n, s.eps);
    let inv: Vec<f32> = dx[..m * n]
        .par_chunks_mut(n)
        .zip(x[..m * n].par_chunks(n).zip(dy[..m * n].par_chunks(n)))
        .map(|(d, (xr, g))| rmsnorm_bwd_row(g, xr, w, eps, d))
        .collect();
    if let Some(dw) = dw {
        let mut prod = vec![0f32; n];
        for (i, iv) in inv.iter().enumerate() {
            for ((p, g), xv) in prod.iter_mut().zip(&dy[i * n..(i + 1) * n]).zip(&x[i * n..(i + 1) * n]) {
                *p = g * xv;
            }
            axpy(*iv, &prod, dw);
        }
    }
}
