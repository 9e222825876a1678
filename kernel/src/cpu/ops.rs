//! Elementwise and attention ops of the CPU backend, parallel over rows or heads.
use super::simd::{axpy, dot};
use super::SyncPtr;
use crate::backend::{AttnSeq, AttnShape, RopeStyle};
use rayon::prelude::*;

pub fn rmsnorm(x: &[f32], w: &[f32], m: usize, n: usize, eps: f32, out: &mut [f32]) {
    out[..m * n].par_chunks_mut(n).zip(x[..m * n].par_chunks(n)).for_each(|(o, xr)| {
        let ss = dot(xr, xr) / n as f32;
        let inv = 1.0 / (ss + eps).sqrt();
        for ((oi, xi), wi) in o.iter_mut().zip(xr).zip(w) {
            *oi = xi * inv * wi;
        }
    });
}

/// The inverse frequencies θ^(−2i/d), computed in f32 as the reference implementations do.
pub fn rope_inv_freq(head_dim: usize, theta: f32) -> Vec<f32> {
    (0..head_dim / 2).map(|i| 1.0 / theta.powf((2 * i) as f32 / head_dim as f32)).collect()
}

pub fn rope(x: &mut [f32], m: usize, n_heads: usize, head_dim: usize, positions: &[u32], theta: f32, style: RopeStyle) {
    let inv = rope_inv_freq(head_dim, theta);
    let row = n_heads * head_dim;
    let half = head_dim / 2;
    x[..m * row].par_chunks_mut(row).zip(positions).for_each(|(xr, &p)| {
        let cs: Vec<(f32, f32)> = inv.iter().map(|f| {
            let a = p as f32 * f;
            (a.cos(), a.sin())
        }).collect();
        for h in xr.chunks_exact_mut(head_dim) {
            for (i, &(c, s)) in cs.iter().enumerate() {
                let (a, b) = match style {
                    RopeStyle::Interleaved => (2 * i, 2 * i + 1),
                    RopeStyle::Half => (i, i + half),
                };
                let (x0, x1) = (h[a], h[b]);
                h[a] = x0 * c - x1 * s;
                h[b] = x0 * s + x1 * c;
            }
        }
    });
}

pub fn swiglu(gate: &[f32], up: &[f32], n: usize, out: &mut [f32]) {
    out[..n].par_chunks_mut(4096).zip(gate[..n].par_chunks(4096).zip(up[..n].par_chunks(4096))).for_each(|(o, (g, u))| {
        for ((oi, gi), ui) in o.iter_mut().zip(g).zip(u) {
            *oi = gi / (1.0 + (-gi).exp()) * ui;
        }
    });
}

/// Causal grouped-query attention over key/value segments; one task per (sequence, head).
pub fn attention(q: &[f32], seqs: &[AttnSeq<'_, Vec<f32>>], s: AttnShape, out: &mut [f32]) {
    let (hd, nh, nkv) = (s.head_dim, s.n_heads, s.n_kv_heads);
    let qrow = nh * hd;
    let kvrow = nkv * hd;
    let group = nh / nkv;
    let scale = 1.0 / (hd as f32).sqrt();
    let optr = SyncPtr(out.as_mut_ptr());
    let tasks: Vec<(usize, usize)> = (0..seqs.len()).flat_map(|si| (0..nh).map(move |h| (si, h))).collect();
    tasks.par_iter().for_each(|&(si, h)| {
        let optr = &optr;
        let seq = &seqs[si];
        let total: usize = seq.segments.iter().map(|s| s.2).sum();
        let past = total - seq.n_new;
        let g = h / group;
        let mut scores = vec![0f32; total];
        let mut acc = vec![0f32; hd];
        for j in 0..seq.n_new {
            let qv = &q[(seq.row0 + j) * qrow + h * hd..][..hd];
            let visible = past + j + 1;
            let mut pos = 0;
            let mut max = f32::NEG_INFINITY;
            for &(k, _, len) in &seq.segments {
                for t in 0..len.min(visible.saturating_sub(pos)) {
                    let sc = dot(qv, &k[t * kvrow + g * hd..][..hd]) * scale;
                    scores[pos + t] = sc;
                    max = max.max(sc);
                }
                pos += len;
            }
            let mut sum = 0f32;
            for v in &mut scores[..visible] {
                *v = (*v - max).exp();
                sum += *v;
            }
            acc.iter_mut().for_each(|a| *a = 0.0);
            let mut pos = 0;
            for &(_, v, len) in &seq.segments {
                for t in 0..len.min(visible.saturating_sub(pos)) {
                    axpy(scores[pos + t], &v[t * kvrow + g * hd..][..hd], &mut acc);
                }
                pos += len;
            }
            let inv = 1.0 / sum;
            // SAFETY: (row, head) slices are disjoint across tasks.
            let o = unsafe { std::slice::from_raw_parts_mut(optr.0.add((seq.row0 + j) * qrow + h * hd), hd) };
            for (oi, a) in o.iter_mut().zip(&acc) {
                *oi = a * inv;
            }
        }
    });
}
