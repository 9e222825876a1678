//! The 8-bit-activation path (opt-in: `Numerics::Int8`). As llama.cpp does, each activation row is
//! quantized per block of 32 to signed bytes with one scale (its Q8_1: d = max|x|/127, q = round(x/d)), and weight × activation products run in integers with AVX512-VNNI: 64
//! multiply-adds per instruction instead of 16 for f32 FMAs. Per (weight row, activation row, block):
//!
//!   Σ w·x ≈ d_w·d_x·Σ q_w·q_x + m_w·s_x,   s_x = d_x·Σ q_x
//!
//! Q4 weights (w = q_w·d_w + m_w, q_w in 0..15) are already unsigned; Q8 weights are offset by +128 to
//! be unsigned and their m_w = −128·d_w takes the offset back out. The result is approximate (the
//! activations are rounded): kernel/tests/smollm2_teacher_forced.rs measures it against PyTorch and
//! llama.cpp.
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use crate::formats::quant::QK;

/// Activation rows quantized per block of 32: bytes row-major, and per (row, block) the scale d and the
/// offset term's s.
pub struct QuantRows {
    pub q: Vec<i8>,
    pub d: Vec<f32>,
    pub s: Vec<f32>,
}

/// Quantizes `m` rows of `k` values. The scales stay in f32 (llama.cpp rounds d and s to f16; f32
/// measured closer to both references: top-1 0.978 against PyTorch instead of 0.974).
pub fn quantize_rows(x: &[f32], m: usize, k: usize) -> QuantRows {
    use rayon::prelude::*;
    let nb = k / QK;
    let mut q = vec![0i8; m * k];
    let (mut d, mut s) = (vec![0f32; m * nb], vec![0f32; m * nb]);
    // Rows in parallel only when there are many (prefill); a few rows take microseconds.
    let rows_per_task = if m >= 64 { 16 } else { m.max(1) };
    q.par_chunks_mut(rows_per_task * k)
        .zip(d.par_chunks_mut(rows_per_task * nb).zip(s.par_chunks_mut(rows_per_task * nb)))
        .enumerate()
        .for_each(|(c, (qc, (dc, sc)))| {
            let x0 = c * rows_per_task * k;
            for (bi, qb) in qc.chunks_exact_mut(QK).enumerate() {
                let xb = &x[x0 + bi * QK..][..QK];
                let (dd, sum) = quantize_block(xb, qb);
                dc[bi] = dd;
                sc[bi] = dd * sum as f32;
            }
        });
    QuantRows { q, d, s }
}

