//! Causal grouped-query attention for training, over the packed sequences of a batch, forward (saving
//! each row's log-sum-exp) and backward (P recomputed from it, flash-attention style).
use crate::backend::{AttnSaved, AttnShape, Qkv, QkvMut};
use crate::cpu::gemm::{gemm_strided, Parallelism};
use crate::cpu::vector::{dot, exp_sub_sum};
use crate::cpu::SyncPtr;
use rayon::prelude::*;

/// Query rows per block of the causal products: block rows q0..q1 need keys 0..q1 only, so the GEMMs
/// skip most of the masked upper triangle (with 64-row blocks of 256 rows, 10/16 of the full work).
const ATT_BLOCK: usize = 64;

fn causal_blocks(len: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..len).step_by(ATT_BLOCK).map(move |q0| (q0, (q0 + ATT_BLOCK).min(len)))
}

/// Causal grouped-query attention for training, over sequences `(row0, len)` of a packed batch (each
/// row sees the rows of its own sequence up to itself): q, out `[rows × n_heads·hd]`, k, v
/// `[rows × n_kv_heads·hd]`. Saves lse[row·n_heads + h], the log-sum-exp of the row's scaled scores
/// (its softmax max and sum in one number), so the backward recomputes P without a max pass. One task
/// per (sequence, head): S = Q·Kᵀ·scale (GEMM), a causal softmax per row, O = P·V (GEMM).
pub fn attention_packed(qkv: Qkv<'_, [f32]>, seqs: &[(usize, usize)], s: AttnShape, out: &mut [f32], lse: &mut [f32]) {
    let (q, k, v) = (qkv.q, qkv.k, qkv.v);
    let (hd, nh, nkv) = (s.head_dim, s.n_heads, s.n_kv_heads);
    let (qrow, kvrow, group) = (nh * hd, nkv * hd, nh / nkv);
    let scale = 1.0 / (hd as f32).sqrt();
    let rows = seqs.iter().map(|&(r0, len)| r0 + len).max().unwrap_or(0);
    assert!(
        rows * qrow <= q.len().min(out.len()) && rows * kvrow <= k.len().min(v.len()) && rows * nh <= lse.len(),
        "attention_packed: bad shapes"
    );
    let (optr, lptr) = (SyncPtr(out.as_mut_ptr()), SyncPtr(lse.as_mut_ptr()));
    let tasks: Vec<(usize, usize)> = (0..seqs.len()).flat_map(|si| (0..nh).map(move |h| (si, h))).collect();
    tasks.par_iter().for_each(|&(si, h)| {
        let (optr, lptr) = (&optr, &lptr);
        let (r0, len) = seqs[si];
        let g = h / group;
        let mut p = vec![0f32; len * len];
        let (qp, kp, vp) = (q[r0 * qrow + h * hd..].as_ptr(), k[r0 * kvrow + g * hd..].as_ptr(), v[r0 * kvrow + g * hd..].as_ptr());
        // SAFETY: the shapes are asserted; p is len × len; this task alone writes its sequence's rows
        // of head h in out and lse.
        unsafe {
            for (q0, q1) in causal_blocks(len) {
                gemm_strided(
                    Parallelism::None,
                    q1 - q0,
                    q1,
                    hd,
                    p.as_mut_ptr().add(q0 * len),
                    len,
                    false,
                    qp.add(q0 * qrow),
                    qrow,
                    1,
                    kp,
                    1,
                    kvrow,
                    scale,
                );
            }
            let mut inv = vec![0f32; len];
            for (i, row) in p.chunks_exact_mut(len).enumerate() {
                let mx = row[..=i].iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
                let sum = exp_sub_sum(&mut row[..=i], mx);
                row[i + 1..].fill(0.0);
                *lptr.0.add((r0 + i) * nh + h) = mx + sum.ln();
                inv[i] = 1.0 / sum;
            }
            let op = optr.0.add(r0 * qrow + h * hd);
            for (q0, q1) in causal_blocks(len) {
                gemm_strided(
                    Parallelism::None,
                    q1 - q0,
                    hd,
                    q1,
                    op.add(q0 * qrow),
                    qrow,
                    false,
                    p.as_ptr().add(q0 * len),
                    len,
                    1,
                    vp,
                    kvrow,
                    1,
                    1.0,
                );
            }
            for (i, iv) in inv.iter().enumerate() {
                std::slice::from_raw_parts_mut(op.add(i * qrow), hd).iter_mut().for_each(|x| *x *= iv);
            }
        }
    });
}

