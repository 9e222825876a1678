//! The innermost loops of the CPU backend: dot products of f32 activations with f32, 4-bit and 8-bit
//! weight rows. An AVX-512 version (checked at run time) and a portable one; both compute the same
//! sums, only the order of additions differs.
//!
//! Quantized rows are dequantized in registers (x = q·d + m, exact in f32), so the quantized path gives
//! the same products as multiplying by the dequantized matrix: no activation quantization.
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

pub fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Σ a[i]·b[i].
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: the CPU supports AVX-512F (checked above).
        return unsafe { dot_avx512(a, b) };
    }
    dot_portable(a, b)
}

fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    // Eight independent partial sums let the compiler vectorize without reassociating.
    let mut acc = [0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ar.iter().zip(br) {
        s += x * y;
    }
    s
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len();
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc0 = _mm512_setzero_ps();
    let mut acc1 = _mm512_setzero_ps();
    let mut i = 0;
    while i + 32 <= n {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i + 16)), _mm512_loadu_ps(pb.add(i + 16)), acc1);
        i += 32;
    }
    while i + 16 <= n {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)), acc0);
        i += 16;
    }
    let mut s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
    while i < n {
        s += *pa.add(i) * *pb.add(i);
        i += 1;
    }
    s
}

/// Replaces each v by exp(v − max) and returns their sum (the softmax numerator and denominator).
pub fn exp_sub_sum(v: &mut [f32], max: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: the CPU supports AVX-512F (checked above).
        return unsafe { exp_sub_sum_avx512(v, max) };
    }
    let mut sum = 0.0;
    for x in v.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    sum
}

/// exp by range reduction: x = n·ln2 + r with |r| ≤ ln2/2, exp(r) by its Taylor polynomial of degree 7
/// (relative error below 1e-7, about one f32 ulp), then scaled by 2ⁿ. Inputs below −104 give 0 and
/// above 88 give +inf, as expf.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn exp_avx512(x: __m512) -> __m512 {
    const C: [f32; 8] = [1.0, 1.0, 0.5, 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0, 1.0 / 720.0, 1.0 / 5040.0];
    let x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0)), _mm512_set1_ps(89.0));
    let k = _mm512_roundscale_ps::<0>(_mm512_mul_ps(x, _mm512_set1_ps(std::f32::consts::LOG2_E)));
    let r = _mm512_fnmadd_ps(k, _mm512_set1_ps(1.428_606_8e-6), _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693_145_75), x));
    let mut p = _mm512_set1_ps(C[7]);
    for c in C[..7].iter().rev() {
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(*c));
    }
    _mm512_scalef_ps(p, k)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn exp_sub_sum_avx512(v: &mut [f32], max: f32) -> f32 {
    let mx = _mm512_set1_ps(max);
    let mut acc = _mm512_setzero_ps();
    for ch in v.chunks_mut(16) {
        let n = ch.len();
        let mask: __mmask16 = if n == 16 { 0xFFFF } else { ((1u32 << n) - 1) as __mmask16 };
        let e = exp_avx512(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, ch.as_ptr()), mx));
        _mm512_mask_storeu_ps(ch.as_mut_ptr(), mask, e);
        acc = _mm512_add_ps(acc, _mm512_maskz_mov_ps(mask, e));
    }
    _mm512_reduce_add_ps(acc)
}

/// out = silu(gate)·up = gate / (1 + exp(−gate)) · up, elementwise.
pub fn swiglu(gate: &[f32], up: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: AVX-512F checked; the three slices have equal lengths (asserted inside).
        return unsafe { swiglu_avx512(gate, up, out) };
    }
    for ((o, g), u) in out.iter_mut().zip(gate).zip(up) {
        *o = g / (1.0 + (-g).exp()) * u;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn swiglu_avx512(gate: &[f32], up: &[f32], out: &mut [f32]) {
    assert!(gate.len() == out.len() && up.len() == out.len());
    let one = _mm512_set1_ps(1.0);
    for i in (0..out.len()).step_by(16) {
        let n = (out.len() - i).min(16);
        let mask: __mmask16 = if n == 16 { 0xFFFF } else { ((1u32 << n) - 1) as __mmask16 };
        let g = _mm512_maskz_loadu_ps(mask, gate.as_ptr().add(i));
        let u = _mm512_maskz_loadu_ps(mask, up.as_ptr().add(i));
        let e = exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), g));
        let o = _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(one, e)), u);
        _mm512_mask_storeu_ps(out.as_mut_ptr().add(i), mask, o);
    }
}

