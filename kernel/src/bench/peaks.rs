//! The machine's measured limits, the yardstick of every kernel figure (as llm.c and STREAM do: never
//! a datasheet number): f32 FMA throughput and 8-bit dot-product throughput on the current ISA level
//! (through the same SIMD layer the kernels use), bf16 dot-product throughput where the CPU has it,
//! and memory bandwidth (a STREAM triad over arrays far larger than any cache) — all threads at once.
use crate::cpu::simd::Simd;
use crate::simd_fn;
use rayon::prelude::*;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Peaks {
    /// f32 multiply-adds, counted as 2 FLOP each, per second (all threads), in G.
    pub f32_gflops: f64,
    /// 8-bit multiply-adds of the int8 kernels' dot product (2 ops each), per second, in G.
    pub int8_gops: f64,
    /// bf16 pair dot products (`vdpbf16ps`, 2 multiply-adds per f32 lane), in GFLOP/s; None where the
    /// CPU lacks the instruction.
    pub bf16_gflops: Option<f64>,
    /// Bytes moved per second by the triad a = b + s·c (3 × 4 bytes per element), in GB.
    pub mem_gbs: f64,
}

/// Independent accumulator chains: enough to cover the FMA latency on two ports. The probes run with
/// both counts and keep the faster: AVX-512 needs 8 or more chains in its 32 registers, while AVX2's
/// 16-lane vector takes two of its 16 registers per chain (more than 6 would spill).
const CHAINS: usize = 10;
const FEW_CHAINS: usize = 6;

simd_fn! {
    fn fma_loop(iters: usize) -> f32 => fma_many
}

simd_fn! {
    fn fma_loop_few(iters: usize) -> f32 => fma_few
}

#[inline(always)]
unsafe fn fma_many<S: Simd>(iters: usize) -> f32 {
    fma_k::<S, CHAINS>(iters)
}

#[inline(always)]
unsafe fn fma_few<S: Simd>(iters: usize) -> f32 {
    fma_k::<S, FEW_CHAINS>(iters)
}

#[inline(always)]
unsafe fn fma_k<S: Simd, const N: usize>(iters: usize) -> f32 {
    let (a, b) = (S::splat(0.999_999), S::splat(1e-7));
    let z = S::zero();
    let mut acc = [z; N];
    for _ in 0..iters {
        for c in acc.iter_mut() {
            *c = S::fma(*c, a, b);
        }
    }
    acc.iter().fold(0.0, |s, &v| s + S::reduce_add(v))
}

simd_fn! {
    [int] fn dot8_loop(w: &[u8; 64], iters: usize) -> f32 => dot8_many
}

simd_fn! {
    [int] fn dot8_loop_few(w: &[u8; 64], iters: usize) -> f32 => dot8_few
}

#[inline(always)]
unsafe fn dot8_many<S: Simd>(w: &[u8; 64], iters: usize) -> f32 {
    dot8_k::<S, CHAINS>(w, iters)
}

#[inline(always)]
unsafe fn dot8_few<S: Simd>(w: &[u8; 64], iters: usize) -> f32 {
    dot8_k::<S, FEW_CHAINS>(w, iters)
}

/// `w`: weights the compiler cannot see (a constant would let it fold the products away).
#[inline(always)]
unsafe fn dot8_k<S: Simd, const N: usize>(w: &[u8; 64], iters: usize) -> f32 {
    let w = S::prep_s8(S::loadq(w.as_ptr()));
    let z = S::qzero();
    let mut acc = [z; N];
    for i in 0..iters {
        for c in acc.iter_mut() {
            *c = S::dot_s8(*c, w, i as i32 | 0x0101_0101);
        }
    }
    acc.iter().fold(0.0, |s, &v| s + S::reduce_add(S::q_to_f32(v)))
}

