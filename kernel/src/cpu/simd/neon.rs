//! The SIMD layer on aarch64 NEON: four 128-bit registers per 16 lanes. `DOT = true` uses SDOT
//! (ARMv8.2 dotprod, four i8×i8 products per 32-bit lane in one instruction; written as inline
//! assembly because its intrinsic is not stable); without it, `smull` + `saddlp` + `addp`.
use super::Simd;
use std::arch::aarch64::*;

#[derive(Clone, Copy)]
pub struct Neon<const DOT: bool>;

#[derive(Clone, Copy)]
pub struct F4([float32x4_t; 4]);

#[derive(Clone, Copy)]
pub struct I4([int32x4_t; 4]);

macro_rules! each {
    ($f:expr, $a:expr) => {
        F4([$f($a.0[0]), $f($a.0[1]), $f($a.0[2]), $f($a.0[3])])
    };
    ($f:expr, $a:expr, $b:expr) => {
        F4([$f($a.0[0], $b.0[0]), $f($a.0[1], $b.0[1]), $f($a.0[2], $b.0[2]), $f($a.0[3], $b.0[3])])
    };
    ($f:expr, $a:expr, $b:expr, $c:expr) => {
        F4([$f($a.0[0], $b.0[0], $c.0[0]), $f($a.0[1], $b.0[1], $c.0[1]), $f($a.0[2], $b.0[2], $c.0[2]), $f($a.0[3], $b.0[3], $c.0[3])])
    };
}

macro_rules! each_q {
    ($f:expr, $a:expr) => {
        I4([$f($a.0[0]), $f($a.0[1]), $f($a.0[2]), $f($a.0[3])])
    };
}

#[inline(always)]
unsafe fn fma4(a: float32x4_t, b: float32x4_t, c: float32x4_t) -> float32x4_t {
    vfmaq_f32(c, a, b)
}

#[inline(always)]
unsafe fn fnma4(a: float32x4_t, b: float32x4_t, c: float32x4_t) -> float32x4_t {
    vfmsq_f32(c, a, b)
}

#[inline(always)]
unsafe fn pow2i(k: int32x4_t) -> float32x4_t {
    vreinterpretq_f32_s32(vshlq_n_s32::<23>(vaddq_s32(k, vdupq_n_s32(127))))
}

#[inline(always)]
unsafe fn mul_pow2_4(p: float32x4_t, k: float32x4_t) -> float32x4_t {
    let k = vcvtnq_s32_f32(k);
    let k1 = vshrq_n_s32::<1>(k);
    vmulq_f32(vmulq_f32(p, pow2i(k1)), pow2i(vsubq_s32(k, k1)))
}

/// acc + per 32-bit lane the sum of four i8×i8 products of `w` and `x`.
#[inline(always)]
unsafe fn dot4<const DOT: bool>(acc: int32x4_t, w: int32x4_t, x: int8x16_t) -> int32x4_t {
    let w = vreinterpretq_s8_s32(w);
    if DOT {
        let mut acc = acc;
        std::arch::asm!("sdot {0:v}.4s, {1:v}.16b, {2:v}.16b", inout(vreg) acc, in(vreg) w, in(vreg) x,
            options(pure, nomem, nostack, preserves_flags));
        acc
    } else {
        // Products fit in i16 (|w·x| ≤ 128·128); pairs summed to i32, then adjacent pairs.
        let lo = vpaddlq_s16(vmull_s8(vget_low_s8(w), vget_low_s8(x)));
        let hi = vpaddlq_s16(vmull_high_s8(w, x));
        vaddq_s32(acc, vpaddq_s32(lo, hi))
    }
}

impl<const DOT: bool> Simd for Neon<DOT> {
    const TILE: usize = 4;
    const TILE_INT8: usize = 4;
    const TILE_F32: usize = 6;
    const DEQUANT_MIN_ROWS: usize = 8;
    const Q8_BIAS: f32 = 0.0;
    type V = F4;
    type Q = I4;

    #[inline(always)]
    fn chains(t: usize) -> usize {
        if t >= 2 {
            1
        } else {
            2
        }
    }

