//! Cross-entropy fused with the output head, forward and backward in one pass over the vocabulary.
use super::matmul::{decode_rows, matmul_bwd};
use crate::cpu::matrix::CpuMatrix;
use crate::cpu::vector::exp_sub_sum;
use rayon::prelude::*;

/// Vocabulary rows per chunk of the fused cross-entropy (its logits buffer is rows × this).
const CE_CHUNK: usize = 2048;

/// Cross-entropy fused with the output head, for only the rows that carry a loss: hidden [r × n] (the
/// final-normed hidden states of those positions), their targets and weights (e.g. 1 / tokens in the
/// batch). Returns Σ_i weight_i·(−log softmax(hidden_i·Wᵀ)[target_i]) and writes dhidden [r × n]. The
/// vocabulary goes by chunks of `CE_CHUNK` rows of W, each decoded once and used twice (logits, then
/// dhidden, through `matmul_bwd`'s packed product), with an online softmax: per row a running max M and sum S, and dhidden holds
/// Σ_{v ≠ target} exp(l_v − M)·W_v, rescaled when M grows, beside S and S′ = S without the target's
/// term; at the end dhidden = weight·(that − S′·W_target) / S. Leaving the target out of the running
/// sum avoids the cancellation of Σ p·W − W_target when p_target is near 1 (a trained model's
/// common case), where it cost three digits. No [r × vocab] tensor exists.
pub fn cross_entropy(hidden: &[f32], targets: &[u32], weights: &[f32], head: &CpuMatrix, dhidden: &mut [f32]) -> f64 {
    let (vocab, n) = (head.rows(), head.cols());
    let r = targets.len();
    assert!(hidden.len() >= r * n && dhidden.len() >= r * n && weights.len() == r, "cross_entropy: bad shapes");
    assert!(targets.iter().all(|&t| (t as usize) < vocab), "cross_entropy: target outside the vocabulary");
    dhidden[..r * n].fill(0.0);
    let mut state = vec![(f32::NEG_INFINITY, 0f32, 0f32, 0f32); r]; // (max, sum, target logit, sum without the target)
    let mut buf = Vec::new();
    let chunk = CE_CHUNK.min(vocab);
    let mut logits = vec![0f32; r * chunk];
    for v0 in (0..vocab).step_by(CE_CHUNK) {
        let v1 = (v0 + CE_CHUNK).min(vocab);
        let c = v1 - v0;
        decode_rows(head, v0, v1, &mut buf);
        let wc = CpuMatrix::Dense { rows: c, cols: n, w: std::mem::take(&mut buf) };
        wc.matmul(hidden, r, &mut logits[..r * c]);
        logits[..r * c].par_chunks_mut(c).zip(state.par_iter_mut()).zip(dhidden[..r * n].par_chunks_mut(n)).enumerate().for_each(
            |(i, ((l, st), dh))| {
                let t = targets[i] as usize;
                if (v0..v1).contains(&t) {
                    st.2 = l[t - v0];
                }
                let mx = l.iter().fold(st.0, |a, &b| a.max(b));
                let f = (st.0 - mx).exp();
                if f != 1.0 {
                    dh.iter_mut().for_each(|x| *x *= f);
                }
                let sum = exp_sub_sum(l, mx);
                let sum_excl = if (v0..v1).contains(&t) {
                    l[t - v0] = 0.0;
                    l.iter().sum::<f32>()
                } else {
                    sum
                };
                st.1 = st.1 * f + sum;
                st.3 = st.3 * f + sum_excl;
                st.0 = mx;
            },
        );
        matmul_bwd(&logits, r, &wc, dhidden, true);
        let CpuMatrix::Dense { w, .. } = wc else { unreachable!() };
        buf = w;
    }
    let losses: Vec<f64> = dhidden[..r * n]
        .par_chunks_mut(n)
        .zip(state.par_iter())
        .enumerate()
        .map(|(i, (dh, &(mx, sum, lt, excl)))| {
            let mut wt = vec![0f32; n];
            head.dequant_row(targets[i] as usize, &mut wt);
            let (scale, w) = (weights[i] / sum, weights[i]);
            for (d, t) in dh.iter_mut().zip(&wt) {
                *d = scale * (*d - excl * t);
            }
            w as f64 * (mx as f64 + (sum as f64).ln() - lt as f64)
        })
        .collect();
    losses.iter().sum()
}
