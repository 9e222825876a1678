//! Functions built from the layer's primitives, the same on every ISA.
use super::Simd;

/// exp by range reduction: x = k·ln2 + r with |r| ≤ ln2/2, exp(r) by its Taylor polynomial of degree 7
/// (relative error below 1e-7, about one f32 ulp), then scaled by 2^k. Inputs below −104 give 0 and
/// above 88.7 give +inf, as expf.
///
/// # Safety
/// As every `Simd` method: only from code compiled for `S`'s ISA.
#[inline(always)]
pub unsafe fn exp<S: Simd>(x: S::V) -> S::V {
    const C: [f32; 8] = [1.0, 1.0, 0.5, 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0, 1.0 / 720.0, 1.0 / 5040.0];
    let x = S::min(S::max(x, S::splat(-104.0)), S::splat(89.0));
    let k = S::round(S::mul(x, S::splat(std::f32::consts::LOG2_E)));
    // ln2 in two parts, so k·ln2 is subtracted without rounding error.
    let r = S::fnma(k, S::splat(1.428_606_8e-6), S::fnma(k, S::splat(0.693_145_75), x));
    let mut p = S::splat(C[7]);
    for c in C[..7].iter().rev() {
        p = S::fma(p, r, S::splat(*c));
    }
    S::mul_pow2(p, k)
}
