//! The real GPU (cargo feature `cuda`): device memory, copies and kernel launches through cudarc, with
//! the CUDA driver and NVRTC loaded at run time, so the binary runs (and says why not) on any machine.
//!
//! The kernels are the `gpu/kernels/` sources embedded in the binary, turned into PTX for the GPU's
//! architecture at start-up (`ptx.rs`: a prebuilt folder, the cache, or NVRTC).
use crate::device::Gpu;
use crate::emulated::LaunchConfig;
use crate::launch::{Arg, Kernel};
use crate::ptx::{ptx_for, PtxSources, KERNEL_FILES};
use cudarc::driver::{result, sys, CudaContext, CudaFunction, CudaModule, CudaStream, PushKernelArg};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// An NVIDIA GPU through the CUDA driver.
pub struct CudaGpu {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    modules: Vec<Arc<CudaModule>>,
    functions: Mutex<HashMap<&'static str, CudaFunction>>,
    label: String,
}

/// Device memory: freed on drop.
pub struct CudaBuffer {
    ptr: sys::CUdeviceptr,
    bytes: usize,
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
}

impl Drop for CudaBuffer {
    fn drop(&mut self) {
        // Stream-ordered: freed after the launches queued before it, with no wait for the device (a
        // plain cuMemFree synchronizes the whole device, and a decode step drops dozens of buffers).
        // A failure here (a lost device) has nowhere to go but the log.
        let freed = self.ctx.bind_to_thread().and_then(|_| unsafe { result::free_async(self.ptr, self.stream.cu_stream()) });
        if let Err(e) = freed {
            eprintln!("cuda: freeing {} bytes: {e:?}", self.bytes);
        }
    }
}

/// Lets the device's default memory pool (which stream-ordered allocations come from) keep what is
/// freed instead of returning it to the driver at every synchronization, so the buffers of one decode
/// step are the next one's. Without it allocations still work, only slower: a failure is logged.
fn keep_freed_memory(ctx: &CudaContext) {
    let mut pool: sys::CUmemoryPool = std::ptr::null_mut();
    let mut threshold = u64::MAX;
    // SAFETY: plain driver calls on a live device; `threshold` outlives the call that reads it.
    let r = unsafe {
        sys::cuDeviceGetDefaultMemPool(&mut pool, ctx.cu_device()).result().and_then(|_| {
            sys::cuMemPoolSetAttribute(
                pool,
                sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
                &mut threshold as *mut u64 as *mut std::ffi::c_void,
            )
            .result()
        })
    };
    if let Err(e) = r {
        eprintln!("cuda: the memory pool will return freed memory to the driver ({e:?})");
    }
}

fn driver_err(what: &str, e: impl std::fmt::Debug) -> String {
    format!("cuda: {what}: {e:?}")
}

impl CudaGpu {
    /// Opens GPU `ordinal` and loads every kernel. Checks for the driver library before touching it
    /// (cudarc panics on a missing one) and says what is missing.
    pub fn new(ordinal: usize) -> Result<CudaGpu, String> {
        // SAFETY: only tries to open the library.
        if !unsafe { sys::is_culib_present() } {
            return Err("no CUDA driver on this machine (libcuda.so not found): --device cuda needs an NVIDIA GPU and its driver; \
                 --device cuda-emulated runs the same kernels on the CPU"
                .into());
        }
        // With a driver but no usable GPU (none installed, or hidden by CUDA_VISIBLE_DEVICES), cuInit
        // itself fails: say that plainly.
        result::init()
            .map_err(|e| format!("cuda: the driver found no usable NVIDIA GPU ({e:?}); --device cuda-emulated runs on the CPU"))?;
        let count = CudaContext::device_count().map_err(|e| driver_err("counting GPUs", e))?;
        if ordinal >= count as usize {
            return Err(format!("cuda: GPU {ordinal} asked for, {count} found"));
        }
        let ctx = CudaContext::new(ordinal).map_err(|e| driver_err("creating a context", e))?;
        let (major, minor) = ctx.compute_capability().map_err(|e| driver_err("reading the compute capability", e))?;
        let arch = format!("sm_{major}{minor}");
        let name = ctx.name().unwrap_or_else(|_| "an NVIDIA GPU".into());
        let mut modules = Vec::new();
        for (file, _) in KERNEL_FILES.iter().filter(|(f, _)| f.ends_with(".cu")) {
            let ptx = ptx_for(file, &arch, &PtxSources::from_env())?;
            modules.push(ctx.load_module(cudarc::nvrtc::Ptx::from_src(ptx)).map_err(|e| driver_err(&format!("loading {file}"), e))?);
        }
        let stream = ctx.default_stream();
        keep_freed_memory(&ctx);
        Ok(CudaGpu { label: format!("cuda ({name}, {arch}, GPU {ordinal})"), ctx, stream, modules, functions: Mutex::new(HashMap::new()) })
    }

    fn function(&self, kernel: &Kernel) -> Result<CudaFunction, String> {
        let mut cache = self.functions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = cache.get(kernel.name) {
            return Ok(f.clone());
        }
        let f = self
            .modules
            .iter()
            .find_map(|m| m.load_function(kernel.name).ok())
            .ok_or_else(|| format!("cuda: no kernel {} in gpu/kernels/", kernel.name))?;
        cache.insert(kernel.name, f.clone());
        Ok(f)
    }

