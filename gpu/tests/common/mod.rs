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

/// Deterministic values in [-2, 2): the engine's test inputs (`bench::inputs::rand`), doubled.
pub fn values(n: usize, seed: u64) -> Vec<f32> {
    sqlora_kernel::bench::inputs::rand(n, seed).iter().map(|&x| 2.0 * x as f32).collect()
}
