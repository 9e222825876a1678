//! Cross-entropy fused with the output head, forward and backward in one pass over the vocabulary.
use super::matmul::{decode_rows, matmul_bwd};
use crate::cpu::int8::quantize_rows;
use crate::cpu::matrix::CpuMatrix;
use crate::cpu::vector::exp_sub_sum;
use crate::cpu::Numerics;
use crate::formats::quant::QK;
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
///
/// Under `Numerics::Int8` with a quantized head whose vocabulary is whole blocks of 32, both head
/// products are the 8-bit ones (`Panels::matmul_int8_part`): the logits from the hidden rows
/// quantized once, dhidden's sum from each chunk's exp values quantized per block of 32 against the
/// head's 8-bit transpose. The softmax, the sums and the target's term stay f32.
pub fn cross_entropy(hidden: &[f32], targets: &[u32], weights: &[f32], head: &CpuMatrix, numerics: Numerics, dhidden: &mut [f32]) -> f64 {
    let (vocab, n) = (head.rows(), head.cols());
    let r = targets.len();
    assert!(hidden.len() >= r * n && dhidden.len() >= r * n && weights.len() == r, "cross_entropy: bad shapes");
    assert!(targets.iter().all(|&t| (t as usize) < vocab), "cross_entropy: target outside the vocabulary");
    dhidden[..r * n].fill(0.0);
    let mut state = vec![(f32::NEG_INFINITY, 0f32, 0f32, 0f32); r]; // (max, sum, target logit, sum without the target)
    let mut buf = Vec::new();
    let chunk = CE_CHUNK.min(vocab);
    let mut logits = vec![0f32; r * chunk];
    let eight_bit = match head {
        CpuMatrix::Quant(p) if numerics == Numerics::Int8 && vocab % QK == 0 && n % QK == 0 => Some((p, quantize_rows(hidden, r, n))),
        _ => None,
    };
    for v0 in (0..vocab).step_by(CE_CHUNK) {
        let v1 = (v0 + CE_CHUNK).min(vocab);
        let c = v1 - v0;
        let wc = match &eight_bit {
            Some((p, hq)) => {
                p.matmul_int8_part(hq, r, v0..v1, 0..n / QK, &mut logits[..r * c], false);
                None
            }
            None => {
                decode_rows(head, v0, v1, &mut buf);
                let wc = CpuMatrix::Dense { rows: c, cols: n, w: std::mem::take(&mut buf) };
                wc.matmul(hidden, r, &mut logits[..r * c]);
                Some(wc)
            }
        };
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
        match (wc, &eight_bit) {
            (Some(wc), _) => {
                matmul_bwd(&logits, r, &wc, Numerics::Exact, dhidden, true);
                let CpuMatrix::Dense { w, .. } = wc else { unreachable!() };
                buf = w;
            }
            (None, Some((p, _))) => {
                let eq = quantize_rows(&logits[..r * c], r, c);
                p.transposed_q8().matmul_int8_part(&eq, r, 0..n, v0 / QK..v1 / QK, dhidden, true);
            }
            (None, None) => unreachable!(),
        }
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
