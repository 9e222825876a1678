//! Plain, slow, obviously right f64 versions of the training ops, forward and backward, llm.c style:
//! the backward ops are checked against central finite differences of these forwards, and every fast
//! backend kernel is checked against these. Buffers are flat row-major, as in the `Backend` trait.
use crate::backend::AttnShape;
use crate::config::RopeStyle;

/// out = x / sqrt(mean(x²) + eps) · w, per row of `n`.
pub fn rmsnorm_fwd(x: &[f64], w: &[f64], n: usize, eps: f64) -> Vec<f64> {
    let mut out = vec![0.0; x.len()];
    for (o, xr) in out.chunks_exact_mut(n).zip(x.chunks_exact(n)) {
        let inv = 1.0 / (xr.iter().map(|v| v * v).sum::<f64>() / n as f64 + eps).sqrt();
        for j in 0..n {
            o[j] = xr[j] * inv * w[j];
        }
    }
    out
}

/// (dx, dw) of `rmsnorm_fwd` given dy.
pub fn rmsnorm_bwd(dy: &[f64], x: &[f64], w: &[f64], n: usize, eps: f64) -> (Vec<f64>, Vec<f64>) {
    let mut dx = vec![0.0; x.len()];
    let mut dw = vec![0.0; n];
    for ((d, xr), g) in dx.chunks_exact_mut(n).zip(x.chunks_exact(n)).zip(dy.chunks_exact(n)) {
        let inv = 1.0 / (xr.iter().map(|v| v * v).sum::<f64>() / n as f64 + eps).sqrt();
        // y_j = x_j·inv·w_j; ∂inv/∂x_k = −inv³·x_k/n.
        let dot: f64 = (0..n).map(|j| g[j] * w[j] * xr[j]).sum();
        for k in 0..n {
            d[k] = g[k] * w[k] * inv - inv * inv * inv * xr[k] * dot / n as f64;
            dw[k] += g[k] * xr[k] * inv;
        }
    }
    (dx, dw)
}

/// The (first, second) index of each rotated pair of a head.
pub fn rope_pairs(head_dim: usize, style: RopeStyle) -> Vec<(usize, usize)> {
    let half = head_dim / 2;
    (0..half)
        .map(|i| match style {
            RopeStyle::Interleaved => (2 * i, 2 * i + 1),
            RopeStyle::Half => (i, i + half),
        })
        .collect()
}

/// Rotates each head of each row by angle position·θ^(−2i/d) (`sign` = −1: the inverse rotation).
fn rope_rotate(x: &mut [f64], n_heads: usize, head_dim: usize, positions: &[u32], theta: f64, style: RopeStyle, sign: f64) {
    let pairs = rope_pairs(head_dim, style);
    for (xr, &p) in x.chunks_exact_mut(n_heads * head_dim).zip(positions) {
        for h in xr.chunks_exact_mut(head_dim) {
            for (i, &(a, b)) in pairs.iter().enumerate() {
                let ang = p as f64 / theta.powf(2.0 * i as f64 / head_dim as f64);
                let (c, s) = (ang.cos(), sign * ang.sin());
                let (x0, x1) = (h[a], h[b]);
                h[a] = x0 * c - x1 * s;
                h[b] = x0 * s + x1 * c;
            }
        }
    }
}

pub fn rope_fwd(x: &mut [f64], n_heads: usize, head_dim: usize, positions: &[u32], theta: f64, style: RopeStyle) {
    rope_rotate(x, n_heads, head_dim, positions, theta, style, 1.0)
}

