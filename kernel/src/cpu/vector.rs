//! The innermost f32 loops of the CPU backend, written once over the SIMD layer (`simd/`) and compiled
//! per ISA: dot products, the softmax exponential, SwiGLU, RMSNorm, RoPE, and the dense-weight row
//! kernel. Every ISA computes the same sums; only the order of additions differs.
use super::simd::{math, Simd};
use crate::simd_fn;

/// Activation rows per tile of the dense row kernel, at most.
const DENSE_TILE_MAX: usize = 8;

simd_fn! {
    /// Σ a[i]·b[i] over the shorter of the two.
    pub fn dot(a: &[f32], b: &[f32]) -> f32 => dot_k
}

#[inline(always)]
unsafe fn dot_k<S: Simd>(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let (mut acc0, mut acc1) = (S::zero(), S::zero());
    let mut i = 0;
    while i + 32 <= n {
        acc0 = S::fma(S::load(pa.add(i)), S::load(pb.add(i)), acc0);
        acc1 = S::fma(S::load(pa.add(i + 16)), S::load(pb.add(i + 16)), acc1);
        i += 32;
    }
    if i < n {
        let r = (n - i).min(16);
        acc0 = S::fma(S::load_n(pa.add(i), r), S::load_n(pb.add(i), r), acc0);
        i += r;
    }
    if i < n {
        acc1 = S::fma(S::load_n(pa.add(i), n - i), S::load_n(pb.add(i), n - i), acc1);
    }
    S::reduce_add(S::add(acc0, acc1))
}

simd_fn! {
    /// Replaces each v by exp(v − max) and returns their sum (the softmax numerator and denominator).
    pub fn exp_sub_sum(v: &mut [f32], max: f32) -> f32 => exp_sub_sum_k
}

#[inline(always)]
unsafe fn exp_sub_sum_k<S: Simd>(v: &mut [f32], max: f32) -> f32 {
    let mx = S::splat(max);
    let mut acc = S::zero();
    let mut ch = v.chunks_exact_mut(16);
    for c in &mut ch {
        let e = math::exp::<S>(S::sub(S::load(c.as_ptr()), mx));
        S::store(c.as_mut_ptr(), e);
        acc = S::add(acc, e);
    }
    let tail = ch.into_remainder();
    let mut sum = S::reduce_add(acc);
    if !tail.is_empty() {
        let e = math::exp::<S>(S::sub(S::load_n(tail.as_ptr(), tail.len()), mx));
        S::store_n(tail.as_mut_ptr(), tail.len(), e);
        sum += tail.iter().sum::<f32>();
    }
    sum
}