/// One block: q = round(x/d) with d = max|x|/127 (halves rounded away from zero, as C's roundf in
/// llama.cpp); returns (d, Σq).
fn quantize_block(xb: &[f32], qb: &mut [i8]) -> (f32, i32) {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::simd::has_avx512() {
        // SAFETY: AVX-512F checked; both blocks hold 32 values.
        return unsafe { quantize_block_avx512(xb, qb) };
    }
    let amax = xb.iter().fold(0f32, |a, v| a.max(v.abs()));
    let dd = amax / 127.0;
    let id = if dd > 0.0 { 1.0 / dd } else { 0.0 };
    let mut sum = 0i32;
    for (o, v) in qb.iter_mut().zip(xb) {
        let r = (v * id).round() as i32;
        *o = r as i8;
        sum += r;
    }
    (dd, sum)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn quantize_block_avx512(xb: &[f32], qb: &mut [i8]) -> (f32, i32) {
    let (v0, v1) = (_mm512_loadu_ps(xb.as_ptr()), _mm512_loadu_ps(xb.as_ptr().add(16)));
    let amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    let dd = amax / 127.0;
    let id = _mm512_set1_ps(if dd > 0.0 { 1.0 / dd } else { 0.0 });
    let sign = _mm512_set1_epi32(i32::MIN);
    let half = _mm512_set1_ps(0.5);
    let mut sum = _mm512_setzero_si512();
    for (h, v) in [v0, v1].into_iter().enumerate() {
        let y = _mm512_mul_ps(v, id);
        // roundf: truncate |y| + 0.5 and put the sign back.
        let a = _mm512_roundscale_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(_mm512_add_ps(_mm512_abs_ps(y), half));
        let r = _mm512_or_si512(_mm512_castps_si512(a), _mm512_and_si512(_mm512_castps_si512(y), sign));
        let qi = _mm512_cvttps_epi32(_mm512_castsi512_ps(r));
        sum = _mm512_add_epi32(sum, qi);
        _mm_storeu_si128(qb.as_mut_ptr().add(16 * h) as *mut __m128i, _mm512_cvtepi32_epi8(qi));
    }
    (dd, _mm512_reduce_add_epi32(sum))
}

pub fn has_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// One 16-row panel against `T` quantized activation rows: out[i·ld + 0..valid]. `Q4` picks the
/// weight encoding (nibbles, or signed bytes); see `panel.rs` for the layout.
///
/// # Safety
/// The CPU must have AVX-512F and AVX512-VNNI; pointers must cover `nb` blocks of the panel and of each
/// of the `T` rows (row stride `k` bytes for `xq`, `nb` values for `xd`/`xs`), and `out` the cells written.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vnni")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn panel_tile<const T: usize, const Q4: bool>(
    codes: *const u8,
    d: *const f32,
    mn: *const f32,
    nb: usize,
    xq: *const i8,
    xd: *const f32,
    xs: *const f32,
    k: usize,
    out: *mut f32,
    ld: usize,
    valid: usize,
) {
    // Independent integer chains per row: VNNI has ≈ 5 cycles of latency; short tiles need several.
    let na = if T >= 4 { 1 } else if T >= 2 { 2 } else { 4 };
    let mut acc = [_mm512_setzero_ps(); T];
    let nib = _mm512_set1_epi8(0x0F);
    let off = _mm512_set1_epi8(-128);
    for b in 0..nb {
        let dv = _mm512_loadu_ps(d.add(b * 16));
        let mv = _mm512_loadu_ps(mn.add(b * 16));
        // w[g]: columns 4g..4g+4 of the block for the 16 rows, as unsigned bytes.
        let mut w = [_mm512_setzero_si512(); 8];
        if Q4 {
            for g in 0..4 {
                let v = _mm512_loadu_si512(codes.add((b * 4 + g) * 64) as *const _);
                w[g] = _mm512_and_si512(v, nib);
                w[g + 4] = _mm512_and_si512(_mm512_srli_epi32::<4>(v), nib);
            }
        } else {
            for (g, wg) in w.iter_mut().enumerate() {
                *wg = _mm512_xor_si512(_mm512_loadu_si512(codes.add((b * 8 + g) * 64) as *const _), off);
            }
        }
        for (i, a) in acc.iter_mut().enumerate() {
            let xb = xq.add(i * k + b * QK) as *const i32;
            let mut isum = [_mm512_setzero_si512(); 4];
            for (g, wg) in w.iter().enumerate() {
                let xv = _mm512_set1_epi32(xb.add(g).read_unaligned());
                isum[g % na] = _mm512_dpbusd_epi32(isum[g % na], *wg, xv);
            }
            let mut t = isum[0];
            for v in &isum[1..na] {
                t = _mm512_add_epi32(t, *v);
            }
            let scale = _mm512_mul_ps(dv, _mm512_set1_ps(*xd.add(i * nb + b)));
            *a = _mm512_fmadd_ps(_mm512_cvtepi32_ps(t), scale, *a);
            *a = _mm512_fmadd_ps(mv, _mm512_set1_ps(*xs.add(i * nb + b)), *a);
        }
    }
    for (i, a) in acc.iter().enumerate() {
        let o = out.add(i * ld);
        if valid == 16 {
            _mm512_storeu_ps(o, *a);
        } else {
            _mm512_mask_storeu_ps(o, ((1u32 << valid) - 1) as __mmask16, *a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector quantizer equals the scalar one (roundf semantics), ties included.
    #[test]
    fn vector_quantizer_equals_scalar() {
        let mut x: Vec<f32> = (0..32 * 50).map(|i| ((i * 7919 % 2003) as f32 - 1001.0) / 97.0).collect();
        // A block whose max is 127 makes d = 1, so these values sit exactly on halves.
        for (t, v) in x[..32].iter_mut().enumerate() {
            *v = if t == 0 { 127.0 } else { t as f32 - 16.5 };
        }
        for (xb, _) in x.chunks_exact(32).zip(0..) {
            let (mut a, mut b) = ([0i8; 32], [0i8; 32]);
            let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
            let id = 127.0 / amax;
            for (o, v) in a.iter_mut().zip(xb) {
                *o = (v * id).round() as i8;
            }
            let (_, sum) = quantize_block(xb, &mut b);
            assert_eq!(a, b);
            assert_eq!(sum, a.iter().map(|&v| v as i32).sum::<i32>());
        }
    }
}
