//! Launching the emulated kernels: a grid of blocks on the calling thread, each block's threads as
//! fibers that switch at barriers and warp operations (the scheduler is `emu/runtime.cpp`).
use crate::launch::{Arg, Kernel};
use std::ffi::{c_char, c_int, c_void, CStr};

/// A kernel launch's shape, as CUDA's `<<<grid, block, shared>>>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaunchConfig {
    pub grid: [u32; 3],
    pub block: [u32; 3],
    /// Dynamic shared memory in bytes (`SQ_DYNAMIC_SHARED`).
    pub shared_bytes: usize,
}

impl LaunchConfig {
    /// `blocks` blocks of `threads` threads along x, no dynamic shared memory.
    pub fn linear(blocks: u32, threads: u32) -> Self {
        LaunchConfig { grid: [blocks, 1, 1], block: [threads, 1, 1], shared_bytes: 0 }
    }
}

/// The order in which a block's runnable threads take their turns. A kernel whose result depends on
/// it has a race or a missing barrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadOrder {
    Forward,
    Reverse,
}

impl ThreadOrder {
    pub const BOTH: [ThreadOrder; 2] = [ThreadOrder::Forward, ThreadOrder::Reverse];
}

extern "C" {
    fn sq_emu_launch(
        grid: *const u32,
        block: *const u32,
        dynamic_shared_bytes: usize,
        reverse: c_int,
        body: extern "C" fn(*mut c_void),
        ctx: *mut c_void,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
}

/// Runs `body` as every thread of the grid: `body` calls one kernel (an `extern "C"` function of
/// [`crate::kernels`]) with its arguments, and the kernel reads its thread and block indices from the
/// emulator. Errs with the emulator's message when a block's threads cannot all finish (a barrier or
/// warp operation not every thread reaches).
///
/// # Safety
/// The kernel `body` calls must only touch memory its arguments own, as on a GPU.
pub unsafe fn launch<F: Fn()>(cfg: LaunchConfig, order: ThreadOrder, body: F) -> Result<(), String> {
    // Runs on a fiber's stack. A panic cannot unwind through the C++ scheduler: an `extern "C"`
    // function that panics aborts the process, which is what a test should see.
    extern "C" fn trampoline<F: Fn()>(ctx: *mut c_void) {
        // SAFETY: ctx is the `&F` passed below, alive for the whole launch.
        let f = unsafe { &*(ctx as *const F) };
        f()
    }
    let mut err = [0 as c_char; 512];
    // SAFETY: the arrays live across the call; the body pointer is a live `&F`.
    let rc = unsafe {
        sq_emu_launch(
            cfg.grid.as_ptr(),
            cfg.block.as_ptr(),
            cfg.shared_bytes,
            (order == ThreadOrder::Reverse) as c_int,
            trampoline::<F>,
            &body as *const F as *mut c_void,
            err.as_mut_ptr(),
            err.len(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        // SAFETY: the runtime writes a NUL-terminated message into err.
        Err(unsafe { CStr::from_ptr(err.as_ptr()) }.to_string_lossy().into_owned())
    }
}

/// Runs `kernel` over the grid with `args` (device addresses are host addresses here).
///
/// # Safety
/// The addresses in `args` must be of live buffers as large as the kernel reads and writes.
pub unsafe fn run(kernel: &Kernel, cfg: LaunchConfig, order: ThreadOrder, args: &[Arg]) -> Result<(), String> {
    kernel.check(args)?;
    let call = kernel.emulated;
    // SAFETY: as for `launch`; `call` checks the arguments against the kernel's signature.
    unsafe { launch(cfg, order, || call(args)) }.map_err(|e| format!("{}: {e}", kernel.name))
}