/// The backward of `attention_packed`: from dout, the inputs, its output and lse, writes dq, dk and dv
/// (overwritten; rows outside every sequence get 0). One task per (sequence, kv head) owns that head's
/// dk, dv rows and its query heads' dq rows; per query head and block of query rows q0..q1 (keys
/// 0..q1), by GEMMs: P = exp(Q·Kᵀ·scale − lse) (recomputed), dP = dO·Vᵀ, dS = P ⊙ (dP − rowsum(dO ⊙ O)),
/// dQ = scale·dS·K, dK += scale·dSᵀ·Q, dV += Pᵀ·dO. A block's P and dS (ATT_BLOCK × len) stay in the
/// core's cache from their product to their last use; whole len × len matrices (4 MB each at 1,024
/// tokens) did not, and made the backward a quarter of a training step on Spider-length sequences.
pub fn attention_packed_bwd(
    dout: &[f32],
    qkv: Qkv<'_, [f32]>,
    saved: AttnSaved<'_, [f32]>,
    seqs: &[(usize, usize)],
    s: AttnShape,
    grads: QkvMut<'_, [f32]>,
) {
    let (q, k, v, out, lse) = (qkv.q, qkv.k, qkv.v, saved.out, saved.lse);
    let (dq, dk, dv) = (grads.q, grads.k, grads.v);
    let (hd, nh, nkv) = (s.head_dim, s.n_heads, s.n_kv_heads);
    let (qrow, kvrow, group) = (nh * hd, nkv * hd, nh / nkv);
    let scale = 1.0 / (hd as f32).sqrt();
    let rows = seqs.iter().map(|&(r0, len)| r0 + len).max().unwrap_or(0);
    assert!(
        rows * qrow <= q.len().min(dq.len()).min(dout.len()).min(out.len()) && rows * nh <= lse.len(),
        "attention_packed_bwd: bad shapes"
    );
    assert!(rows * kvrow <= k.len().min(v.len()).min(dk.len()).min(dv.len()), "attention_packed_bwd: bad shapes");
    dq.fill(0.0);
    dk.fill(0.0);
    dv.fill(0.0);
    let (qp, kp, vp) = (SyncPtr(dq.as_mut_ptr()), SyncPtr(dk.as_mut_ptr()), SyncPtr(dv.as_mut_ptr()));
    let tasks: Vec<(usize, usize)> = (0..seqs.len()).flat_map(|si| (0..nkv).map(move |g| (si, g))).collect();
    tasks.par_iter().for_each(|&(si, g)| {
        let (dqp, dkp, dvp) = (&qp, &kp, &vp);
        let (r0, len) = seqs[si];
        let ko = r0 * kvrow + g * hd;
        let (kg, vg) = (k[ko..].as_ptr(), v[ko..].as_ptr());
        // One block's rows of P and dS, keys 0..q1 (row stride len).
        let strip = ATT_BLOCK.min(len) * len;
        let (mut p, mut ds) = (vec![0f32; strip], vec![0f32; strip]);
        for h in g * group..(g + 1) * group {
            let qo = r0 * qrow + h * hd;
            let (qh, doh) = (q[qo..].as_ptr(), dout[qo..].as_ptr());
            for (q0, q1) in causal_blocks(len) {
                let b = q1 - q0;
                // SAFETY: the shapes are asserted; p and ds hold b ≤ ATT_BLOCK rows of len; this task
                // alone writes its sequence's rows of query head h in dq and of kv head g in dk and dv.
                unsafe {
                    let (pp, dp) = (p.as_mut_ptr(), ds.as_mut_ptr());
                    gemm_strided(Parallelism::None, b, q1, hd, pp, len, false, qh.add(q0 * qrow), qrow, 1, kg, 1, kvrow, scale);
                    gemm_strided(Parallelism::None, b, q1, hd, dp, len, false, doh.add(q0 * qrow), qrow, 1, vg, 1, kvrow, 1.0);
                }
                // Row i: P and dS over keys 0..=i, zero after (dS = P ⊙ (dP − rowsum(dO ⊙ O))).
                for (j, (dsr, pr)) in ds.chunks_exact_mut(len).zip(p.chunks_exact_mut(len)).take(b).enumerate() {
                    let i = q0 + j;
                    exp_sub_sum(&mut pr[..=i], lse[(r0 + i) * nh + h]);
                    pr[i + 1..q1].fill(0.0);
                    let o = qo + i * qrow;
                    let dd = dot(&dout[o..o + hd], &out[o..o + hd]);
                    for (d, &pv) in dsr[..=i].iter_mut().zip(&pr[..=i]) {
                        *d = pv * (*d - dd);
                    }
                    dsr[i + 1..q1].fill(0.0);
                }
                // SAFETY: as above.
                unsafe {
                    // dQ of rows q0..q1 (keys 0..q1); dK, dV of key rows 0..q1 from query rows q0..q1.
                    let (ps, dss) = (p.as_ptr(), ds.as_ptr());
                    gemm_strided(Parallelism::None, b, hd, q1, dqp.0.add(qo + q0 * qrow), qrow, false, dss, len, 1, kg, kvrow, 1, scale);
                    gemm_strided(Parallelism::None, q1, hd, b, dkp.0.add(ko), kvrow, true, dss, 1, len, qh.add(q0 * qrow), qrow, 1, scale);
                    gemm_strided(Parallelism::None, q1, hd, b, dvp.0.add(ko), kvrow, true, ps, 1, len, doh.add(q0 * qrow), qrow, 1, 1.0);
                }
            }
        }
    });
}