simd_fn! {
    /// out = silu(gate)·up = gate / (1 + exp(−gate)) · up, elementwise (over the shortest slice).
    pub fn swiglu(gate: &[f32], up: &[f32], out: &mut [f32]) => swiglu_k
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

simd_fn! {
    /// Rotates the heads of one row: pairs (a[i], b[i]) become (a·c − b·s, a·s + b·c) with the pair's
    /// cos/sin. `pairs` lists each head's (first, second) index per frequency i.
    pub fn rope_row(row: &mut [f32], head_dim: usize, pairs: &[(usize, usize)], cs: &[(f32, f32)]) => rope_row_k
}

#[inline(always)]
unsafe fn rope_row_k<S: Simd>(row: &mut [f32], head_dim: usize, pairs: &[(usize, usize)], cs: &[(f32, f32)]) {
    for h in row.chunks_exact_mut(head_dim) {
        for (&(a, b), &(c, s)) in pairs.iter().zip(cs) {
            let (x0, x1) = (h[a], h[b]);
            h[a] = x0 * c - x1 * s;
            h[b] = x0 * s + x1 * c;
        }
    }
}

simd_fn! {
    /// out[i·ld + j] = Σ_kk x[i·k + kk]·W[j, kk] for activation rows i < m and weight rows j in `rows` of
    /// the dense row-major `w`; `k` is the row length, a multiple of 32. Few activation rows: each weight
    /// row is loaded once per tile of activation rows, kept in registers.
    ///
    /// # Safety
    /// `out` must be valid for writes at every (i, j) cell named above, and no other thread may write them.
    pub unsafe fn rows_matmul(w: &[f32], k: usize, rows: std::ops::Range<usize>, x: &[f32], m: usize, out: *mut f32, ld: usize) => rows_matmul_k
}

#[inline(always)]
unsafe fn rows_matmul_k<S: Simd>(w: &[f32], k: usize, rows: std::ops::Range<usize>, x: &[f32], m: usize, out: *mut f32, ld: usize) {
    assert!(x.len() >= m * k && k % 32 == 0 && w.len() >= rows.end * k);
    let tile = S::TILE.min(DENSE_TILE_MAX);
    for j in rows {
        let wr = w.as_ptr().add(j * k);
        let mut i0 = 0;
        while i0 < m {
            let t = (m - i0).min(tile);
            let (xp, o) = (x.as_ptr().add(i0 * k), out.add(i0 * ld + j));
            match t {
                1 => dense_tile::<S, 1>(wr, k, xp, o, ld),
                2 => dense_tile::<S, 2>(wr, k, xp, o, ld),
                3 => dense_tile::<S, 3>(wr, k, xp, o, ld),
                4 => dense_tile::<S, 4>(wr, k, xp, o, ld),
                5 => dense_tile::<S, 5>(wr, k, xp, o, ld),
                6 => dense_tile::<S, 6>(wr, k, xp, o, ld),
                7 => dense_tile::<S, 7>(wr, k, xp, o, ld),
                _ => dense_tile::<S, 8>(wr, k, xp, o, ld),
            }
            i0 += t;
        }
    }
}

/// Weight row `wr` (k values) against T consecutive activation rows at `xp` (stride k). Each block of 32
/// feeds two independent accumulators per row (more for short tiles, by `S::chains`), so no FMA waits
/// on the previous one (their latency, not their throughput, bounds a dot product with one chain).
#[inline(always)]
unsafe fn dense_tile<S: Simd, const T: usize>(wr: *const f32, k: usize, xp: *const f32, o: *mut f32, ld: usize) {
    let na = 2 * S::chains(T).min(2);
    let mut acc = [[S::zero(); 4]; T];
    let mut b = 0;
    while b < k / 32 {
        let (w0, w1) = (S::load(wr.add(32 * b)), S::load(wr.add(32 * b + 16)));
        let c = (2 * b) % na;
        for (q, a) in acc.iter_mut().enumerate() {
            let p = xp.add(q * k + 32 * b);
            a[c] = S::fma(w0, S::load(p), a[c]);
            a[c + 1] = S::fma(w1, S::load(p.add(16)), a[c + 1]);
        }
        b += 1;
    }
    for (q, a) in acc.iter().enumerate() {
        let mut s = a[0];
        for v in &a[1..na] {
            s = S::add(s, *v);
        }
        *o.add(q * ld) = S::reduce_add(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector exp against the C library's expf: within 2 ulp-ish relative error over the whole
    /// range softmax feeds it (down to where exp underflows), and the sum matches.
    #[test]
    fn exp_sub_sum_matches_libm() {
        let mut v: Vec<f32> = (0..2001).map(|i| -(i as f32) * 0.0537 + 3.0).collect();
        let want: Vec<f32> = v.iter().map(|x| (x - 3.0).exp()).collect();
        let sum = exp_sub_sum(&mut v, 3.0);
        for (a, b) in v.iter().zip(&want) {
            assert!((a - b).abs() <= 2.5e-7 * b.abs() + 1e-38, "{a} vs {b}");
        }
        let want_sum: f64 = want.iter().map(|&x| x as f64).sum();
        assert!((sum as f64 - want_sum).abs() < 1e-6 * want_sum);
    }

    /// The vector SwiGLU against the scalar formula, across the range the MLP sees and past where
    /// exp(−g) overflows (g < −88: silu → −0).
    #[test]
    fn swiglu_matches_scalar() {
        let gate: Vec<f32> = (0..1001).map(|i| (i as f32 - 500.0) * 0.21).collect();
        let up: Vec<f32> = (0..1001).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect();
        let mut out = vec![0f32; 1001];
        swiglu(&gate, &up, &mut out);
        for ((o, g), u) in out.iter().zip(&gate).zip(&up) {
            let want = (*g as f64 / (1.0 + (-*g as f64).exp()) * *u as f64) as f32;
            assert!((o - want).abs() <= 4e-7 * want.abs() + 1e-30, "g={g}: {o} vs {want}");
        }
    }
}
