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

/// A weight matrix in one of the CPU encodings, borrowed for a product.
#[derive(Clone, Copy)]
pub enum RowsRef<'a> {
    F32 { w: &'a [f32] },
    /// 16 bytes of nibbles per block of 32 (low nibbles are elements 0..16, high 16..32), (d, m) per block.
    Q4 { qs: &'a [u8], dm: &'a [[f32; 2]] },
    /// 32 signed bytes per block, one scale per block.
    Q8 { qs: &'a [i8], d: &'a [f32] },
}

/// out[i·ld + j] = Σ_k x[i·k + kk]·W[j, kk] for activation rows i < m and weight rows j in `rows`;
/// `k` is the row length. Few activation rows: each weight row is decoded once per tile of up to four
/// activation rows, in registers.
///
/// # Safety
/// `out` must be valid for writes at every (i, j) cell named above, and no other thread may write them.
pub unsafe fn rows_matmul(w: RowsRef<'_>, k: usize, rows: std::ops::Range<usize>, x: &[f32], m: usize, out: *mut f32, ld: usize) {
    assert!(x.len() >= m * k && k % 32 == 0);
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        match w {
            RowsRef::Q4 { qs, dm } => {
                assert!(qs.len() >= rows.end * k / 2 && dm.len() >= rows.end * k / 32);
                return q4_rows_avx512(qs, dm, k, rows, x, m, out, ld);
            }
            RowsRef::Q8 { qs, d } => {
                assert!(qs.len() >= rows.end * k && d.len() >= rows.end * k / 32);
                return q8_rows_avx512(qs, d, k, rows, x, m, out, ld);
            }
            RowsRef::F32 { w } => {
                assert!(w.len() >= rows.end * k);
                return f32_rows_avx512(w, k, rows, x, m, out, ld);
            }
        }
    }
    let mut buf = vec![0f32; k];
    for j in rows {
        decode_row(w, k, j, &mut buf);
        for i in 0..m {
            *out.add(i * ld + j) = dot_portable(&buf, &x[i * k..(i + 1) * k]);
        }
    }
}

/// Writes weight row `j` as f32 (portable path).
fn decode_row(w: RowsRef<'_>, k: usize, j: usize, o: &mut [f32]) {
    let nb = k / 32;
    match w {
        RowsRef::F32 { w } => o.copy_from_slice(&w[j * k..(j + 1) * k]),
        RowsRef::Q4 { qs, dm } => {
            for b in 0..nb {
                let q = &qs[(j * nb + b) * 16..][..16];
                let [d, m] = dm[j * nb + b];
                for t in 0..16 {
                    o[32 * b + t] = (q[t] & 0xF) as f32 * d + m;
                    o[32 * b + t + 16] = (q[t] >> 4) as f32 * d + m;
                }
            }
        }
        RowsRef::Q8 { qs, d } => {
            for b in 0..nb {
                for t in 0..32 {
                    o[32 * b + t] = qs[(j * nb + b) * 32 + t] as f32 * d[j * nb + b];
                }
            }
        }
    }
}

