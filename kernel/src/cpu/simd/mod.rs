//! The SIMD layer: every CPU kernel is written once, over the trait [`Simd`], and compiled for each
//! instruction set by [`simd_fn!`] (a wrapper per ISA with `#[target_feature]`, chosen at run time by
//! `isa::current()`).
//!
//! The vector type is 16 f32 lanes on every ISA, because the quantized weight panels interleave 16 rows
//! (`panel.rs`): one AVX-512 register, two AVX2 registers, four NEON registers, or an array for the
//! portable code. A kernel therefore has one design everywhere; what differs per ISA is how many
//! activation rows a tile holds (`TILE`, the register budget) and how many independent accumulator
//! chains hide the FMA latency (`chains`).
//!
//! Why a small layer of our own rather than a crate such as `pulp`: the kernels need operations outside
//! a portable API — u8×i8 four-way dot products (AVX512-VNNI / AVX-VNNI `vpdpbusd`, AVX2
//! `vpmaddubsw`+`vpmaddwd`, NEON `sdot` or `smull`+`sadalp`), nibble and byte extraction from 32-bit
//! lanes, masked tails — and the AVX-512 instantiation had to stay as fast as the hand-written kernels
//! it replaced (README "Speed" has both measurements).
//!
//! Every function of the layer is `#[inline(always)]` and the kernels over it too, so the whole kernel
//! inlines into its `#[target_feature]` wrapper and is compiled with that ISA's instructions.
#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(target_arch = "x86_64")]
pub mod avx512;
pub mod math;
#[cfg(target_arch = "aarch64")]
pub mod neon;
pub mod scalar;

#[cfg(target_arch = "x86_64")]
pub use avx2::Avx2;
#[cfg(target_arch = "x86_64")]
pub use avx512::Avx512;
#[cfg(target_arch = "aarch64")]
pub use neon::Neon;
pub use scalar::Scalar;

