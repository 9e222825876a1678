//! The SIMD layer in portable Rust: 16 lanes as arrays (the compiler may still vectorize them with the
//! target's baseline instructions). The reference for the vector paths and the fallback everywhere.
use super::Simd;

#[derive(Clone, Copy)]
pub struct Scalar;

type V = [f32; 16];
type Q = [u32; 16];

#[inline(always)]
fn map(a: V, f: impl Fn(f32) -> f32) -> V {
    std::array::from_fn(|i| f(a[i]))
}

#[inline(always)]
fn zip(a: V, b: V, f: impl Fn(f32, f32) -> f32) -> V {
    std::array::from_fn(|i| f(a[i], b[i]))
}

/// 2^k for integral k in [−126, 127], from the exponent bits.
#[inline(always)]
fn pow2i(k: i32) -> f32 {
    f32::from_bits(((k + 127) as u32) << 23)
}

/// Σ_j w.byte[j] · x.byte[j] over the four bytes of a lane (weights read as unsigned or signed).
#[inline(always)]
fn dot4(w: u32, x: i32, signed_w: bool) -> i32 {
    (0..4)
        .map(|j| {
            let wb = (w >> (8 * j)) as u8;
            let wv = if signed_w { wb as i8 as i32 } else { wb as i32 };
            wv * ((x >> (8 * j)) as u8 as i8 as i32)
        })
        .sum()
}

impl Simd for Scalar {
    const TILE: usize = 4;
    const TILE_INT8: usize = 4;
    const TILE_F32: usize = 4;
    const DEQUANT_MIN_ROWS: usize = 8;
    const Q8_BIAS: f32 = 0.0;
    type V = V;
    type Q = Q;

    #[inline(always)]
    fn chains(_t: usize) -> usize {
        1
    }

    #[inline(always)]
    unsafe fn zero() -> V {
        [0.0; 16]
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> V {
        [x; 16]
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> V {
        std::ptr::read_unaligned(p as *const V)
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: V) {
        std::ptr::write_unaligned(p as *mut V, v)
    }
    #[inline(always)]
    unsafe fn add(a: V, b: V) -> V {
        zip(a, b, |x, y| x + y)
    }
    #[inline(always)]
    unsafe fn sub(a: V, b: V) -> V {
        zip(a, b, |x, y| x - y)
    }
    #[inline(always)]
    unsafe fn mul(a: V, b: V) -> V {
        zip(a, b, |x, y| x * y)
    }
    #[inline(always)]
    unsafe fn div(a: V, b: V) -> V {
        zip(a, b, |x, y| x / y)
    }
    #[inline(always)]
    unsafe fn max(a: V, b: V) -> V {
        zip(a, b, f32::max)
    }
    #[inline(always)]
    unsafe fn min(a: V, b: V) -> V {
        zip(a, b, f32::min)
    }
    #[inline(always)]
    unsafe fn abs(a: V) -> V {
        map(a, f32::abs)
    }
    #[inline(always)]
    unsafe fn fma(a: V, b: V, c: V) -> V {
        // Unfused: a library fmaf per lane would make the portable path several times slower.
        std::array::from_fn(|i| a[i] * b[i] + c[i])
    }
    #[inline(always)]
    unsafe fn fnma(a: V, b: V, c: V) -> V {
        std::array::from_fn(|i| c[i] - a[i] * b[i])
    }
    #[inline(always)]
    unsafe fn reduce_add(v: V) -> f32 {
        // Pairwise, as the vector ISAs reduce.
        let mut s = v;
        let mut n = 16;
        while n > 1 {
            n /= 2;
            for i in 0..n {
                s[i] += s[i + n];
            }
        }
        s[0]
    }
    #[inline(always)]
    unsafe fn reduce_max(v: V) -> f32 {
        v.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b))
    }
    #[inline(always)]
    unsafe fn round(v: V) -> V {
        map(v, f32::round_ties_even)
    }
    #[inline(always)]
    unsafe fn round_away(v: V) -> V {
        map(v, f32::round)
    }
    #[inline(always)]
    unsafe fn mul_pow2(p: V, k: V) -> V {
        zip(p, k, |p, k| {
            let k = k as i32;
            let k1 = k >> 1;
            p * pow2i(k1) * pow2i(k - k1)
        })
    }

    #[inline(always)]
    unsafe fn loadq(p: *const u8) -> Q {
        std::ptr::read_unaligned(p as *const Q)
    }
    #[inline(always)]
    unsafe fn qzero() -> Q {
        [0; 16]
    }
    #[inline(always)]
    unsafe fn qadd(a: Q, b: Q) -> Q {
        std::array::from_fn(|i| a[i].wrapping_add(b[i]))
    }
    #[inline(always)]
    unsafe fn q_to_f32(q: Q) -> V {
        std::array::from_fn(|i| q[i] as i32 as f32)
    }
    #[inline(always)]
    unsafe fn nibble(q: Q, shift: u32) -> V {
        std::array::from_fn(|i| ((q[i] >> shift) & 0xF) as f32)
    }
    #[inline(always)]
    unsafe fn sbyte(q: Q, j: u32) -> V {
        std::array::from_fn(|i| (q[i] >> (8 * j)) as u8 as i8 as f32)
    }
    #[inline(always)]
    unsafe fn low_nibbles(q: Q) -> Q {
        std::array::from_fn(|i| q[i] & 0x0F0F_0F0F)
    }
    #[inline(always)]
    unsafe fn high_nibbles(q: Q) -> Q {
        std::array::from_fn(|i| (q[i] >> 4) & 0x0F0F_0F0F)
    }
    #[inline(always)]
    unsafe fn dot_u4(acc: Q, w: Q, x: i32) -> Q {
        std::array::from_fn(|i| (acc[i] as i32 + dot4(w[i], x, false)) as u32)
    }
    #[inline(always)]
    unsafe fn prep_s8(w: Q) -> Q {
        w
    }
    #[inline(always)]
    unsafe fn dot_s8(acc: Q, wp: Q, x: i32) -> Q {
        std::array::from_fn(|i| (acc[i] as i32 + dot4(wp[i], x, true)) as u32)
    }
}
