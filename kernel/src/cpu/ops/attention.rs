//! Causal grouped-query attention for inference, over KV-cache segments (a shared prefix, then a
//! sequence's own cache): small GEMMs for prefill blocks, register dot products for decode rows.
use crate::backend::{AttnSeq, AttnShape};
use crate::cpu::simd::Simd;
use crate::cpu::vector::exp_sub_sum;
use crate::cpu::SyncPtr;
use crate::simd_fn;
use rayon::prelude::*;

/// Query rows per attention task: long enough that the score and value products run as small
/// GEMMs, short enough that a 512-token prompt gives every core several tasks.
const ATTN_ROWS: usize = 32;

/// Up to this many new rows per sequence (decode) go through `attend_row` instead of small GEMMs,
/// whose per-call cost dominates at one row.
const FEW_ROWS: usize = 4;

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
        if rows <= FEW_ROWS && hd % 16 == 0 && hd <= 128 {
            for j in j0..j0 + rows {
                // SAFETY: this task owns output row row0 + j, columns h·hd .. (h+1)·hd.
                unsafe {
                    let o = optr.0.add((seq.row0 + j) * qrow + h * hd);
                    attend_row(&q[(seq.row0 + j) * qrow + h * hd..][..hd], &seq.segments, past + j + 1, kvrow, g * hd, scale, o);
                }
            }
            return;
        }
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
                    gemm::gemm(
                        rows,
                        cols,
                        hd,
                        p.as_mut_ptr().add(pos),
                        1,
                        width as isize,
                        false,
                        qp,
                        1,
                        qrow as isize,
                        k[g * hd..].as_ptr(),
                        kvrow as isize,
                        1,
                        0.0,
                        scale,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
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
                    gemm::gemm(
                        rows,
                        hd,
                        cols,
                        op,
                        1,
                        qrow as isize,
                        !first,
                        p.as_ptr().add(pos),
                        1,
                        width as isize,
                        v[g * hd..].as_ptr(),
                        1,
                        kvrow as isize,
                        if first { 0.0 } else { 1.0 },
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
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

simd_fn! {
    /// One query row against its visible keys: scores by register dot products, a softmax, and P·V
    /// accumulated in registers; writes the head's `hd` outputs at `out`.
    ///
    /// # Safety
    /// `hd = q.len()` must be a multiple of 16 up to 128; `out` must be valid for `hd` writes.
    unsafe fn attend_row(q: &[f32], segments: &[(&Vec<f32>, &Vec<f32>, usize)], visible: usize, kvrow: usize, goff: usize, scale: f32, out: *mut f32) => attend_row_k
}

#[inline(always)]
unsafe fn attend_row_k<S: Simd>(
    q: &[f32],
    segments: &[(&Vec<f32>, &Vec<f32>, usize)],
    visible: usize,
    kvrow: usize,
    goff: usize,
    scale: f32,
    out: *mut f32,
) {
    match q.len() / 16 {
        1 => attend_row_c::<S, 1>(q, segments, visible, kvrow, goff, scale, out),
        2 => attend_row_c::<S, 2>(q, segments, visible, kvrow, goff, scale, out),
        3 => attend_row_c::<S, 3>(q, segments, visible, kvrow, goff, scale, out),
        4 => attend_row_c::<S, 4>(q, segments, visible, kvrow, goff, scale, out),
        5 => attend_row_c::<S, 5>(q, segments, visible, kvrow, goff, scale, out),
        6 => attend_row_c::<S, 6>(q, segments, visible, kvrow, goff, scale, out),
        7 => attend_row_c::<S, 7>(q, segments, visible, kvrow, goff, scale, out),
        _ => attend_row_c::<S, 8>(q, segments, visible, kvrow, goff, scale, out),
    }
}

/// Per key/value segment: its K and V caches, the position of its first row, and how many of its rows
/// a query seeing `visible` positions reads; checks that those rows' `need` values (from the head's
/// offset on, row stride `kvrow`) lie inside both caches.
fn visible_runs<'a>(
    segments: &'a [(&'a Vec<f32>, &'a Vec<f32>, usize)],
    visible: usize,
    kvrow: usize,
    need: usize,
) -> impl Iterator<Item = (&'a Vec<f32>, &'a Vec<f32>, usize, usize)> {
    segments.iter().scan(0, move |pos, &(k, v, len)| {
        let (first, n) = (*pos, len.min(visible.saturating_sub(*pos)));
        assert!(n == 0 || (k.len().min(v.len()) >= (n - 1) * kvrow + need), "attention: cache shorter than its rows");
        *pos += len;
        Some((k, v, first, n))
    })
}

/// `attend_row` for a head of C·16 values: q, the score accumulators and the output in registers.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn attend_row_c<S: Simd, const C: usize>(
    q: &[f32],
    segments: &[(&Vec<f32>, &Vec<f32>, usize)],
    visible: usize,
    kvrow: usize,
    goff: usize,
    scale: f32,
    out: *mut f32,
) {
    let mut qv = [S::zero(); C];
    for (c, v) in qv.iter_mut().enumerate() {
        *v = S::load(q.as_ptr().add(16 * c));
    }
    let mut scores = vec![0f32; visible];
    let mut max = f32::NEG_INFINITY;
    for (k, _, pos, n) in visible_runs(segments, visible, kvrow, goff + 16 * C) {
        for t in 0..n {
            let kp = k.as_ptr().add(t * kvrow + goff);
            let mut acc = S::mul(qv[0], S::load(kp));
            for (c, qc) in qv.iter().enumerate().skip(1) {
                acc = S::fma(*qc, S::load(kp.add(16 * c)), acc);
            }
            let sc = S::reduce_add(acc) * scale;
            scores[pos + t] = sc;
            max = max.max(sc);
        }
    }
    let inv = 1.0 / exp_sub_sum(&mut scores, max);
    let mut acc = [S::zero(); C];
    for (_, v, pos, n) in visible_runs(segments, visible, kvrow, goff + 16 * C) {
        for t in 0..n {
            let vp = v.as_ptr().add(t * kvrow + goff);
            let p = S::splat(scores[pos + t]);
            for (c, a) in acc.iter_mut().enumerate() {
                *a = S::fma(p, S::load(vp.add(16 * c)), *a);
            }
        }
    }
    let iv = S::splat(inv);
    for (c, a) in acc.iter().enumerate() {
        S::store(out.add(16 * c), S::mul(*a, iv));
    }
}
