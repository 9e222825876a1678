//! The SIMD layer on AVX2 + FMA: two 256-bit registers per 16 lanes. `VNNI = true` adds AVX-VNNI's
//! 256-bit `vpdpbusd` for the integer dot products; without it they go through `vpmaddubsw` (u8×i8 →
//! pairs of i16, saturating) and `vpmaddwd` (pairs → i32), as llama.cpp's AVX2 kernels do, arranged so
//! that nothing saturates (see `dot_s8`).
use super::Simd;
use std::arch::x86_64::*;

#[derive(Clone, Copy)]
pub struct Avx2<const VNNI: bool>;

#[derive(Clone, Copy)]
pub struct F2(__m256, __m256);

#[derive(Clone, Copy)]
pub struct I2(__m256i, __m256i);

macro_rules! both {
    ($f:ident, $a:expr) => {
        F2($f($a.0), $f($a.1))
    };
    ($f:ident, $a:expr, $b:expr) => {
        F2($f($a.0, $b.0), $f($a.1, $b.1))
    };
    ($f:ident, $a:expr, $b:expr, $c:expr) => {
        F2($f($a.0, $b.0, $c.0), $f($a.1, $b.1, $c.1))
    };
}

#[inline(always)]
unsafe fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps::<1>(s, s)))
}

#[inline(always)]
unsafe fn hmax(v: __m256) -> f32 {
    let s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_max_ss(s, _mm_shuffle_ps::<1>(s, s)))
}

#[inline(always)]
unsafe fn abs8(a: __m256) -> __m256 {
    _mm256_andnot_ps(_mm256_set1_ps(-0.0), a)
}

#[inline(always)]
unsafe fn round8(v: __m256) -> __m256 {
    _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(v)
}

#[inline(always)]
unsafe fn round_away8(v: __m256) -> __m256 {
    let t = _mm256_round_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(v);
    let half = _mm256_cmp_ps::<_CMP_GE_OQ>(abs8(_mm256_sub_ps(v, t)), _mm256_set1_ps(0.5));
    let one = _mm256_or_ps(_mm256_set1_ps(1.0), _mm256_and_ps(v, _mm256_set1_ps(-0.0)));
    _mm256_add_ps(t, _mm256_and_ps(half, one))
}

/// 2^k for integral k in [−126, 127], by building the exponent bits.
#[inline(always)]
unsafe fn pow2i(k: __m256i) -> __m256 {
    _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(k, _mm256_set1_epi32(127))))
}

#[inline(always)]
unsafe fn mul_pow2_8(p: __m256, k: __m256) -> __m256 {
    // k in [−150, 128] splits into two halves inside the normal exponent range; the first product is
    // exact, so the result is rounded once.
    let k = _mm256_cvtps_epi32(k);
    let k1 = _mm256_srai_epi32::<1>(k);
    _mm256_mul_ps(_mm256_mul_ps(p, pow2i(k1)), pow2i(_mm256_sub_epi32(k, k1)))
}

#[inline(always)]
unsafe fn nib8(q: __m256i, shift: __m256i) -> __m256 {
    _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srlv_epi32(q, shift), _mm256_set1_epi32(0xF)))
}

#[inline(always)]
unsafe fn sbyte8(q: __m256i, up: __m256i) -> __m256 {
    _mm256_cvtepi32_ps(_mm256_srai_epi32::<24>(_mm256_sllv_epi32(q, up)))
}

/// Σ of the four u8×i8 products per 32-bit lane, for products whose pairs fit in i16.
#[inline(always)]
unsafe fn maddubs4(u: __m256i, s: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1))
}

/// Σ of the four signed w × signed x products per lane, through |w| and x·sign(w).
#[inline(always)]
unsafe fn signed4(w: __m256i, xv: __m256i) -> __m256i {
    maddubs4(_mm256_abs_epi8(w), _mm256_sign_epi8(xv, w))
}

impl<const VNNI: bool> Simd for Avx2<VNNI> {
    const TILE: usize = 4;
    // 8, not 4: the weight vectors spill either way, and more rows share each one (measured:
    // batched decode of 16, int8, 454-511 -> 631-650 tok/s; 8 f32 rows in TILE_F32 spill: 443 -> 315).
    const TILE_INT8: usize = 8;
    const TILE_F32: usize = 6;
    const DEQUANT_MIN_ROWS: usize = 8;
    const Q8_BIAS: f32 = if VNNI { 128.0 } else { 0.0 };
    type V = F2;
    type Q = I2;

    #[inline(always)]
    fn chains(t: usize) -> usize {
        // Each row already has two independent halves; 16 registers in all.
        if t >= 4 {
            1
        } else if t >= 2 {
            2
        } else {
            4
        }
    }

