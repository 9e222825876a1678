//! RoPE, forward and backward (the inverse rotation), both pairings (`RopeStyle`).
use crate::backend::RopeShape;
use crate::cpu::simd::Simd;
use crate::simd_fn;
use rayon::prelude::*;

simd_fn! {
    /// Rotates the heads of one row: pairs (a[i], b[i]) become (a·c − b·s, a·s + b·c) with the pair's
    /// cos/sin. `pairs` lists each head's (first, second) index per frequency i.
    pub fn rope_row(row: &mut [f32], head_dim: usize, pairs: &[(usize, usize)], cs: &[(f32, f32)]) => rope_row_k
}

#[inline(always)]
#[allow(clippy::extra_unused_type_parameters)] // plain loops, compiled per ISA by the wrapper
unsafe fn rope_row_k<S: Simd>(row: &mut [f32], head_dim: usize, pairs: &[(usize, usize)], cs: &[(f32, f32)]) {
    for h in row.chunks_exact_mut(head_dim) {
        for (&(a, b), &(c, s)) in pairs.iter().zip(cs) {
            let (x0, x1) = (h[a], h[b]);
            h[a] = x0 * c - x1 * s;
            h[b] = x0 * s + x1 * c;
        }
    }
}

/// The inverse frequencies θ^(−2i/d), computed in f32 as the reference implementations do.
pub fn rope_inv_freq(head_dim: usize, theta: f32) -> Vec<f32> {
    (0..head_dim / 2).map(|i| 1.0 / theta.powf((2 * i) as f32 / head_dim as f32)).collect()
}

/// Rotates each head of each row by angle position·θ^(−2i/d), in f32 as the reference implementations
/// compute the angles; `inverse` negates the sine (the same angles, rotated back).
fn rotate(x: &mut [f32], positions: &[u32], s: RopeShape, inverse: bool) {
    let inv = rope_inv_freq(s.head_dim, s.theta);
    let row = s.n_heads * s.head_dim;
    let pairs = crate::reference::rope_pairs(s.head_dim, s.style);
    let sign = if inverse { -1.0 } else { 1.0 };
    x[..s.m * row].par_chunks_mut(row).zip(positions).for_each(|(xr, &p)| {
        let cs: Vec<(f32, f32)> = inv
            .iter()
            .map(|f| {
                let a = p as f32 * f;
                (a.cos(), sign * a.sin())
            })
            .collect();
        rope_row(xr, s.head_dim, &pairs, &cs);
    });
}

/// Rotates q or k in place by their positions.
pub fn rope(x: &mut [f32], positions: &[u32], s: RopeShape) {
    rotate(x, positions, s, false)
}

/// dx from dy in place: RoPE is a rotation, so its backward is the inverse rotation.
pub fn rope_bwd(d: &mut [f32], positions: &[u32], s: RopeShape) {
    rotate(d, positions, s, true)
}
