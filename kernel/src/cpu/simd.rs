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

/// y += a·x over equal lengths.
pub fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

/// Dot products of one 4-bit weight row with R activation rows. The row is `k/32` blocks: 16 bytes of
/// nibbles each (low nibbles are elements 0..16, high nibbles 16..32) and one (d, m) pair per block.
/// `xs[r]` points at activation row r (k values).
pub fn q4_row_dots<const R: usize>(qs: &[u8], dm: &[[f32; 2]], xs: [&[f32]; R]) -> [f32; R] {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: AVX-512F present; every pointer offset stays inside the slices (k = 32·blocks).
        return unsafe { q4_row_dots_avx512::<R>(qs, dm, xs) };
    }
    let mut w = [0f32; 32];
    let mut out = [0f32; R];
    for (b, (q, &[d, m])) in qs.chunks_exact(16).zip(dm).enumerate() {
        for j in 0..16 {
            w[j] = (q[j] & 0xF) as f32 * d + m;
            w[j + 16] = (q[j] >> 4) as f32 * d + m;
        }
        for r in 0..R {
            out[r] += dot_portable(&w, &xs[r][32 * b..32 * b + 32]);
        }
    }
    out
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn q4_row_dots_avx512<const R: usize>(qs: &[u8], dm: &[[f32; 2]], xs: [&[f32]; R]) -> [f32; R] {
    let nb = dm.len();
    let mut acc = [_mm512_setzero_ps(); R];
    let mask = _mm512_set1_epi32(0xF);
    for b in 0..nb {
        let raw = _mm_loadu_si128(qs.as_ptr().add(16 * b) as *const __m128i);
        let q = _mm512_cvtepu8_epi32(raw);
        let lo = _mm512_cvtepi32_ps(_mm512_and_si512(q, mask));
        let hi = _mm512_cvtepi32_ps(_mm512_srli_epi32::<4>(q));
        let [d, m] = *dm.get_unchecked(b);
        let (vd, vm) = (_mm512_set1_ps(d), _mm512_set1_ps(m));
        let wlo = _mm512_fmadd_ps(lo, vd, vm);
        let whi = _mm512_fmadd_ps(hi, vd, vm);
        for r in 0..R {
            let p = xs[r].as_ptr().add(32 * b);
            acc[r] = _mm512_fmadd_ps(wlo, _mm512_loadu_ps(p), acc[r]);
            acc[r] = _mm512_fmadd_ps(whi, _mm512_loadu_ps(p.add(16)), acc[r]);
        }
    }
    let mut out = [0f32; R];
    for r in 0..R {
        out[r] = _mm512_reduce_add_ps(acc[r]);
    }
    out
}

/// Dot products of one 8-bit weight row (blocks of 32 signed bytes with one scale each) with R
/// activation rows.
pub fn q8_row_dots<const R: usize>(qs: &[i8], d: &[f32], xs: [&[f32]; R]) -> [f32; R] {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: as for q4_row_dots.
        return unsafe { q8_row_dots_avx512::<R>(qs, d, xs) };
    }
    let mut w = [0f32; 32];
    let mut out = [0f32; R];
    for (b, (q, &s)) in qs.chunks_exact(32).zip(d).enumerate() {
        for j in 0..32 {
            w[j] = q[j] as f32 * s;
        }
        for r in 0..R {
            out[r] += dot_portable(&w, &xs[r][32 * b..32 * b + 32]);
        }
    }
    out
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn q8_row_dots_avx512<const R: usize>(qs: &[i8], d: &[f32], xs: [&[f32]; R]) -> [f32; R] {
    let nb = d.len();
    let mut acc = [_mm512_setzero_ps(); R];
    for b in 0..nb {
        let p = qs.as_ptr().add(32 * b) as *const __m128i;
        let vd = _mm512_set1_ps(*d.get_unchecked(b));
        let w0 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(p))), vd);
        let w1 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(p.add(1)))), vd);
        for r in 0..R {
            let x = xs[r].as_ptr().add(32 * b);
            acc[r] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x), acc[r]);
            acc[r] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x.add(16)), acc[r]);
        }
    }
    let mut out = [0f32; R];
    for r in 0..R {
        out[r] = _mm512_reduce_add_ps(acc[r]);
    }
    out
}

/// Dense f32 row against R activation rows.
pub fn f32_row_dots<const R: usize>(w: &[f32], xs: [&[f32]; R]) -> [f32; R] {
    let mut out = [0f32; R];
    for r in 0..R {
        out[r] = dot(w, xs[r]);
    }
    out
}
