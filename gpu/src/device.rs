//! Where the kernels run: device memory and launches. [`Gpu`] is what the backend's host code
//! (`backend.rs`) is written against; [`EmulatedGpu`] is host memory and the emulator, so all of that
//! host code — launch shapes, buffers, argument lists — runs and is tested with no GPU. A CUDA device
//! (cudarc) implements the same trait.
use crate::emulated::{self, LaunchConfig, ThreadOrder};
use crate::launch::{Arg, Kernel};
use std::alloc::Layout;
use std::ptr::NonNull;

/// A device: buffers of bytes at device addresses, copies, and kernel launches. Errors are bugs or
/// lost devices: the backend turns them into panics with the message.
pub trait Gpu: Send + Sync + 'static {
    type Buffer: Send + Sync;
    fn name(&self) -> String;
    /// A zeroed buffer of `bytes` (at least 1), aligned for any kernel argument type.
    fn alloc(&self, bytes: usize) -> Self::Buffer;
    /// The device address of the buffer's first byte.
    fn address(&self, b: &Self::Buffer) -> u64;
    fn write(&self, dst: &Self::Buffer, offset: usize, data: &[u8]);
    fn read(&self, src: &Self::Buffer, offset: usize, out: &mut [u8]);
    /// Device-to-device copy of `bytes`.
    fn copy(&self, src: &Self::Buffer, src_offset: usize, dst: &Self::Buffer, dst_offset: usize, bytes: usize);
    fn launch(&self, kernel: &Kernel, cfg: LaunchConfig, args: &[Arg]) -> Result<(), String>;
}

/// A buffer of host memory standing in for device memory: written through raw addresses by the
/// emulated kernels, so it is never borrowed as a Rust slice while a kernel runs.
pub struct HostBuffer {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: a plain allocation; the backend orders every access (one launch at a time).
unsafe impl Send for HostBuffer {}
unsafe impl Sync for HostBuffer {}

impl Drop for HostBuffer {
    fn drop(&mut self) {
        // SAFETY: allocated in `EmulatedGpu::alloc` with this layout.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// The emulated device: host memory, kernels run by the emulator in the given thread order.
#[derive(Debug, Clone, Copy)]
pub struct EmulatedGpu {
    pub order: ThreadOrder,
}

impl Default for EmulatedGpu {
    fn default() -> Self {
        EmulatedGpu { order: ThreadOrder::Forward }
    }
}

fn check_range(what: &str, offset: usize, len: usize, size: usize) {
    assert!(offset.checked_add(len).is_some_and(|end| end <= size), "{what}: bytes {offset}..+{len} of a {size}-byte buffer");
}

impl Gpu for EmulatedGpu {
    type Buffer = HostBuffer;
    fn name(&self) -> String {
        format!("cuda-emulated (the CUDA kernels compiled for the CPU, threads in {:?} order)", self.order)
    }
    fn alloc(&self, bytes: usize) -> HostBuffer {
        let layout = Layout::from_size_align(bytes.max(1), 16).expect("buffer size");
        // SAFETY: the layout's size is non-zero.
        let ptr = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) }).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        HostBuffer { ptr, layout }
    }
    fn address(&self, b: &HostBuffer) -> u64 {
        b.ptr.as_ptr() as usize as u64
    }
    fn write(&self, dst: &HostBuffer, offset: usize, data: &[u8]) {
        check_range("write", offset, data.len(), dst.layout.size());
        // SAFETY: in bounds (checked); no kernel runs during a host call.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), dst.ptr.as_ptr().add(offset), data.len()) }
    }
    fn read(&self, src: &HostBuffer, offset: usize, out: &mut [u8]) {
        check_range("read", offset, out.len(), src.layout.size());
        // SAFETY: as for write.
        unsafe { std::ptr::copy_nonoverlapping(src.ptr.as_ptr().add(offset), out.as_mut_ptr(), out.len()) }
    }
    fn copy(&self, src: &HostBuffer, src_offset: usize, dst: &HostBuffer, dst_offset: usize, bytes: usize) {
        check_range("copy from", src_offset, bytes, src.layout.size());
        check_range("copy to", dst_offset, bytes, dst.layout.size());
        // SAFETY: both ranges in bounds; `copy` allows overlap (src and dst may be one buffer).
        unsafe { std::ptr::copy(src.ptr.as_ptr().add(src_offset), dst.ptr.as_ptr().add(dst_offset), bytes) }
    }
    fn launch(&self, kernel: &Kernel, cfg: LaunchConfig, args: &[Arg]) -> Result<(), String> {
        // SAFETY: the backend passes addresses of live buffers sized for the launch.
        unsafe { emulated::run(kernel, cfg, self.order, args) }
    }
}
