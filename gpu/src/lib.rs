//! sqlora's GPU side: hand-written CUDA kernels (`gpu/kernels/*.cu`) and their emulation on the CPU.
//!
//! The same `.cu` sources are compiled twice: by NVRTC to PTX for a GPU (`scripts/gpu_ptx.py` checks
//! every kernel for sm_80 and sm_90 and prints ptxas's registers, spills and shared memory), and by the
//! host's C++ compiler with `emu/cuda_emu.h` for the CPU, where a block's threads run as fibers
//! ([`emulated`]). The kernel tests (`gpu/tests/`) run each kernel against `sqlora_kernel::reference`
//! in both thread orders; `scripts/gpu_check.sh` runs them again under AddressSanitizer and UBSan.
pub mod emulated;
pub mod kernels;