    #[inline(always)]
    unsafe fn zero() -> F2 {
        F2(_mm256_setzero_ps(), _mm256_setzero_ps())
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> F2 {
        let v = _mm256_set1_ps(x);
        F2(v, v)
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> F2 {
        F2(_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)))
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: F2) {
        _mm256_storeu_ps(p, v.0);
        _mm256_storeu_ps(p.add(8), v.1);
    }
    #[inline(always)]
    unsafe fn add(a: F2, b: F2) -> F2 {
        both!(_mm256_add_ps, a, b)
    }
    #[inline(always)]
    unsafe fn sub(a: F2, b: F2) -> F2 {
        both!(_mm256_sub_ps, a, b)
    }
    #[inline(always)]
    unsafe fn mul(a: F2, b: F2) -> F2 {
        both!(_mm256_mul_ps, a, b)
    }
    #[inline(always)]
    unsafe fn div(a: F2, b: F2) -> F2 {
        both!(_mm256_div_ps, a, b)
    }
    #[inline(always)]
    unsafe fn max(a: F2, b: F2) -> F2 {
        both!(_mm256_max_ps, a, b)
    }
    #[inline(always)]
    unsafe fn min(a: F2, b: F2) -> F2 {
        both!(_mm256_min_ps, a, b)
    }
    #[inline(always)]
    unsafe fn abs(a: F2) -> F2 {
        both!(abs8, a)
    }
    #[inline(always)]
    unsafe fn fma(a: F2, b: F2, c: F2) -> F2 {
        both!(_mm256_fmadd_ps, a, b, c)
    }
    #[inline(always)]
    unsafe fn fnma(a: F2, b: F2, c: F2) -> F2 {
        both!(_mm256_fnmadd_ps, a, b, c)
    }
    #[inline(always)]
    unsafe fn reduce_add(v: F2) -> f32 {
        hsum(_mm256_add_ps(v.0, v.1))
    }
    #[inline(always)]
    unsafe fn reduce_max(v: F2) -> f32 {
        hmax(_mm256_max_ps(v.0, v.1))
    }
    #[inline(always)]
    unsafe fn round(v: F2) -> F2 {
        both!(round8, v)
    }
    #[inline(always)]
    unsafe fn round_away(v: F2) -> F2 {
        both!(round_away8, v)
    }
    #[inline(always)]
    unsafe fn mul_pow2(p: F2, k: F2) -> F2 {
        both!(mul_pow2_8, p, k)
    }

    #[inline(always)]
    unsafe fn loadq(p: *const u8) -> I2 {
        I2(_mm256_loadu_si256(p as *const __m256i), _mm256_loadu_si256(p.add(32) as *const __m256i))
    }
    #[inline(always)]
    unsafe fn qzero() -> I2 {
        I2(_mm256_setzero_si256(), _mm256_setzero_si256())
    }
    #[inline(always)]
    unsafe fn qadd(a: I2, b: I2) -> I2 {
        I2(_mm256_add_epi32(a.0, b.0), _mm256_add_epi32(a.1, b.1))
    }
    #[inline(always)]
    unsafe fn q_to_f32(q: I2) -> F2 {
        F2(_mm256_cvtepi32_ps(q.0), _mm256_cvtepi32_ps(q.1))
    }
    #[inline(always)]
    unsafe fn nibble(q: I2, shift: u32) -> F2 {
        let s = _mm256_set1_epi32(shift as i32);
        F2(nib8(q.0, s), nib8(q.1, s))
    }
    #[inline(always)]
    unsafe fn sbyte(q: I2, j: u32) -> F2 {
        let up = _mm256_set1_epi32(24 - 8 * j as i32);
        F2(sbyte8(q.0, up), sbyte8(q.1, up))
    }
    #[inline(always)]
    unsafe fn low_nibbles(q: I2) -> I2 {
        let m = _mm256_set1_epi8(0x0F);
        I2(_mm256_and_si256(q.0, m), _mm256_and_si256(q.1, m))
    }
    #[inline(always)]
    unsafe fn high_nibbles(q: I2) -> I2 {
        let m = _mm256_set1_epi8(0x0F);
        I2(_mm256_and_si256(_mm256_srli_epi32::<4>(q.0), m), _mm256_and_si256(_mm256_srli_epi32::<4>(q.1), m))
    }
    #[inline(always)]
    unsafe fn dot_u4(acc: I2, w: I2, x: i32) -> I2 {
        let xv = _mm256_set1_epi32(x);
        if VNNI {
            I2(_mm256_dpbusd_avx_epi32(acc.0, w.0, xv), _mm256_dpbusd_avx_epi32(acc.1, w.1, xv))
        } else {
            // 15·127·2 fits in i16: vpmaddubsw cannot saturate.
            I2(_mm256_add_epi32(acc.0, maddubs4(w.0, xv)), _mm256_add_epi32(acc.1, maddubs4(w.1, xv)))
        }
    }
    #[inline(always)]
    unsafe fn prep_s8(w: I2) -> I2 {
        if VNNI {
            let o = _mm256_set1_epi8(-128);
            I2(_mm256_xor_si256(w.0, o), _mm256_xor_si256(w.1, o))
        } else {
            w
        }
    }
    #[inline(always)]
    unsafe fn dot_s8(acc: I2, wp: I2, x: i32) -> I2 {
        let xv = _mm256_set1_epi32(x);
        if VNNI {
            I2(_mm256_dpbusd_avx_epi32(acc.0, wp.0, xv), _mm256_dpbusd_avx_epi32(acc.1, wp.1, xv))
        } else {
            // |w| (≤ 128, unsigned) times x with w's sign (|x| ≤ 127): pairs ≤ 2·128·127 < 2^15, so
            // vpmaddubsw never saturates, and w = −128 is exact too (|−128| read unsigned is 128).
            I2(_mm256_add_epi32(acc.0, signed4(wp.0, xv)), _mm256_add_epi32(acc.1, signed4(wp.1, xv)))
        }
    }
}