/// Vector operations over 16 f32 lanes (`V`) and 16 32-bit integer lanes (`Q`, 64 bytes).
///
/// # Safety
/// Every method may use instructions of its ISA: call them only from code compiled for it (through
/// `simd_fn!`). Pointer arguments must be valid for the 16 lanes (64 bytes) they read or write, or
/// for `n` lanes in the `_n` variants.
// Each method's safety contract is the trait's (above), not repeated per method.
#[allow(clippy::missing_safety_doc)]
pub trait Simd: Copy + Send + Sync + 'static {
    /// Activation rows per tile of the f32 panel kernel and of the 8-bit one (register budget).
    const TILE: usize;
    const TILE_INT8: usize;
    /// Activation rows per tile of the kernel over dequantized (f32) panels, which has no decoding to
    /// hold registers and so takes more rows.
    const TILE_F32: usize;
    /// From this many activation rows on, a quantized product decodes each weight panel to f32 once
    /// per chunk of rows instead of in registers per tile (measured per ISA: README "Speed").
    const DEQUANT_MIN_ROWS: usize;
    /// `dot_s8` computes Σ (w + Q8_BIAS)·x; the caller takes Q8_BIAS·Σx back out.
    const Q8_BIAS: f32;

    type V: Copy;
    type Q: Copy;

    /// Independent accumulator chains per activation row in a tile of `t` rows: enough FMAs in
    /// flight to cover their latency, few enough to stay in registers.
    fn chains(t: usize) -> usize;

    unsafe fn zero() -> Self::V;
    unsafe fn splat(x: f32) -> Self::V;
    unsafe fn load(p: *const f32) -> Self::V;
    unsafe fn store(p: *mut f32, v: Self::V);
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn sub(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn mul(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn div(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn max(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn min(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn abs(a: Self::V) -> Self::V;
    /// a·b + c (fused where the ISA has it).
    unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// c − a·b (fused where the ISA has it).
    unsafe fn fnma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    unsafe fn reduce_add(v: Self::V) -> f32;
    unsafe fn reduce_max(v: Self::V) -> f32;
    /// Round to nearest, ties to even.
    unsafe fn round(v: Self::V) -> Self::V;
    /// Round to nearest, ties away from zero (C's roundf).
    unsafe fn round_away(v: Self::V) -> Self::V;
    /// p·2^k for integral k in [−150, 128], with a single rounding (as AVX-512's scalef).
    unsafe fn mul_pow2(p: Self::V, k: Self::V) -> Self::V;

    /// Loads the first `n` ≤ 16 lanes; the others are 0.
    unsafe fn load_n(p: *const f32, n: usize) -> Self::V {
        let mut t = [0f32; 16];
        std::ptr::copy_nonoverlapping(p, t.as_mut_ptr(), n.min(16));
        Self::load(t.as_ptr())
    }
    /// Stores the first `n` ≤ 16 lanes.
    unsafe fn store_n(p: *mut f32, n: usize, v: Self::V) {
        let mut t = [0f32; 16];
        Self::store(t.as_mut_ptr(), v);
        std::ptr::copy_nonoverlapping(t.as_ptr(), p, n.min(16));
    }
    /// Writes the 16 lanes (integral values in −128..=127) as signed bytes.
    unsafe fn store_i8(p: *mut i8, v: Self::V) {
        let mut t = [0f32; 16];
        Self::store(t.as_mut_ptr(), v);
        for (i, x) in t.iter().enumerate() {
            *p.add(i) = *x as i8;
        }
    }

    unsafe fn loadq(p: *const u8) -> Self::Q;
    unsafe fn qzero() -> Self::Q;
    unsafe fn qadd(a: Self::Q, b: Self::Q) -> Self::Q;
    /// i32 lanes to f32.
    unsafe fn q_to_f32(q: Self::Q) -> Self::V;
    /// ((lane >> shift) & 0xF) as f32; `shift` is a constant in 0..=28 after inlining.
    unsafe fn nibble(q: Self::Q, shift: u32) -> Self::V;
    /// Signed byte `j` (0..4) of each lane, as f32.
    unsafe fn sbyte(q: Self::Q, j: u32) -> Self::V;
    /// Each byte's low nibble.
    unsafe fn low_nibbles(q: Self::Q) -> Self::Q;
    /// Each byte's high nibble.
    unsafe fn high_nibbles(q: Self::Q) -> Self::Q;
    /// acc[l] + Σ_{j<4} w.byte[4l + j] · x.byte[j] for weight bytes in 0..=15 and signed activation bytes
    /// (`x` holds four of them).
    unsafe fn dot_u4(acc: Self::Q, w: Self::Q, x: i32) -> Self::Q;
    /// The encoding of signed weight bytes that `dot_s8` takes (hoisted out of the row loop).
    unsafe fn prep_s8(w: Self::Q) -> Self::Q;
    /// acc[l] + Σ_{j<4} (w.byte[4l + j] + Q8_BIAS) · x.byte[j], for `wp = prep_s8(w)`; exact for every
    /// signed weight byte and activation bytes in −127..=127.
    unsafe fn dot_s8(acc: Self::Q, wp: Self::Q, x: i32) -> Self::Q;
}

/// `simd_fn!(fn name(args) -> R => kernel)` defines `name`, which runs the generic
/// `kernel::<S: Simd>(args)` compiled for the current ISA (`isa::current()`). `[int]` before `fn`
/// marks kernels that use the integer dot products, which get a separate AVX-VNNI / dotprod build;
/// float kernels run the plain AVX2 / NEON build there. `unsafe fn` forms define an unsafe wrapper.
#[macro_export]
#[doc(hidden)]
macro_rules! simd_fn {
    ($(#[$m:meta])* $vis:vis unsafe fn $name:ident($($a:ident: $t:ty),* $(,)?) $(-> $r:ty)? => $imp:ident) => {
        $crate::simd_fn!(@def [float] [unsafe] $(#[$m])* $vis $name ($($a: $t),*) ($($r)?) $imp);
    };
    ($(#[$m:meta])* $vis:vis fn $name:ident($($a:ident: $t:ty),* $(,)?) $(-> $r:ty)? => $imp:ident) => {
        $crate::simd_fn!(@def [float] [] $(#[$m])* $vis $name ($($a: $t),*) ($($r)?) $imp);
    };
    ([int] $(#[$m:meta])* $vis:vis unsafe fn $name:ident($($a:ident: $t:ty),* $(,)?) $(-> $r:ty)? => $imp:ident) => {
        $crate::simd_fn!(@def [int] [unsafe] $(#[$m])* $vis $name ($($a: $t),*) ($($r)?) $imp);
    };
    ([int] $(#[$m:meta])* $vis:vis fn $name:ident($($a:ident: $t:ty),* $(,)?) $(-> $r:ty)? => $imp:ident) => {
        $crate::simd_fn!(@def [int] [] $(#[$m])* $vis $name ($($a: $t),*) ($($r)?) $imp);
    };
    (@def [$kind:ident] [$($uns:ident)?] $(#[$m:meta])* $vis:vis $name:ident ($($a:ident: $t:ty),*) ($($r:ty)?) $imp:ident) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        $vis $($uns)? fn $name($($a: $t),*) $(-> $r)? {
            #[allow(unused_imports)]
            use $crate::cpu::isa::Isa;
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma")]
            #[allow(clippy::too_many_arguments)]
            unsafe fn on_avx512($($a: $t),*) $(-> $r)? { $imp::<$crate::cpu::simd::Avx512>($($a),*) }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma,avxvnni")]
            #[allow(clippy::too_many_arguments, dead_code)]
            unsafe fn on_avxvnni($($a: $t),*) $(-> $r)? { $imp::<$crate::cpu::simd::Avx2<true>>($($a),*) }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            #[allow(clippy::too_many_arguments)]
            unsafe fn on_avx2($($a: $t),*) $(-> $r)? { $imp::<$crate::cpu::simd::Avx2<false>>($($a),*) }
            #[cfg(target_arch = "aarch64")]
            #[target_feature(enable = "neon,dotprod")]
            #[allow(clippy::too_many_arguments, dead_code)]
            unsafe fn on_dotprod($($a: $t),*) $(-> $r)? { $imp::<$crate::cpu::simd::Neon<true>>($($a),*) }
            #[cfg(target_arch = "aarch64")]
            #[target_feature(enable = "neon")]
            #[allow(clippy::too_many_arguments)]
            unsafe fn on_neon($($a: $t),*) $(-> $r)? { $imp::<$crate::cpu::simd::Neon<false>>($($a),*) }
            #[allow(unused_unsafe)]
            // SAFETY: each wrapper runs only when `isa::current()` says the CPU has its features; the
            // caller upholds the kernel's own contract (for the unsafe forms).
            unsafe {
                match $crate::cpu::isa::current() {
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx512 => on_avx512($($a),*),
                    #[cfg(target_arch = "x86_64")]
                    Isa::AvxVnni => $crate::simd_fn!(@vnni [$kind] on_avxvnni on_avx2 ($($a),*)),
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx2 => on_avx2($($a),*),
                    #[cfg(target_arch = "aarch64")]
                    Isa::Dotprod => $crate::simd_fn!(@vnni [$kind] on_dotprod on_neon ($($a),*)),
                    #[cfg(target_arch = "aarch64")]
                    Isa::Neon => on_neon($($a),*),
                    _ => $imp::<$crate::cpu::simd::Scalar>($($a),*),
                }
            }
        }
    };
    (@vnni [int] $with:ident $without:ident ($($a:ident),*)) => { $with($($a),*) };
    (@vnni [float] $with:ident $without:ident ($($a:ident),*)) => { $without($($a),*) };
}
