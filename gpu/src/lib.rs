//! sqlora's GPU side: hand-written CUDA kernels (`gpu/kernels/*.cu`), their emulation on the CPU, and
//! the backend's host code over either.
//!
//! The same `.cu` sources are compiled twice: by NVRTC to PTX for a GPU (`scripts/gpu_ptx.py` checks
//! every kernel for sm_80 and sm_90 and prints ptxas's registers, spills and shared memory), and by the
//! host's C++ compiler with `emu/cuda_emu.h` for the CPU, where a block's threads run as fibers
//! ([`emulated`]). [`backend::GpuBackend`] implements the engine's inference ops as kernel launches
//! over a [`device::Gpu`]; [`device::EmulatedGpu`] runs them on the emulator. The tests
//! (`gpu/tests/gpu_emulator.rs`, `gpu/tests/gpu_kernels.rs`) check the emulator itself and run each
//! kernel against `sqlora_kernel::reference` in both thread orders; the engine's backend-generic tests
//! run on `GpuBackend<EmulatedGpu>`; `scripts/gpu_check.sh` runs the kernel tests again under
//! AddressSanitizer and UBSan.
pub mod backend;
mod backend_train;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod device;
pub mod emulated;
pub mod kernels;
pub mod launch;
#[cfg(feature = "cuda")]
pub mod ptx;
mod train_attention;
mod train_elementwise;

pub use backend::GpuBackend;
#[cfg(feature = "cuda")]
pub use cuda::CudaGpu;
pub use device::EmulatedGpu;
