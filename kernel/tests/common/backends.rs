//! One test body over every backend (candle's style): a body is written once as
//! `fn body<B: TrainBackend>(be: &B)` over upload/download, and `backend_tests!` instantiates it once
//! per backend row. Today the rows are the CPU's instruction-set levels; a new backend adds its row in
//! `backend_tests!` (one line) and every body runs on it.
#![allow(dead_code)]
use sqlora_kernel::backend::instrumented::{Instrumented, Observer};
use sqlora_kernel::backend::{Backend, HostMatrix};
use sqlora_kernel::cpu::isa::{self, Isa};
use sqlora_kernel::cpu::CpuBackend;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Runs `f` on the CPU backend with every kernel switched to `level`, or prints why it cannot: the
/// CPU lacks the level, or `SQLORA_TEST_ISA_LEVELS=best` limits slow tests to the best level (CI's
/// emulated aarch64 run). The level is process-wide: rows of one test binary take turns.
pub fn on_cpu_isa(level: Isa, f: impl FnOnce(&CpuBackend)) {
    let _guard = super::hold_isa();
    let best_only = std::env::var("SQLORA_TEST_ISA_LEVELS").is_ok_and(|v| v == "best");
    if !level.supported() || (best_only && isa::supported()[0] != level) {
        let why = if level.supported() { "SQLORA_TEST_ISA_LEVELS=best" } else { "not on this CPU" };
        eprintln!("SKIPPED: CPU ISA level {level} ({why}); the other rows of this test ran");
        return;
    }
    let before = isa::current();
    isa::set(level).unwrap();
    eprintln!("-- backend: cpu, ISA {level} ({})", level.describe());
    // Restore the level even when the body panics, so the next row starts clean.
    struct Restore(Isa);
    impl Drop for Restore {
        fn drop(&mut self) {
            isa::set(self.0).unwrap();
        }
    }
    let _restore = Restore(before);
    f(&CpuBackend::default())
}

/// Runs `f` on the CPU backend at the best level this CPU has (or `SQLORA_ISA`'s cap).
pub fn on_cpu_best(f: impl FnOnce(&CpuBackend)) {
    let _guard = super::hold_isa();
    eprintln!("-- backend: cpu, ISA {} ({})", isa::current(), isa::current().describe());
    f(&CpuBackend::default())
}

/// Runs `f` on the GPU backend over the emulated device: the CUDA kernels compiled for the CPU, run
/// thread by thread (gpu/), with the backend's own host code (launches, buffers, descriptors); a
/// block's threads in forward or reverse order (a race shows as a difference between the rows).
#[cfg(target_arch = "x86_64")]
pub fn on_gpu_emulated(order: sqlora_gpu::emulated::ThreadOrder, f: impl FnOnce(&sqlora_gpu::GpuBackend<sqlora_gpu::EmulatedGpu>)) {
    let be = sqlora_gpu::GpuBackend::new(sqlora_gpu::EmulatedGpu { order });
    eprintln!("-- backend: {}", be.name());
    f(&be)
}

/// `backend_tests!(a, b, …)`: a `#[test]` per body and backend row, named `<row>::<body>`; the CPU
/// gives a row per ISA level. `backend_tests!(best_isa: a, …)`: the CPU's row at its best level only,
/// for bodies over the real model that take minutes (the lower levels' kernels are checked by the
/// per-level bodies). `backend_tests!(gpu: a, …)`: bodies that also get the rows of the GPU backend on
/// the emulated device, `gpu_emulated` and `gpu_emulated_reverse` (it has the inference and the
/// training ops; bodies that reach into the CPU backend's own types stay CPU-only).
#[macro_export]
macro_rules! backend_tests {
    (gpu: $($body:ident),+ $(,)?) => {
        $crate::backend_tests!($($body),+);
        #[cfg(target_arch = "x86_64")]
        mod gpu_emulated { $( #[test] fn $body() { $crate::common::backends::on_gpu_emulated(sqlora_gpu::emulated::ThreadOrder::Forward, |be| super::$body(be)) } )+ }
        #[cfg(target_arch = "x86_64")]
        mod gpu_emulated_reverse { $( #[test] fn $body() { $crate::common::backends::on_gpu_emulated(sqlora_gpu::emulated::ThreadOrder::Reverse, |be| super::$body(be)) } )+ }
    };
    (best_isa: $($body:ident),+ $(,)?) => {
        mod cpu { $( #[test] fn $body() { $crate::common::backends::on_cpu_best(|be| super::$body(be)) } )+ }
    };
    ($($body:ident),+ $(,)?) => {
        #[cfg(target_arch = "x86_64")]
        mod cpu_avx512 { $( #[test] fn $body() { $crate::common::backends::on_cpu_isa(sqlora_kernel::cpu::isa::Isa::Avx512, |be| super::$body(be)) } )+ }
        #[cfg(target_arch = "x86_64")]
        mod cpu_avxvnni { $( #[test] fn $body() { $crate::common::backends::on_cpu_isa(sqlora_kernel::cpu::isa::Isa::AvxVnni, |be| super::$body(be)) } )+ }
        #[cfg(target_arch = "x86_64")]
        mod cpu_avx2 { $( #[test] fn $body() { $crate::common::backends::on_cpu_isa(sqlora_kernel::cpu::isa::Isa::Avx2, |be| super::$body(be)) } )+ }
        #[cfg(target_arch = "aarch64")]
        mod cpu_dotprod { $( #[test] fn $body() { $crate::common::backends::on_cpu_isa(sqlora_kernel::cpu::isa::Isa::Dotprod, |be| super::$body(be)) } )+ }
        #[cfg(target_arch = "aarch64")]
        mod cpu_neon { $( #[test] fn $body() { $crate::common::backends::on_cpu_isa(sqlora_kernel::cpu::isa::Isa::Neon, |be| super::$body(be)) } )+ }
        mod cpu_scalar { $( #[test] fn $body() { $crate::common::backends::on_cpu_isa(sqlora_kernel::cpu::isa::Isa::Scalar, |be| super::$body(be)) } )+ }
    };
}

/// A weight matrix from f32 values (row-major `rows × cols`).
pub fn f32_matrix<B: Backend>(be: &B, name: &str, w: &[f32], rows: usize, cols: usize) -> B::Matrix {
    let bytes: Vec<u8> = w.iter().flat_map(|x| x.to_le_bytes()).collect();
    be.matrix(&HostMatrix { name: name.into(), ty: sqlora_kernel::formats::quant::GgmlType::F32, rows, cols, bytes: &bytes }).unwrap()
}

/// Counts a backend's host transfers (with `Instrumented`): how the training step is shown to stay on
/// the device.
#[derive(Clone, Default)]
pub struct TransferCount {
    uploads: Arc<AtomicUsize>,
    downloads: Arc<AtomicUsize>,
}

impl Observer for TransferCount {
    fn observe<R>(&self, op: &'static str, f: impl FnOnce() -> R) -> R {
        match op {
            "upload" => self.uploads.fetch_add(1, Ordering::SeqCst),
            "download" => self.downloads.fetch_add(1, Ordering::SeqCst),
            _ => 0,
        };
        f()
    }
}

impl TransferCount {
    /// (uploads, downloads) so far.
    pub fn transfers(&self) -> (usize, usize) {
        (self.uploads.load(Ordering::SeqCst), self.downloads.load(Ordering::SeqCst))
    }
}

/// `inner` with its host transfers counted.
pub type Counting<B> = Instrumented<B, TransferCount>;

pub fn counting<B: Backend>(inner: B) -> Counting<B> {
    Instrumented { inner, observer: TransferCount::default() }
}
