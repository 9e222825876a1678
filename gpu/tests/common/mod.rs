//! What the GPU test binaries share.
#![allow(dead_code)]
pub mod tensor_core;

use sqlora_gpu::emulated::{run, LaunchConfig, ThreadOrder};
use sqlora_gpu::launch::{Arg, Kernel};

/// A buffer's address as a kernel argument (the emulator's device memory is host memory): `ptr` for
/// what a kernel reads, `out` for what it writes.
pub fn ptr<T>(v: &[T]) -> Arg {
    Arg::Ptr(v.as_ptr() as usize as u64)
}

pub fn out<T>(v: &mut [T]) -> Arg {
    Arg::Ptr(v.as_mut_ptr() as usize as u64)
}

pub fn i(v: usize) -> Arg {
    Arg::I32(v as i32)
}

/// One launch on the emulator.
pub fn go(kernel: &Kernel, cfg: LaunchConfig, order: ThreadOrder, args: &[Arg]) {
    unsafe { run(kernel, cfg, order, args) }.unwrap()
}

/// Deterministic values in about [-2, 2).
pub fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
        })
        .collect()
}