    #[inline(always)]
    unsafe fn zero() -> F4 {
        F4([vdupq_n_f32(0.0); 4])
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> F4 {
        F4([vdupq_n_f32(x); 4])
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> F4 {
        F4([vld1q_f32(p), vld1q_f32(p.add(4)), vld1q_f32(p.add(8)), vld1q_f32(p.add(12))])
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: F4) {
        for (i, r) in v.0.iter().enumerate() {
            vst1q_f32(p.add(4 * i), *r);
        }
    }
    #[inline(always)]
    unsafe fn add(a: F4, b: F4) -> F4 {
        each!(vaddq_f32, a, b)
    }
    #[inline(always)]
    unsafe fn sub(a: F4, b: F4) -> F4 {
        each!(vsubq_f32, a, b)
    }
    #[inline(always)]
    unsafe fn mul(a: F4, b: F4) -> F4 {
        each!(vmulq_f32, a, b)
    }
    #[inline(always)]
    unsafe fn div(a: F4, b: F4) -> F4 {
        each!(vdivq_f32, a, b)
    }
    #[inline(always)]
    unsafe fn max(a: F4, b: F4) -> F4 {
        each!(vmaxq_f32, a, b)
    }
    #[inline(always)]
    unsafe fn min(a: F4, b: F4) -> F4 {
        each!(vminq_f32, a, b)
    }
    #[inline(always)]
    unsafe fn abs(a: F4) -> F4 {
        each!(vabsq_f32, a)
    }
    #[inline(always)]
    unsafe fn fma(a: F4, b: F4, c: F4) -> F4 {
        each!(fma4, a, b, c)
    }
    #[inline(always)]
    unsafe fn fnma(a: F4, b: F4, c: F4) -> F4 {
        each!(fnma4, a, b, c)
    }
    #[inline(always)]
    unsafe fn reduce_add(v: F4) -> f32 {
        vaddvq_f32(vaddq_f32(vaddq_f32(v.0[0], v.0[2]), vaddq_f32(v.0[1], v.0[3])))
    }
    #[inline(always)]
    unsafe fn reduce_max(v: F4) -> f32 {
        vmaxvq_f32(vmaxq_f32(vmaxq_f32(v.0[0], v.0[2]), vmaxq_f32(v.0[1], v.0[3])))
    }
    #[inline(always)]
    unsafe fn round(v: F4) -> F4 {
        each!(vrndnq_f32, v)
    }
    #[inline(always)]
    unsafe fn round_away(v: F4) -> F4 {
        each!(vrndaq_f32, v)
    }
    #[inline(always)]
    unsafe fn mul_pow2(p: F4, k: F4) -> F4 {
        each!(mul_pow2_4, p, k)
    }

    #[inline(always)]
    unsafe fn loadq(p: *const u8) -> I4 {
        let p = p as *const i32;
        I4([vld1q_s32(p), vld1q_s32(p.add(4)), vld1q_s32(p.add(8)), vld1q_s32(p.add(12))])
    }
    #[inline(always)]
    unsafe fn qzero() -> I4 {
        I4([vdupq_n_s32(0); 4])
    }
    #[inline(always)]
    unsafe fn qadd(a: I4, b: I4) -> I4 {
        I4([vaddq_s32(a.0[0], b.0[0]), vaddq_s32(a.0[1], b.0[1]), vaddq_s32(a.0[2], b.0[2]), vaddq_s32(a.0[3], b.0[3])])
    }
    #[inline(always)]
    unsafe fn q_to_f32(q: I4) -> F4 {
        F4([vcvtq_f32_s32(q.0[0]), vcvtq_f32_s32(q.0[1]), vcvtq_f32_s32(q.0[2]), vcvtq_f32_s32(q.0[3])])
    }
    #[inline(always)]
    unsafe fn nibble(q: I4, shift: u32) -> F4 {
        let s = vdupq_n_s32(-(shift as i32));
        let m = vdupq_n_u32(0xF);
        let f = |r: int32x4_t| vcvtq_f32_u32(vandq_u32(vshlq_u32(vreinterpretq_u32_s32(r), s), m));
        F4([f(q.0[0]), f(q.0[1]), f(q.0[2]), f(q.0[3])])
    }
    #[inline(always)]
    unsafe fn sbyte(q: I4, j: u32) -> F4 {
        let up = vdupq_n_s32(24 - 8 * j as i32);
        let f = |r: int32x4_t| vcvtq_f32_s32(vshrq_n_s32::<24>(vshlq_s32(r, up)));
        F4([f(q.0[0]), f(q.0[1]), f(q.0[2]), f(q.0[3])])
    }
    #[inline(always)]
    unsafe fn low_nibbles(q: I4) -> I4 {
        let m = vdupq_n_s32(0x0F0F_0F0F);
        each_q!(|r| vandq_s32(r, m), q)
    }
    #[inline(always)]
    unsafe fn high_nibbles(q: I4) -> I4 {
        let m = vdupq_n_s32(0x0F0F_0F0F);
        each_q!(|r| vandq_s32(vshrq_n_s32::<4>(r), m), q)
    }
    #[inline(always)]
    unsafe fn dot_u4(acc: I4, w: I4, x: i32) -> I4 {
        let xv = vreinterpretq_s8_s32(vdupq_n_s32(x));
        I4([
            dot4::<DOT>(acc.0[0], w.0[0], xv),
            dot4::<DOT>(acc.0[1], w.0[1], xv),
            dot4::<DOT>(acc.0[2], w.0[2], xv),
            dot4::<DOT>(acc.0[3], w.0[3], xv),
        ])
    }
    #[inline(always)]
    unsafe fn prep_s8(w: I4) -> I4 {
        w
    }
    #[inline(always)]
    unsafe fn dot_s8(acc: I4, wp: I4, x: i32) -> I4 {
        Self::dot_u4(acc, wp, x)
    }
}
