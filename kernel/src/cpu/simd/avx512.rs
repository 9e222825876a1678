//! The SIMD layer on AVX-512 (F, BW, VL, DQ, VNNI): one register per 16 lanes.
use super::Simd;
use std::arch::x86_64::*;

#[derive(Clone, Copy)]
pub struct Avx512;

impl Simd for Avx512 {
    const TILE: usize = 16;
    const TILE_INT8: usize = 8;
    const TILE_F32: usize = 16;
    // Never: with 16-row tiles decoding in registers costs less than storing and reloading the f32
    // panel (1536×576 Q4_1 at 32–512 rows: 380–440 GFLOP/s in registers, 320–370 decoded first).
    const DEQUANT_MIN_ROWS: usize = usize::MAX;
    const Q8_BIAS: f32 = 128.0;
    type V = __m512;
    type Q = __m512i;

    #[inline(always)]
    fn chains(t: usize) -> usize {
        if t >= 8 {
            1
        } else if t >= 4 {
            2
        } else {
            4
        }
    }

    #[inline(always)]
    unsafe fn zero() -> __m512 {
        _mm512_setzero_ps()
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> __m512 {
        _mm512_set1_ps(x)
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m512 {
        _mm512_loadu_ps(p)
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m512) {
        _mm512_storeu_ps(p, v)
    }
    #[inline(always)]
    unsafe fn load_n(p: *const f32, n: usize) -> __m512 {
        _mm512_maskz_loadu_ps(mask(n), p)
    }
    #[inline(always)]
    unsafe fn store_n(p: *mut f32, n: usize, v: __m512) {
        _mm512_mask_storeu_ps(p, mask(n), v)
    }
    #[inline(always)]
    unsafe fn add(a: __m512, b: __m512) -> __m512 {
        _mm512_add_ps(a, b)
    }
    #[inline(always)]
    unsafe fn sub(a: __m512, b: __m512) -> __m512 {
        _mm512_sub_ps(a, b)
    }
    #[inline(always)]
    unsafe fn mul(a: __m512, b: __m512) -> __m512 {
        _mm512_mul_ps(a, b)
    }
    #[inline(always)]
    unsafe fn div(a: __m512, b: __m512) -> __m512 {
        _mm512_div_ps(a, b)
    }
    #[inline(always)]
    unsafe fn max(a: __m512, b: __m512) -> __m512 {
        _mm512_max_ps(a, b)
    }
    #[inline(always)]
    unsafe fn min(a: __m512, b: __m512) -> __m512 {
        _mm512_min_ps(a, b)
    }
    #[inline(always)]
    unsafe fn abs(a: __m512) -> __m512 {
        _mm512_abs_ps(a)
    }
    #[inline(always)]
    unsafe fn fma(a: __m512, b: __m512, c: __m512) -> __m512 {
        _mm512_fmadd_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn fnma(a: __m512, b: __m512, c: __m512) -> __m512 {
        _mm512_fnmadd_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn reduce_add(v: __m512) -> f32 {
        _mm512_reduce_add_ps(v)
    }
    #[inline(always)]
    unsafe fn reduce_max(v: __m512) -> f32 {
        _mm512_reduce_max_ps(v)
    }
    #[inline(always)]
    unsafe fn round(v: __m512) -> __m512 {
        _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(v)
    }
    #[inline(always)]
    unsafe fn round_away(v: __m512) -> __m512 {
        let t = _mm512_roundscale_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(v);
        let half = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(_mm512_abs_ps(_mm512_sub_ps(v, t)), _mm512_set1_ps(0.5));
        let one = _mm512_castsi512_ps(_mm512_or_si512(
            _mm512_castps_si512(_mm512_set1_ps(1.0)),
            _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(i32::MIN)),
        ));
        _mm512_mask_add_ps(t, half, t, one)
    }
    #[inline(always)]
    unsafe fn mul_pow2(p: __m512, k: __m512) -> __m512 {
        _mm512_scalef_ps(p, k)
    }
    #[inline(always)]
    unsafe fn store_i8(p: *mut i8, v: __m512) {
        _mm_storeu_si128(p as *mut __m128i, _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(v)))
    }

    #[inline(always)]
    unsafe fn loadq(p: *const u8) -> __m512i {
        _mm512_loadu_si512(p as *const _)
    }
    #[inline(always)]
    unsafe fn qzero() -> __m512i {
        _mm512_setzero_si512()
    }
    #[inline(always)]
    unsafe fn qadd(a: __m512i, b: __m512i) -> __m512i {
        _mm512_add_epi32(a, b)
    }
    #[inline(always)]
    unsafe fn q_to_f32(q: __m512i) -> __m512 {
        _mm512_cvtepi32_ps(q)
    }
    #[inline(always)]
    unsafe fn nibble(q: __m512i, shift: u32) -> __m512 {
        _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srlv_epi32(q, _mm512_set1_epi32(shift as i32)), _mm512_set1_epi32(0xF)))
    }
    #[inline(always)]
    unsafe fn sbyte(q: __m512i, j: u32) -> __m512 {
        let up = _mm512_sllv_epi32(q, _mm512_set1_epi32(24 - 8 * j as i32));
        _mm512_cvtepi32_ps(_mm512_srai_epi32::<24>(up))
    }
    #[inline(always)]
    unsafe fn low_nibbles(q: __m512i) -> __m512i {
        _mm512_and_si512(q, _mm512_set1_epi8(0x0F))
    }
    #[inline(always)]
    unsafe fn high_nibbles(q: __m512i) -> __m512i {
        _mm512_and_si512(_mm512_srli_epi32::<4>(q), _mm512_set1_epi8(0x0F))
    }
    #[inline(always)]
    unsafe fn dot_u4(acc: __m512i, w: __m512i, x: i32) -> __m512i {
        _mm512_dpbusd_epi32(acc, w, _mm512_set1_epi32(x))
    }
    #[inline(always)]
    unsafe fn prep_s8(w: __m512i) -> __m512i {
        // vpdpbusd multiplies unsigned by signed bytes: offset the weights by 128 (Q8_BIAS).
        _mm512_xor_si512(w, _mm512_set1_epi8(-128))
    }
    #[inline(always)]
    unsafe fn dot_s8(acc: __m512i, wp: __m512i, x: i32) -> __m512i {
        _mm512_dpbusd_epi32(acc, wp, _mm512_set1_epi32(x))
    }
}

#[inline(always)]
fn mask(n: usize) -> __mmask16 {
    if n >= 16 {
        0xFFFF
    } else {
        ((1u32 << n) - 1) as __mmask16
    }
}
