//! Elementwise and attention ops of the CPU backend, parallel over rows or heads.
use super::simd::{dot, exp_sub_sum};
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

/// Query rows per attention task: long enough that the score and value products run as small
/// GEMMs, short enough that a 512-token prompt gives every core several tasks.
const ATTN_ROWS: usize = 32;

/// Causal grouped-query attention over key/value segments. One task per (sequence, head, block of
/// query rows): S = Q·Kᵀ·scale per segment (GEMM), a causal softmax per row, O = P·V per segment.
pub fn attention(q: &[f32], seqs: &[AttnSeq<'_, Vec<f32>>], s: AttnShape, out: &mut [f32]) {
    let (hd, nh, nkv) = (s.head_dim, s.n_heads, s.n_kv_heads);
    let qrow = nh * hd;
    let kvrow = nkv * hd;
    let group = nh / nkv;
    let scale = 1.0 / (hd as f32).sqrt();
    let optr = SyncPtr(out.as_mut_ptr());
    let tasks: Vec<(usize, usize, usize)> = (0..seqs.len())
        .flat_map(|si| {
            let blocks = seqs[si].n_new.div_ceil(ATTN_ROWS);
            (0..nh).flat_map(move |h| (0..blocks).map(move |b| (si, h, b * ATTN_ROWS)))
        })
        .collect();
    tasks.par_iter().for_each(|&(si, h, j0)| {
        let optr = &optr;
        let seq = &seqs[si];
        let total: usize = seq.segments.iter().map(|s| s.2).sum();
        let past = total - seq.n_new;
        let rows = ATTN_ROWS.min(seq.n_new - j0);
        let g = h / group;
        // Row r (query j0 + r) sees positions < past + j0 + r + 1; the block's widest row sets the width.
        let width = past + j0 + rows;
        let mut p = vec![0f32; rows * width];
        let qp = q[(seq.row0 + j0) * qrow + h * hd..].as_ptr();
        let mut pos = 0;
        for &(k, _, len) in &seq.segments {
            let cols = len.min(width.saturating_sub(pos));
            if cols > 0 {
                // SAFETY: p is rows × width (row stride width); q rows have stride qrow; the key rows
                // pos.. of this segment are read as the columns of Kᵀ (column stride kvrow).
                unsafe {
                    gemm::gemm(rows, cols, hd, p.as_mut_ptr().add(pos), 1, width as isize, false, qp, 1, qrow as isize,
                        k[g * hd..].as_ptr(), kvrow as isize, 1, 0.0, scale, false, false, false, gemm::Parallelism::None);
                }
            }
            pos += len;
        }
        let mut inv = vec![0f32; rows];
        for (r, row) in p.chunks_exact_mut(width).enumerate() {
            let visible = past + j0 + r + 1;
            let max = row[..visible].iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            inv[r] = 1.0 / exp_sub_sum(&mut row[..visible], max);
            row[visible..].iter_mut().for_each(|v| *v = 0.0);
        }
        // SAFETY: this task owns output rows row0 + j0 .. + rows, columns h·hd .. (h+1)·hd.
        let op = unsafe { optr.0.add((seq.row0 + j0) * qrow + h * hd) };
        let mut pos = 0;
        let mut first = true;
        for &(_, v, len) in &seq.segments {
            let cols = len.min(width.saturating_sub(pos));
            if cols > 0 {
                // SAFETY: P's columns pos.. (row stride width) times value rows pos.. (row stride kvrow).
                unsafe {
                    gemm::gemm(rows, hd, cols, op, 1, qrow as isize, !first, p.as_ptr().add(pos), 1, width as isize,
                        v[g * hd..].as_ptr(), 1, kvrow as isize, if first { 0.0 } else { 1.0 }, 1.0, false, false, false,
                        gemm::Parallelism::None);
                }
                first = false;
            }
            pos += len;
        }
        for (r, &iv) in inv.iter().enumerate() {
            // SAFETY: as above.
            let o = unsafe { std::slice::from_raw_parts_mut(op.add(r * qrow), hd) };
            o.iter_mut().for_each(|x| *x *= iv);
        }
    });
}