/// dx from dy, in place: RoPE is a rotation, so its backward is the inverse rotation.
pub fn rope_bwd(d: &mut [f64], n_heads: usize, head_dim: usize, positions: &[u32], theta: f64, style: RopeStyle) {
    rope_rotate(d, n_heads, head_dim, positions, theta, style, -1.0)
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// silu(gate)·up.
pub fn swiglu_fwd(gate: &[f64], up: &[f64]) -> Vec<f64> {
    gate.iter().zip(up).map(|(g, u)| g * sigmoid(*g) * u).collect()
}

/// (d gate, d up).
pub fn swiglu_bwd(dy: &[f64], gate: &[f64], up: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let mut dg = vec![0.0; gate.len()];
    let mut du = vec![0.0; gate.len()];
    for i in 0..gate.len() {
        let (g, s) = (gate[i], sigmoid(gate[i]));
        dg[i] = dy[i] * up[i] * s * (1.0 + g * (1.0 - s));
        du[i] = dy[i] * g * s;
    }
    (dg, du)
}

/// y[m × rows] = x[m × cols]·Wᵀ for a row-major W (rows × cols).
pub fn matmul_fwd(x: &[f64], m: usize, w: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let mut y = vec![0.0; m * rows];
    for i in 0..m {
        for r in 0..rows {
            y[i * rows + r] = (0..cols).map(|c| x[i * cols + c] * w[r * cols + c]).sum();
        }
    }
    y
}

/// dx[m × cols] = dy[m × rows]·W.
pub fn matmul_bwd(dy: &[f64], m: usize, w: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let mut dx = vec![0.0; m * cols];
    for i in 0..m {
        for c in 0..cols {
            dx[i * cols + c] = (0..rows).map(|r| dy[i * rows + r] * w[r * cols + c]).sum();
        }
    }
    dx
}

/// The LoRA term s·(x·Aᵀ)·Bᵀ for A (r × din), B (dout × r): returns (y [m × dout], h = x·Aᵀ [m × r]).
#[allow(clippy::too_many_arguments)]
pub fn lora_fwd(x: &[f64], m: usize, a: &[f64], b: &[f64], r: usize, din: usize, dout: usize, s: f64) -> (Vec<f64>, Vec<f64>) {
    let h = matmul_fwd(x, m, a, r, din);
    let y = matmul_fwd(&h, m, b, dout, r).into_iter().map(|v| s * v).collect();
    (y, h)
}

/// (dA, dB, dx) of `lora_fwd`'s y given dy.
#[allow(clippy::too_many_arguments)]
pub fn lora_bwd(
    dy: &[f64],
    x: &[f64],
    m: usize,
    a: &[f64],
    b: &[f64],
    r: usize,
    din: usize,
    dout: usize,
    s: f64,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let h = matmul_fwd(x, m, a, r, din);
    let mut db = vec![0.0; dout * r];
    for o in 0..dout {
        for j in 0..r {
            db[o * r + j] = s * (0..m).map(|i| dy[i * dout + o] * h[i * r + j]).sum::<f64>();
        }
    }
    let dh: Vec<f64> = matmul_bwd(dy, m, b, dout, r).into_iter().map(|v| s * v).collect();
    let mut da = vec![0.0; r * din];
    for j in 0..r {
        for c in 0..din {
            da[j * din + c] = (0..m).map(|i| dh[i * r + j] * x[i * din + c]).sum();
        }
    }
    let dx = matmul_bwd(&dh, m, a, r, din);
    (da, db, dx)
}

/// Causal grouped-query attention over sequences `(row0, len)` of a packed batch: q and the output are
/// `[rows × n_heads·hd]`, k and v `[rows × n_kv_heads·hd]`; each row sees its own sequence's rows up to
/// itself. Returns (out, lse) with lse[row·n_heads + h] the log-sum-exp of that row's scaled scores.
pub fn attention_fwd(q: &[f64], k: &[f64], v: &[f64], seqs: &[(usize, usize)], s: AttnShape) -> (Vec<f64>, Vec<f64>) {
    let (hd, nh, nkv) = (s.head_dim, s.n_heads, s.n_kv_heads);
    let rows = q.len() / (nh * hd);
    let mut out = vec![0.0; rows * nh * hd];
    let mut lse = vec![0.0; rows * nh];
    let scale = 1.0 / (hd as f64).sqrt();
    for &(r0, len) in seqs {
        for h in 0..nh {
            let g = h / (nh / nkv);
            for i in 0..len {
                let qi = &q[(r0 + i) * nh * hd + h * hd..][..hd];
                let sc: Vec<f64> =
                    (0..=i).map(|j| scale * (0..hd).map(|d| qi[d] * k[(r0 + j) * nkv * hd + g * hd + d]).sum::<f64>()).collect();
                let mx = sc.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = sc.iter().map(|x| (x - mx).exp()).sum();
                lse[(r0 + i) * nh + h] = mx + sum.ln();
                for (j, x) in sc.iter().enumerate() {
                    let p = (x - mx).exp() / sum;
                    for d in 0..hd {
                        out[(r0 + i) * nh * hd + h * hd + d] += p * v[(r0 + j) * nkv * hd + g * hd + d];
                    }
                }
            }
        }
    }
    (out, lse)
}

/// (dq, dk, dv) of `attention_fwd`'s output given dout.
pub fn attention_bwd(
    dout: &[f64],
    q: &[f64],
    k: &[f64],
    v: &[f64],
    seqs: &[(usize, usize)],
    s: AttnShape,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (hd, nh, nkv) = (s.head_dim, s.n_heads, s.n_kv_heads);
    let (out, lse) = attention_fwd(q, k, v, seqs, s);
    let (mut dq, mut dk, mut dv) = (vec![0.0; q.len()], vec![0.0; k.len()], vec![0.0; v.len()]);
    let scale = 1.0 / (hd as f64).sqrt();
    let (qo, ko) = (|row: usize, h: usize| row * nh * hd + h * hd, |row: usize, g: usize| row * nkv * hd + g * hd);
    for &(r0, len) in seqs {
        for h in 0..nh {
            let g = h / (nh / nkv);
            for i in 0..len {
                let (qi, ri) = (qo(r0 + i, h), r0 + i);
                let dd: f64 = (0..hd).map(|d| dout[qi + d] * out[qi + d]).sum();
                for j in 0..=i {
                    let kj = ko(r0 + j, g);
                    let sc = scale * (0..hd).map(|d| q[qi + d] * k[kj + d]).sum::<f64>();
                    let p = (sc - lse[ri * nh + h]).exp();
                    let dp: f64 = (0..hd).map(|d| dout[qi + d] * v[kj + d]).sum();
                    let ds = p * (dp - dd);
                    for d in 0..hd {
                        dq[qi + d] += scale * ds * k[kj + d];
                        dk[kj + d] += scale * ds * q[qi + d];
                        dv[kj + d] += p * dout[qi + d];
                    }
                }
            }
        }
    }
    (dq, dk, dv)
}

/// Σ_i weight_i · (−log softmax(hidden_i·Wᵀ)[target_i]) for a head W (vocab × n), and d hidden.
pub fn cross_entropy(hidden: &[f64], targets: &[u32], weights: &[f64], w: &[f64], vocab: usize, n: usize) -> (f64, Vec<f64>) {
    let mut loss = 0.0;
    let mut dh = vec![0.0; hidden.len()];
    for (i, (&t, &wt)) in targets.iter().zip(weights).enumerate() {
        let logits = matmul_fwd(&hidden[i * n..(i + 1) * n], 1, w, vocab, n);
        let mx = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = logits.iter().map(|l| (l - mx).exp()).sum();
        loss += wt * (mx + sum.ln() - logits[t as usize]);
        for (vi, l) in logits.iter().enumerate() {
            let g = wt * ((l - mx).exp() / sum - if vi == t as usize { 1.0 } else { 0.0 });
            for c in 0..n {
                dh[i * n + c] += g * w[vi * n + c];
            }
        }
    }
    (loss, dh)
}

/// One torch.optim.AdamW step (t ≥ 1) on p with gradient g·grad_scale and moments m, v.
#[allow(clippy::too_many_arguments)]
pub fn adamw_step(
    p: &mut [f64],
    g: &[f64],
    m: &mut [f64],
    v: &mut [f64],
    lr: f64,
    betas: (f64, f64),
    eps: f64,
    wd: f64,
    t: u32,
    grad_scale: f64,
) {
    for i in 0..p.len() {
        let gi = g[i] * grad_scale;
        p[i] *= 1.0 - lr * wd;
        m[i] = betas.0 * m[i] + (1.0 - betas.0) * gi;
        v[i] = betas.1 * v[i] + (1.0 - betas.1) * gi * gi;
        let mh = m[i] / (1.0 - betas.0.powi(t as i32));
        let vh = v[i] / (1.0 - betas.1.powi(t as i32));
        p[i] -= lr * mh / (vh.sqrt() + eps);
    }
}