/// Twice the f32 probe's chains: `vdpbf16ps`'s latency is longer than an FMA's on some cores, and
/// the probe must measure its throughput.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn bf16_loop(iters: usize) -> f32 {
    use std::arch::x86_64::*;
    let a: __m512bh = std::mem::transmute(_mm512_set1_epi16(0x3f80));
    let b: __m512bh = std::mem::transmute(_mm512_set1_epi16(0x3380));
    let mut acc = [_mm512_setzero_ps(); 2 * CHAINS];
    for _ in 0..iters {
        for c in acc.iter_mut() {
            *c = _mm512_dpbf16_ps(*c, a, b);
        }
    }
    acc.iter().fold(0.0, |s, &v| s + _mm512_reduce_add_ps(v))
}

/// Whether this CPU has bf16 dot products (AVX512_BF16).
pub fn has_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512bf16") && crate::cpu::isa::current() == crate::cpu::isa::Isa::Avx512
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Operations per second of `f(iters)` run on every thread of the pool at once, `per_iter`
/// operations per iteration per thread: the best of three runs of about `seconds` each (a peak is
/// what the machine can do; on a shared machine a neighbour's burst halves a single run).
fn throughput(per_iter: f64, seconds: f64, f: impl Fn(usize) -> f32 + Sync) -> f64 {
    let threads = rayon::current_num_threads();
    let run = |iters: usize| {
        let t = Instant::now();
        let sink: f32 = (0..threads).into_par_iter().map(|_| f(iters)).sum();
        std::hint::black_box(sink);
        t.elapsed().as_secs_f64()
    };
    let mut iters = 1 << 14;
    loop {
        let s = run(iters);
        if s >= seconds || iters >= 1 << 40 {
            break;
        }
        iters = (iters as f64 * (seconds / s.max(1e-4)).clamp(2.0, 64.0)) as usize;
    }
    let best = (0..3).map(|_| run(iters)).fold(f64::INFINITY, f64::min);
    per_iter * iters as f64 * threads as f64 / best
}

/// GB/s of the triad a[i] = b[i] + s·c[i] over `n` f32 per array (median of 5 passes).
fn triad_gbs(n: usize) -> f64 {
    let (mut a, b, c) = (vec![0f32; n], vec![1f32; n], vec![2f32; n]);
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        a.par_chunks_mut(1 << 16).zip(b.par_chunks(1 << 16).zip(c.par_chunks(1 << 16))).for_each(|(a, (b, c))| {
            for ((a, b), c) in a.iter_mut().zip(b).zip(c) {
                *a = b + 3.0 * c;
            }
        });
        times.push(t.elapsed().as_secs_f64());
        std::hint::black_box(&a);
    }
    times.sort_by(f64::total_cmp);
    12.0 * n as f64 / times[times.len() / 2] / 1e9
}

/// Measure the compute peaks at the current ISA level in about `seconds` each, beside the memory
/// bandwidth `mem_gbs` (from [`memory_gbs`]: plain loads and stores, the same at every level).
pub fn measure(seconds: f64, mem_gbs: f64) -> Peaks {
    let best = |a: f64, b: f64| a.max(b) / 1e9;
    let f32_gflops = best(throughput((CHAINS * 32) as f64, seconds, fma_loop), throughput((FEW_CHAINS * 32) as f64, seconds, fma_loop_few));
    let w: [u8; 64] = std::array::from_fn(|i| std::hint::black_box(i as u8 * 37 + 11));
    let int8_gops = best(
        throughput((CHAINS * 128) as f64, seconds, |i| dot8_loop(&w, i)),
        throughput((FEW_CHAINS * 128) as f64, seconds, |i| dot8_loop_few(&w, i)),
    );
    #[cfg(target_arch = "x86_64")]
    let bf16_gflops = has_bf16().then(|| throughput((2 * CHAINS * 16 * 2 * 2) as f64, seconds, |i| unsafe { bf16_loop(i) }) / 1e9);
    #[cfg(not(target_arch = "x86_64"))]
    let bf16_gflops = None;
    Peaks { f32_gflops, int8_gops, bf16_gflops, mem_gbs }
}

/// Memory bandwidth: the triad over arrays of `floats` f32 each ([`DEFAULT_MEM_FLOATS`] — 768 MB in
/// all — outruns the caches of any CPU this runs on).
pub fn memory_gbs(floats: usize) -> f64 {
    triad_gbs(floats)
}

pub const DEFAULT_MEM_FLOATS: usize = 64 << 20;