/// One kernel body per encoding: `$decode` yields block `b` of weight row `j` as two vectors of 16
/// (w0, w1); the loops over weight rows and activation tiles are shared. Each activation row keeps
/// separate accumulators for the two halves of a block, and single rows also alternate between two
/// pairs by block parity, so no FMA waits on the previous one (the latency, not the throughput, bounds
/// a dot product with one accumulator).
#[cfg(target_arch = "x86_64")]
macro_rules! rows_kernel {
    ($name:ident, $tile:ident, ($($arg:ident : $ty:ty),*), |$j:ident, $b:ident, $nb:ident| $decode:block) => {
        #[target_feature(enable = "avx512f")]
        #[allow(clippy::too_many_arguments)]
        unsafe fn $name($($arg: $ty,)* k: usize, rows: std::ops::Range<usize>, x: &[f32], m: usize, out: *mut f32, ld: usize) {
            for j in rows {
                let mut i0 = 0;
                while i0 < m {
                    let t = (m - i0).min(8);
                    let xp = x.as_ptr().add(i0 * k);
                    let o = out.add(i0 * ld + j);
                    match t {
                        1 => $tile::<1>($($arg,)* k, j, xp, o, ld),
                        2 => $tile::<2>($($arg,)* k, j, xp, o, ld),
                        3 => $tile::<3>($($arg,)* k, j, xp, o, ld),
                        4 => $tile::<4>($($arg,)* k, j, xp, o, ld),
                        5 => $tile::<5>($($arg,)* k, j, xp, o, ld),
                        6 => $tile::<6>($($arg,)* k, j, xp, o, ld),
                        7 => $tile::<7>($($arg,)* k, j, xp, o, ld),
                        _ => $tile::<8>($($arg,)* k, j, xp, o, ld),
                    }
                    i0 += t;
                }
            }
        }

        /// Weight row `j` against T consecutive activation rows starting at `xp`.
        #[target_feature(enable = "avx512f")]
        #[allow(clippy::too_many_arguments)]
        unsafe fn $tile<const T: usize>($($arg: $ty,)* k: usize, $j: usize, xp: *const f32, o: *mut f32, ld: usize) {
            let $nb = k / 32;
            let z = _mm512_setzero_ps();
            let (mut a0, mut a1) = ([z; T], [z; T]);
            if T <= 2 {
                let (mut c0, mut c1) = ([z; T], [z; T]);
                let mut $b = 0;
                while $b + 1 < $nb {
                    let (w0, w1): (__m512, __m512) = $decode;
                    let (v0, v1): (__m512, __m512) = { let $b = $b + 1; $decode };
                    for q in 0..T {
                        let p = xp.add(q * k + 32 * $b);
                        a0[q] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(p), a0[q]);
                        a1[q] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(p.add(16)), a1[q]);
                        c0[q] = _mm512_fmadd_ps(v0, _mm512_loadu_ps(p.add(32)), c0[q]);
                        c1[q] = _mm512_fmadd_ps(v1, _mm512_loadu_ps(p.add(48)), c1[q]);
                    }
                    $b += 2;
                }
                if $b < $nb {
                    let (w0, w1): (__m512, __m512) = $decode;
                    for q in 0..T {
                        let p = xp.add(q * k + 32 * $b);
                        a0[q] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(p), a0[q]);
                        a1[q] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(p.add(16)), a1[q]);
                    }
                }
                for q in 0..T {
                    a0[q] = _mm512_add_ps(a0[q], c0[q]);
                    a1[q] = _mm512_add_ps(a1[q], c1[q]);
                }
            } else {
                for $b in 0..$nb {
                    let (w0, w1): (__m512, __m512) = $decode;
                    for q in 0..T {
                        let p = xp.add(q * k + 32 * $b);
                        a0[q] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(p), a0[q]);
                        a1[q] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(p.add(16)), a1[q]);
                    }
                }
            }
            for q in 0..T {
                *o.add(q * ld) = _mm512_reduce_add_ps(_mm512_add_ps(a0[q], a1[q]));
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
rows_kernel!(q4_rows_avx512, q4_tile, (qs: &[u8], dm: &[[f32; 2]]), |j, b, nb| {
    let raw = _mm_loadu_si128(qs.as_ptr().add((j * nb + b) * 16) as *const __m128i);
    let q = _mm512_cvtepu8_epi32(raw);
    let lo = _mm512_cvtepi32_ps(_mm512_and_si512(q, _mm512_set1_epi32(0xF)));
    let hi = _mm512_cvtepi32_ps(_mm512_srli_epi32::<4>(q));
    let [d, mn] = *dm.get_unchecked(j * nb + b);
    let (vd, vm) = (_mm512_set1_ps(d), _mm512_set1_ps(mn));
    (_mm512_fmadd_ps(lo, vd, vm), _mm512_fmadd_ps(hi, vd, vm))
});

#[cfg(target_arch = "x86_64")]
rows_kernel!(q8_rows_avx512, q8_tile, (qs: &[i8], d: &[f32]), |j, b, nb| {
    let p = qs.as_ptr().add((j * nb + b) * 32) as *const __m128i;
    let vd = _mm512_set1_ps(*d.get_unchecked(j * nb + b));
    (
        _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(p))), vd),
        _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(p.add(1)))), vd),
    )
});

#[cfg(target_arch = "x86_64")]
rows_kernel!(f32_rows_avx512, f32_tile, (w: &[f32]), |j, b, nb| {
    let p = w.as_ptr().add((j * nb + b) * 32);
    (_mm512_loadu_ps(p), _mm512_loadu_ps(p.add(16)))
});
