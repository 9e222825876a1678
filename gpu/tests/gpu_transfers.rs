//! What a decode step moves between host and device on the GPU backend: a few small uploads (the new
//! tokens' ids, their positions once for every layer, the attention rows once, each layer's KV
//! segment addresses) and one read of one token id per sequence — not a row of logits, and not a
//! copy per layer of what every layer shares. Counted on the emulated device, whose host code is the
//! real device's.
use sqlora_gpu::device::{Gpu, HostBuffer};
use sqlora_gpu::emulated::LaunchConfig;
use sqlora_gpu::launch::{Arg, Kernel};
use sqlora_gpu::{EmulatedGpu, GpuBackend};
use sqlora_kernel::loader::ModelSource;
use sqlora_kernel::model::Model;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The emulated device, counting host → device writes and device → host reads (with their bytes).
#[derive(Default)]
struct Counting {
    inner: EmulatedGpu,
    writes: AtomicUsize,
    reads: AtomicUsize,
    read_bytes: AtomicUsize,
}

impl Gpu for Counting {
    type Buffer = HostBuffer;
    fn name(&self) -> String {
        self.inner.name()
    }
    fn alloc(&self, bytes: usize) -> HostBuffer {
        self.inner.alloc(bytes)
    }
    fn address(&self, b: &HostBuffer) -> u64 {
        self.inner.address(b)
    }
    fn write(&self, dst: &HostBuffer, offset: usize, data: &[u8]) {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.write(dst, offset, data)
    }
    fn read(&self, src: &HostBuffer, offset: usize, out: &mut [u8]) {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.read_bytes.fetch_add(out.len(), Ordering::Relaxed);
        self.inner.read(src, offset, out)
    }
    fn copy(&self, src: &HostBuffer, so: usize, dst: &HostBuffer, d: usize, bytes: usize) {
        self.inner.copy(src, so, dst, d, bytes)
    }
    fn launch(&self, kernel: &Kernel, cfg: LaunchConfig, args: &[Arg]) -> Result<(), String> {
        self.inner.launch(kernel, cfg, args)
    }
}

#[test]
fn a_decode_step_moves_ids_positions_and_descriptors_once_and_reads_one_token_per_sequence() {
    let gpu = Arc::new(Counting::default());
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tiny/llama");
    let m = Model::load(GpuBackend::shared(gpu.clone()), &ModelSource::open(&dir).unwrap()).unwrap();
    let layers = m.cfg.n_layers;
    let (mut a, mut b) = (m.new_cache(), m.new_cache());
    let first = m.forward_greedy(&mut [(&[1, 2, 3][..], &mut a), (&[4, 5][..], &mut b)]).unwrap();
    let (w0, r0, rb0) = (gpu.writes.load(Ordering::Relaxed), gpu.reads.load(Ordering::Relaxed), gpu.read_bytes.load(Ordering::Relaxed));
    let next = m.forward_greedy(&mut [(&[first[0]][..], &mut a), (&[first[1]][..], &mut b)]).unwrap();
    assert_eq!(next.len(), 2);
    let writes = gpu.writes.load(Ordering::Relaxed) - w0;
    let (reads, read_bytes) = (gpu.reads.load(Ordering::Relaxed) - r0, gpu.read_bytes.load(Ordering::Relaxed) - rb0);
    println!("decode step, {layers} layers, 2 sequences: {writes} uploads, {reads} reads of {read_bytes} bytes");
    // ids, positions, attention rows, the last rows' gather: 4; each layer's segment addresses: 1.
    assert_eq!(writes, 4 + layers, "uploads per decode step");
    assert_eq!((reads, read_bytes), (1, 8), "one read of two token ids");
}