/// out[i·ld + j] = Σ_k x[i·k + kk]·W[j, kk] for activation rows i < m and weight rows j in `rows` of the
/// dense row-major `w`; `k` is the row length. Few activation rows: each weight row is loaded once per
/// tile of up to eight activation rows, in registers.
///
/// # Safety
/// `out` must be valid for writes at every (i, j) cell named above, and no other thread may write them.
pub unsafe fn rows_matmul(w: &[f32], k: usize, rows: std::ops::Range<usize>, x: &[f32], m: usize, out: *mut f32, ld: usize) {
    assert!(x.len() >= m * k && k % 32 == 0);
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        assert!(w.len() >= rows.end * k);
        return f32_rows_avx512(w, k, rows, x, m, out, ld);
    }
    for j in rows {
        for i in 0..m {
            *out.add(i * ld + j) = dot_portable(&w[j * k..(j + 1) * k], &x[i * k..(i + 1) * k]);
        }
    }
}

/// Dense weight rows against activation rows, tiles of up to eight activation rows per weight row.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn f32_rows_avx512(w: &[f32], k: usize, rows: std::ops::Range<usize>, x: &[f32], m: usize, out: *mut f32, ld: usize) {
    for j in rows {
        let mut i0 = 0;
        while i0 < m {
            let t = (m - i0).min(8);
            let xp = x.as_ptr().add(i0 * k);
            let o = out.add(i0 * ld + j);
            match t {
                1 => f32_tile::<1>(w, k, j, xp, o, ld),
                2 => f32_tile::<2>(w, k, j, xp, o, ld),
                3 => f32_tile::<3>(w, k, j, xp, o, ld),
                4 => f32_tile::<4>(w, k, j, xp, o, ld),
                5 => f32_tile::<5>(w, k, j, xp, o, ld),
                6 => f32_tile::<6>(w, k, j, xp, o, ld),
                7 => f32_tile::<7>(w, k, j, xp, o, ld),
                _ => f32_tile::<8>(w, k, j, xp, o, ld),
            }
            i0 += t;
        }
    }
}

/// Block `b` (32 values) of weight row `j` as two vectors of 16.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn f32_block(w: &[f32], j: usize, b: usize, nb: usize) -> (__m512, __m512) {
    let p = w.as_ptr().add((j * nb + b) * 32);
    (_mm512_loadu_ps(p), _mm512_loadu_ps(p.add(16)))
}

/// acc0/acc1[q] += the two halves of weight block `b` times those of activation row q (row stride `k`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn fma_block<const T: usize>((w0, w1): (__m512, __m512), xp: *const f32, k: usize, b: usize, acc0: &mut [__m512; T], acc1: &mut [__m512; T]) {
    for q in 0..T {
        let p = xp.add(q * k + 32 * b);
        acc0[q] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(p), acc0[q]);
        acc1[q] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(p.add(16)), acc1[q]);
    }
}

/// Weight row `j` against T consecutive activation rows starting at `xp`. Each activation row keeps
/// separate accumulators for the two halves of a block, and single rows also alternate between two
/// pairs by block parity, so no FMA waits on the previous one (the latency, not the throughput, bounds
/// a dot product with one accumulator).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn f32_tile<const T: usize>(w: &[f32], k: usize, j: usize, xp: *const f32, o: *mut f32, ld: usize) {
    let nb = k / 32;
    let z = _mm512_setzero_ps();
    let (mut a0, mut a1) = ([z; T], [z; T]);
    if T <= 2 {
        let (mut c0, mut c1) = ([z; T], [z; T]);
        let mut b = 0;
        while b + 1 < nb {
            fma_block(f32_block(w, j, b, nb), xp, k, b, &mut a0, &mut a1);
            fma_block(f32_block(w, j, b + 1, nb), xp, k, b + 1, &mut c0, &mut c1);
            b += 2;
        }
        if b < nb {
            fma_block(f32_block(w, j, b, nb), xp, k, b, &mut a0, &mut a1);
        }
        for q in 0..T {
            a0[q] = _mm512_add_ps(a0[q], c0[q]);
            a1[q] = _mm512_add_ps(a1[q], c1[q]);
        }
    } else {
        for b in 0..nb {
            fma_block(f32_block(w, j, b, nb), xp, k, b, &mut a0, &mut a1);
        }
    }
    for q in 0..T {
        *o.add(q * ld) = _mm512_reduce_add_ps(_mm512_add_ps(a0[q], a1[q]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector exp against the C library's expf: within 2 ulp-ish relative error over the whole
    /// range softmax feeds it (down to where exp underflows), and the sum matches.
    #[test]
    fn exp_sub_sum_matches_libm() {
        let mut v: Vec<f32> = (0..2000).map(|i| -(i as f32) * 0.0537 + 3.0).collect();
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
        let gate: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) * 0.21).collect();
        let up: Vec<f32> = (0..1000).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect();
        let mut out = vec![0f32; 1000];
        swiglu(&gate, &up, &mut out);
        for ((o, g), u) in out.iter().zip(&gate).zip(&up) {
            let want = (*g as f64 / (1.0 + (-*g as f64).exp()) * *u as f64) as f32;
            assert!((o - want).abs() <= 4e-7 * want.abs() + 1e-30, "g={g}: {o} vs {want}");
        }
    }
}
