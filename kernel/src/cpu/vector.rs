//! The innermost f32 loops that several ops share, written once over the SIMD layer (`simd/`) and
//! compiled per ISA: dot products, y += a·x, the softmax exponential, and the dense-weight row kernel.
//! Every ISA computes the same sums; only the order of additions differs.
use super::simd::{math, Simd};
use crate::simd_fn;

/// Activation rows per tile of the dense row kernel, at most.
const DENSE_TILE_MAX: usize = 8;

simd_fn! {
    /// Σ a[i]·b[i] over the shorter of the two.
    pub fn dot(a: &[f32], b: &[f32]) -> f32 => dot_k
}

#[inline(always)]
pub(crate) unsafe fn dot_k<S: Simd>(a: &[f32], b: &[f32]) -> f32 {
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
    /// y += a·x over the shorter of the two.
    pub fn axpy(a: f32, x: &[f32], y: &mut [f32]) => axpy_k
}

#[inline(always)]
unsafe fn axpy_k<S: Simd>(a: f32, x: &[f32], y: &mut [f32]) {
    let n = x.len().min(y.len());
    let av = S::splat(a);
    let (px, py) = (x.as_ptr(), y.as_mut_ptr());
    let mut i = 0;
    while i + 16 <= n {
        S::store(py.add(i), S::fma(av, S::load(px.add(i)), S::load(py.add(i))));
        i += 16;
    }
    if i < n {
        let r = n - i;
        S::store_n(py.add(i), r, S::fma(av, S::load_n(px.add(i), r), S::load_n(py.add(i), r)));
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
    assert!(x.len() >= m * k && k.is_multiple_of(32) && w.len() >= rows.end * k);
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
}