    fn bind(&self) {
        if let Err(e) = self.ctx.bind_to_thread() {
            panic!("{}: binding the context: {e:?}", self.label);
        }
    }

    /// Bytes of the GPU's memory in use (by every process), as the driver reports it.
    pub fn memory_in_use(&self) -> Result<usize, String> {
        self.bind();
        let (free, total) = self.ctx.mem_get_info().map_err(|e| driver_err("reading memory use", e))?;
        Ok(total - free)
    }

    /// Waits for every launch so far: the host reads results only after it.
    pub fn synchronize(&self) -> Result<(), String> {
        self.stream.synchronize().map_err(|e| driver_err("synchronizing", e))
    }
}

impl Gpu for CudaGpu {
    type Buffer = CudaBuffer;
    fn name(&self) -> String {
        self.label.clone()
    }
    fn alloc(&self, bytes: usize) -> CudaBuffer {
        self.bind();
        let n = bytes.max(1);
        let s = self.stream.cu_stream();
        // Stream-ordered allocation and zeroing: no wait for the device (cuMemAlloc may synchronize).
        // SAFETY: plain driver calls on the bound context; the memory is zeroed before any later use
        // on the same stream.
        let ptr = unsafe { result::malloc_async(s, n).and_then(|p| result::memset_d8_async(p, 0, n, s).map(|_| p)) }
            .unwrap_or_else(|e| panic!("{}: allocating {n} bytes: {e:?}", self.label));
        CudaBuffer { ptr, bytes: n, ctx: self.ctx.clone(), stream: self.stream.clone() }
    }
    fn address(&self, b: &CudaBuffer) -> u64 {
        b.ptr
    }
    fn write(&self, dst: &CudaBuffer, offset: usize, data: &[u8]) {
        assert!(offset + data.len() <= dst.bytes, "cuda write: bytes {offset}..+{} of {}", data.len(), dst.bytes);
        self.bind();
        // Queued on the stream, so after every launch that may still read the buffer, with no wait for
        // the device: from pageable memory the driver stages `data` before it returns.
        // SAFETY: in bounds (checked); `data` is consumed before the call returns (pageable source).
        unsafe { result::memcpy_htod_async(dst.ptr + offset as u64, data, self.stream.cu_stream()) }
            .unwrap_or_else(|e| panic!("{}: copy to the GPU: {e:?}", self.label));
    }
    fn read(&self, src: &CudaBuffer, offset: usize, out: &mut [u8]) {
        assert!(offset + out.len() <= src.bytes, "cuda read: bytes {offset}..+{} of {}", out.len(), src.bytes);
        self.bind();
        self.synchronize().unwrap_or_else(|e| panic!("{e}"));
        // SAFETY: in bounds (checked); the launches that write it are finished.
        unsafe { result::memcpy_dtoh_sync(out, src.ptr + offset as u64) }
            .unwrap_or_else(|e| panic!("{}: copy from the GPU: {e:?}", self.label));
    }
    fn copy(&self, src: &CudaBuffer, src_offset: usize, dst: &CudaBuffer, dst_offset: usize, bytes: usize) {
        assert!(src_offset + bytes <= src.bytes && dst_offset + bytes <= dst.bytes, "cuda copy out of bounds");
        if bytes == 0 {
            return;
        }
        self.bind();
        // SAFETY: both ranges in bounds; queued on the stream after the launches before it.
        unsafe { result::memcpy_dtod_async(dst.ptr + dst_offset as u64, src.ptr + src_offset as u64, bytes, self.stream.cu_stream()) }
            .unwrap_or_else(|e| panic!("{}: device copy: {e:?}", self.label));
    }
    fn launch(&self, kernel: &Kernel, cfg: LaunchConfig, args: &[Arg]) -> Result<(), String> {
        kernel.check(args)?;
        let f = self.function(kernel)?;
        self.bind();
        // Every argument by value, as the kernel's parameters (a device address is a u64).
        let values: Vec<ArgValue> = args.iter().map(|a| ArgValue::from(*a)).collect();
        let mut b = self.stream.launch_builder(&f);
        for v in &values {
            match v {
                ArgValue::U64(x) => b.arg(x),
                ArgValue::I32(x) => b.arg(x),
                ArgValue::U32(x) => b.arg(x),
                ArgValue::F32(x) => b.arg(x),
            };
        }
        let c = cudarc::driver::LaunchConfig {
            grid_dim: (cfg.grid[0], cfg.grid[1], cfg.grid[2]),
            block_dim: (cfg.block[0], cfg.block[1], cfg.block[2]),
            shared_mem_bytes: cfg.shared_bytes as u32,
        };
        // SAFETY: the arguments match the kernel's signature (checked above) and the addresses are
        // of live buffers the backend sized for this launch.
        unsafe { b.launch(c) }.map(|_| ()).map_err(|e| driver_err(&format!("launching {}", kernel.name), e))
    }
}

enum ArgValue {
    U64(u64),
    I32(i32),
    U32(u32),
    F32(f32),
}

impl From<Arg> for ArgValue {
    fn from(a: Arg) -> Self {
        match a {
            Arg::Ptr(p) => ArgValue::U64(p),
            Arg::I32(v) => ArgValue::I32(v),
            Arg::U32(v) => ArgValue::U32(v),
            Arg::F32(v) => ArgValue::F32(v),
        }
    }
}
