//! The GPU backend's host code: the engine's inference ops (`sqlora_kernel::backend::Backend`) as
//! launches of the kernels in gpu/kernels/, over any [`Gpu`] — the emulated one today, so every line
//! here runs in the engine's backend-generic tests with no GPU.
//!
//! Weights are uploaded once, in their GGUF encoding where a kernel decodes it on the fly (Q8_0, Q4_1,
//! Q4_K, Q6_K, f32, f16, bf16); the others (Q4_0, Q5_K) are widened to f32 on the host at load time
//! until their kernels exist (correct, 6-7× the memory).
use crate::device::Gpu;
use crate::emulated::LaunchConfig;
use crate::kernels as k;
use crate::launch::{Arg, Kernel, NULL};
use sqlora_kernel::backend::{AttnSeq, AttnShape, Backend, HostMatrix, LoraRef, NormShape, RopeShape, Rows};
use sqlora_kernel::config::RopeStyle;
use sqlora_kernel::formats::quant::{self, GgmlType};
use sqlora_kernel::{Error, Result};
use std::sync::{Arc, Mutex};

/// Threads per block of the elementwise kernels, and the most blocks they are given (grid-stride).
const THREADS: u32 = 256;
const MAX_BLOCKS: usize = 4096;
/// From how many rows of activations a product goes to the tensor cores (a guess until a GPU's
/// benchmark sets it: below it the 64-token tiles would be mostly padding).
const MMA_MIN_ROWS: usize = 32;
/// Decode attention: positions per split of a long cache, and below how many (row, head) warps the
/// rows are split at all (a GPU runs thousands of warps at once; guesses until a benchmark sets them).
const SPLIT_POSITIONS: usize = 256;
const SPLIT_MAX_WARPS: usize = 512;
/// Query rows per block of the prefill attention kernel (attention.cu's kTileRows).
const PREFILL_TILE_ROWS: usize = 16;

/// The engine's backend over a GPU (`G`: where the kernels run).
pub struct GpuBackend<G: Gpu> {
    pub(crate) gpu: Arc<G>,
    /// A decode step's positions, and its attention rows or tiles, are the same in every layer: each
    /// is uploaded once per step and reused while the same bytes come again.
    positions: Arc<Reused<G::Buffer>>,
    attn_rows: Arc<Reused<G::Buffer>>,
}

/// The last upload of one kind of small host data, kept while the same bytes are asked for again.
struct Reused<B> {
    last: Mutex<Option<(Vec<u8>, Arc<B>)>>,
}

impl<B> Default for Reused<B> {
    fn default() -> Self {
        Reused { last: Mutex::new(None) }
    }
}

impl<B> Reused<B> {
    fn get(&self, bytes: &[u8], upload: impl FnOnce() -> B) -> Arc<B> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        match &*last {
            Some((seen, buf)) if seen.as_slice() == bytes => buf.clone(),
            _ => {
                let buf = Arc::new(upload());
                *last = Some((bytes.to_vec(), buf.clone()));
                buf
            }
        }
    }
}

impl<G: Gpu> Clone for GpuBackend<G> {
    fn clone(&self) -> Self {
        GpuBackend { gpu: self.gpu.clone(), positions: self.positions.clone(), attn_rows: self.attn_rows.clone() }
    }
}

impl<G: Gpu> GpuBackend<G> {
    pub fn new(gpu: G) -> Self {
        Self::shared(Arc::new(gpu))
    }

    /// Over a device the caller keeps a handle to (to synchronize it or read its memory use).
    pub fn shared(gpu: Arc<G>) -> Self {
        GpuBackend { gpu, positions: Arc::default(), attn_rows: Arc::default() }
    }

    pub(crate) fn launch(&self, kernel: &Kernel, cfg: LaunchConfig, args: &[Arg]) {
        if let Err(e) = self.gpu.launch(kernel, cfg, args) {
            panic!("{}: {e}", self.gpu.name());
        }
    }

    /// `n` threads' worth of a grid-stride kernel.
    pub(crate) fn elementwise(&self, kernel: &Kernel, n: usize, args: &[Arg]) {
        if n == 0 {
            return;
        }
        let blocks = n.div_ceil(THREADS as usize).min(MAX_BLOCKS) as u32;
        self.launch(kernel, LaunchConfig::linear(blocks, THREADS), args)
    }

    pub(crate) fn ptr(&self, t: &GpuTensor<G>) -> Arg {
        Arg::Ptr(self.gpu.address(&t.buf))
    }

    /// A temporary device copy of small host data (indices, positions, descriptors) for one launch.
    pub(crate) fn upload_bytes(&self, bytes: &[u8]) -> G::Buffer {
        let b = self.gpu.alloc(bytes.len());
        self.gpu.write(&b, 0, bytes);
        b
    }

    pub(crate) fn upload_u32(&self, v: &[u32]) -> G::Buffer {
        self.upload_bytes(&le_bytes(v, u32::to_le_bytes))
    }

    /// out[m × rows] = x · W[row0 .. row0 + rows]ᵀ: a product with some of W's rows (the whole of W for
    /// `matmul`, a vocabulary chunk of the head for the cross-entropy).
    pub(crate) fn matmul_rows(&self, x: &GpuTensor<G>, m: usize, w: &GpuMatrix<G>, row0: usize, rows: usize, out: &mut GpuTensor<G>) {
        // Many rows (prefill): the tensor-core tiles of 64 tokens; few (decode): the CUDA-core tiles of 16.
        let kernels = kernels_for(w.ty);
        let (kernel, cfg) = match kernels.matmul_mma {
            Some(mma) if m >= MMA_MIN_ROWS => {
                (mma, LaunchConfig { grid: [rows.div_ceil(64) as u32, m.div_ceil(64) as u32, 1], block: [128, 1, 1], shared_bytes: 0 })
            }
            _ => (
                kernels.matmul,
                LaunchConfig { grid: [rows.div_ceil(64) as u32, m.div_ceil(16) as u32, 1], block: [256, 1, 1], shared_bytes: 0 },
            ),
        };
        let args = [
            self.ptr(x),
            Arg::Ptr(w.row_address(&*self.gpu, row0)),
            self.ptr(out),
            Arg::I32(m as i32),
            Arg::I32(rows as i32),
            Arg::I32(w.cols as i32),
            NULL,
            NULL,
            Arg::I32(0),
            Arg::F32(0.0),
        ];
        self.launch(&kernel, cfg, &args)
    }

    /// Rotates each head of each row by its position; `sign` −1 rotates back (RoPE's backward).
    pub(crate) fn rope_signed(&self, x: &mut GpuTensor<G>, positions: &[u32], s: RopeShape, sign: f32) {
        let pos = self.upload_reused(&self.positions, &le_bytes(positions, u32::to_le_bytes));
        let args = [
            self.ptr(x),
            Arg::Ptr(self.gpu.address(&pos)),
            Arg::I32(s.m as i32),
            Arg::I32(s.n_heads as i32),
            Arg::I32(s.head_dim as i32),
            Arg::F32(s.theta),
            Arg::I32((s.style == RopeStyle::Half) as i32),
            Arg::F32(sign),
        ];
        self.elementwise(&k::rope_f32, s.m * s.n_heads * s.head_dim / 2, &args)
    }

    /// `bytes` on the device through `slot`: uploaded only when they differ from the slot's last.
    fn upload_reused(&self, slot: &Reused<G::Buffer>, bytes: &[u8]) -> Arc<G::Buffer> {
        slot.get(bytes, || self.upload_bytes(bytes))
    }
}

/// An f32 activation buffer on the device: `len` values in a buffer of `cap`.
pub struct GpuTensor<G: Gpu> {
    pub(crate) buf: G::Buffer,
    pub(crate) len: usize,
    cap: usize,
}

/// A weight matrix on the device in an encoding a kernel decodes.
pub struct GpuMatrix<G: Gpu> {
    pub(crate) buf: G::Buffer,
    pub(crate) ty: GgmlType,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
}

impl<G: Gpu> GpuMatrix<G> {
    /// The device address of row `row`'s first byte.
    pub(crate) fn row_address(&self, gpu: &G, row: usize) -> u64 {
        gpu.address(&self.buf) + (row * self.ty.row_bytes(self.cols)) as u64
    }
}

/// The kernels of an encoding the device holds: the CUDA-core product, the tensor-core product
/// (matmul_mma.cu) where the encoding has codes for it, and the embedding lookup.
pub(crate) struct EncodingKernels {
    pub(crate) matmul: Kernel,
    pub(crate) matmul_mma: Option<Kernel>,
    pub(crate) embed: Kernel,
    /// dx = dy·W (training: matmul_bwd.cu).
    pub(crate) matmul_bwd: Kernel,
}

pub(crate) fn kernels_for(ty: GgmlType) -> EncodingKernels {
    let (matmul, matmul_mma, embed, matmul_bwd) = match ty {
        GgmlType::Q8_0 => (k::matmul_q8_0_f32, Some(k::matmul_mma_q8_0_f32), k::embed_q8_0, k::matmul_bwd_q8_0_f32),
        GgmlType::Q4_1 => (k::matmul_q4_1_f32, Some(k::matmul_mma_q4_1_f32), k::embed_q4_1, k::matmul_bwd_q4_1_f32),
        GgmlType::Q4K => (k::matmul_q4_k_f32, Some(k::matmul_mma_q4_k_f32), k::embed_q4_k, k::matmul_bwd_q4_k_f32),
        GgmlType::Q6K => (k::matmul_q6_k_f32, Some(k::matmul_mma_q6_k_f32), k::embed_q6_k, k::matmul_bwd_q6_k_f32),
        GgmlType::F32 => (k::matmul_f32_f32, None, k::embed_f32, k::matmul_bwd_f32_f32),
        GgmlType::F16 => (k::matmul_f16_f32, None, k::embed_f16, k::matmul_bwd_f16_f32),
        GgmlType::BF16 => (k::matmul_bf16_f32, Some(k::matmul_mma_bf16_f32), k::embed_bf16, k::matmul_bwd_bf16_f32),
        other => unreachable!("{} is widened to f32 at load", other.name()),
    };
    EncodingKernels { matmul, matmul_mma, embed, matmul_bwd }
}

/// Values as the device reads them (little-endian), e.g. `le_bytes(v, f32::to_le_bytes)`.
pub(crate) fn le_bytes<T: Copy, const N: usize>(v: &[T], to: fn(T) -> [u8; N]) -> Vec<u8> {
    v.iter().flat_map(|&x| to(x)).collect()
}

impl<G: Gpu> Backend for GpuBackend<G> {
    type Tensor = GpuTensor<G>;
    type Matrix = GpuMatrix<G>;

    fn name(&self) -> String {
        self.gpu.name()
    }

    fn zeros(&self, n: usize) -> GpuTensor<G> {
        GpuTensor { buf: self.gpu.alloc(n * 4), len: n, cap: n }
    }
    fn upload(&self, data: &[f32]) -> GpuTensor<G> {
        let t = self.zeros(data.len());
        self.gpu.write(&t.buf, 0, &le_bytes(data, f32::to_le_bytes));
        t
    }
    fn download(&self, t: &GpuTensor<G>) -> Vec<f32> {
        let mut bytes = vec![0u8; t.len * 4];
        self.gpu.read(&t.buf, 0, &mut bytes);
        bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
    }
    fn len(&self, t: &GpuTensor<G>) -> usize {
        t.len
    }
    fn ensure_len(&self, t: &mut GpuTensor<G>, n: usize) {
        if n <= t.len {
            return;
        }
        if n > t.cap {
            // Grow geometrically so a KV cache appended token by token is not copied every step.
            let cap = n.max(t.cap * 3 / 2);
            let buf = self.gpu.alloc(cap * 4);
            self.gpu.copy(&t.buf, 0, &buf, 0, t.len * 4);
            t.buf = buf;
            t.cap = cap;
        }
        t.len = n; // the new values are zero: alloc zeroes, and nothing past len was written
    }
    fn matrix(&self, w: &HostMatrix) -> Result<GpuMatrix<G>> {
        let (rows, cols) = (w.rows, w.cols);
        w.check_size()?;
        if cols % 32 != 0 {
            return Err(Error::Unsupported(format!("tensor {}: the GPU kernels take rows of a multiple of 32 values, not {cols}", w.name)));
        }
        let (ty, buf) = match w.ty {
            // Rows of whole blocks (check_size): 256 values for Q4_K and Q6_K.
            GgmlType::Q8_0 | GgmlType::Q4_1 | GgmlType::Q4K | GgmlType::Q6K | GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => {
                (w.ty, self.upload_bytes(w.bytes))
            }
            _ => {
                let mut v = vec![0f32; rows * cols];
                quant::dequantize(w.ty, w.bytes, &mut v);
                (GgmlType::F32, self.upload_bytes(&le_bytes(&v, f32::to_le_bytes)))
            }
        };
        Ok(GpuMatrix { buf, ty, rows, cols })
    }

    fn copy(&self, src: &GpuTensor<G>, dst: &mut GpuTensor<G>, n: usize) {
        self.gpu.copy(&src.buf, 0, &dst.buf, 0, n * 4)
    }
    fn copy_rows(&self, src: &GpuTensor<G>, src_row: usize, dst: &mut GpuTensor<G>, dst_row: usize, rows: Rows) {
        self.gpu.copy(&src.buf, src_row * rows.n * 4, &dst.buf, dst_row * rows.n * 4, rows.m * rows.n * 4)
    }
    fn gather_rows(&self, x: &GpuTensor<G>, rows: &[usize], n: usize, out: &mut GpuTensor<G>) {
        let idx: Vec<u32> = rows.iter().map(|&r| r as u32).collect();
        let idx = self.upload_u32(&idx);
        let args = [self.ptr(x), Arg::Ptr(self.gpu.address(&idx)), self.ptr(out), Arg::I32(rows.len() as i32), Arg::I32(n as i32)];
        self.elementwise(&k::gather_rows_f32, rows.len() * n, &args)
    }

    fn matmul(&self, x: &GpuTensor<G>, m: usize, w: &GpuMatrix<G>, out: &mut GpuTensor<G>) {
        self.matmul_rows(x, m, w, 0, w.rows, out)
    }
    fn lora(&self, x: &GpuTensor<G>, m: usize, l: LoraRef<'_, GpuTensor<G>>, xa: &mut GpuTensor<G>, y: &mut GpuTensor<G>) {
        let s = l.shape;
        let args = [self.ptr(x), self.ptr(l.a), self.ptr(xa), Arg::I32(m as i32), Arg::I32(s.din as i32), Arg::I32(s.r as i32)];
        // One warp per value of xa, eight warps per block.
        self.launch(&k::lora_xa_f32, LaunchConfig::linear((m * s.r).div_ceil(8) as u32, 256), &args);
        let args = [
            self.ptr(xa),
            self.ptr(l.b),
            self.ptr(y),
            Arg::I32(m as i32),
            Arg::I32(s.dout as i32),
            Arg::I32(s.r as i32),
            Arg::F32(s.scale),
        ];
        self.elementwise(&k::lora_b_add_f32, m * s.dout, &args)
    }
    fn embed(&self, table: &GpuMatrix<G>, ids: &[u32], out: &mut GpuTensor<G>) {
        let idx = self.upload_u32(ids);
        let args = [
            Arg::Ptr(self.gpu.address(&table.buf)),
            Arg::Ptr(self.gpu.address(&idx)),
            self.ptr(out),
            Arg::I32(ids.len() as i32),
            Arg::I32(table.cols as i32),
        ];
        self.elementwise(&kernels_for(table.ty).embed, ids.len() * table.cols / 8, &args)
    }
    fn add_bias(&self, x: &mut GpuTensor<G>, m: usize, bias: &GpuTensor<G>) {
        let args = [self.ptr(x), self.ptr(bias), Arg::I32(m as i32), Arg::I32(bias.len as i32)];
        self.elementwise(&k::add_bias_f32, m * bias.len, &args)
    }
    fn add(&self, x: &mut GpuTensor<G>, y: &GpuTensor<G>, n: usize) {
        self.elementwise(&k::add_f32, n, &[self.ptr(x), self.ptr(y), Arg::I32(n as i32)])
    }
    fn rmsnorm(&self, x: &GpuTensor<G>, w: &GpuTensor<G>, s: NormShape, out: &mut GpuTensor<G>) {
        // One block per row; a warp per 32 values up to 256 threads.
        let threads = (s.rows.n.div_ceil(32) * 32).clamp(32, 256) as u32;
        let args = [self.ptr(x), self.ptr(w), self.ptr(out), Arg::I32(s.rows.n as i32), Arg::F32(s.eps)];
        self.launch(&k::rmsnorm_f32, LaunchConfig::linear(s.rows.m as u32, threads), &args)
    }
    fn rope(&self, x: &mut GpuTensor<G>, positions: &[u32], s: RopeShape) {
        self.rope_signed(x, positions, s, 1.0)
    }
    fn swiglu(&self, gate: &GpuTensor<G>, up: &GpuTensor<G>, n: usize, out: &mut GpuTensor<G>) {
        self.elementwise(&k::swiglu_f32, n, &[self.ptr(gate), self.ptr(up), self.ptr(out), Arg::I32(n as i32)])
    }
    fn attention(&self, q: &GpuTensor<G>, seqs: &[AttnSeq<'_, GpuTensor<G>>], shape: AttnShape, out: &mut GpuTensor<G>) {
        assert!(shape.head_dim <= 128, "the GPU attention kernels take heads of at most 128 dimensions");
        let rows = seqs.iter().map(|s| s.row0 + s.n_new).max().unwrap_or(0);
        if rows == 0 {
            return;
        }
        // Every sequence's segments (attention.cu's AttnSegment: device addresses, length).
        let mut segs = Vec::new();
        let mut first_seg = Vec::with_capacity(seqs.len());
        for s in seqs {
            first_seg.push((segs.len() / 24) as i32);
            for (kt, vt, len) in &s.segments {
                segs.extend(self.gpu.address(&kt.buf).to_le_bytes());
                segs.extend(self.gpu.address(&vt.buf).to_le_bytes());
                segs.extend((*len as i64).to_le_bytes());
            }
        }
        let segs = self.upload_bytes(&segs);
        // The tiled prefill kernel where a sequence brings several new rows and the rows are 16-byte
        // multiples (its cp.async copies); the warp-per-row kernel for decode steps.
        let prefill =
            seqs.iter().any(|s| s.n_new > 1) && shape.head_dim.is_multiple_of(4) && (shape.n_kv_heads * shape.head_dim).is_multiple_of(4);
        // Per sequence: (its first segment, how many, positions before its new rows).
        let past = |s: &AttnSeq<'_, GpuTensor<G>>| s.segments.iter().map(|(_, _, len)| len).sum::<usize>() - s.n_new;
        let (heads, hd) = (shape.n_heads as i32, shape.head_dim as i32);
        if prefill {
            // attention.cu's AttnTile: row0, rows, seg_begin, seg_count, visible0, 3 × pad.
            let mut tiles = Vec::new();
            for (s, &begin) in seqs.iter().zip(&first_seg) {
                for t0 in (0..s.n_new).step_by(PREFILL_TILE_ROWS) {
                    let n = PREFILL_TILE_ROWS.min(s.n_new - t0);
                    tiles.extend([(s.row0 + t0) as i32, n as i32, begin, s.segments.len() as i32, (past(s) + t0 + 1) as i32, 0, 0, 0]);
                }
            }
            let n_tiles = (tiles.len() / 8) as u32;
            let tiles = self.upload_reused(&self.attn_rows, &le_bytes(&tiles, i32::to_le_bytes));
            let cfg = LaunchConfig { grid: [n_tiles, heads as u32, 1], block: [128, 1, 1], shared_bytes: 0 };
            let args = [
                self.ptr(q),
                Arg::Ptr(self.gpu.address(&segs)),
                Arg::Ptr(self.gpu.address(&tiles)),
                self.ptr(out),
                Arg::I32(heads),
                Arg::I32(shape.n_kv_heads as i32),
                Arg::I32(hd),
            ];
            return self.launch(&k::attention_prefill_f32, cfg, &args);
        }
        // attention.cu's AttnRow per query row: its segments and how many positions it sees.
        let mut info = vec![0i32; rows * 4];
        let mut longest = 0;
        for (s, &begin) in seqs.iter().zip(&first_seg) {
            for j in 0..s.n_new {
                let r = (s.row0 + j) * 4;
                info[r..r + 3].copy_from_slice(&[begin, s.segments.len() as i32, (past(s) + j + 1) as i32]);
                longest = longest.max(past(s) + j + 1);
            }
        }
        let info = self.upload_reused(&self.attn_rows, &le_bytes(&info, i32::to_le_bytes));
        // Split-K when a few rows see long caches: one warp per (row, head) would leave most of a GPU
        // idle, so each takes SPLIT_POSITIONS positions and a second kernel merges them.
        let splits = if rows * shape.n_heads < SPLIT_MAX_WARPS { longest.div_ceil(SPLIT_POSITIONS).max(1) } else { 1 };
        let partial = (splits > 1).then(|| self.gpu.alloc(rows * shape.n_heads * splits * (shape.head_dim + 2) * 4));
        let partial_arg = partial.as_ref().map_or(NULL, |p| Arg::Ptr(self.gpu.address(p)));
        let cfg = LaunchConfig { grid: [rows as u32, heads as u32, splits as u32], block: [32, 1, 1], shared_bytes: 0 };
        let args = [
            self.ptr(q),
            Arg::Ptr(self.gpu.address(&segs)),
            Arg::Ptr(self.gpu.address(&info)),
            self.ptr(out),
            partial_arg,
            Arg::I32(heads),
            Arg::I32(shape.n_kv_heads as i32),
            Arg::I32(hd),
            Arg::I32(SPLIT_POSITIONS as i32),
        ];
        self.launch(&k::attention_f32, cfg, &args);
        if splits > 1 {
            let cfg = LaunchConfig { grid: [rows as u32, heads as u32, 1], block: [32, 1, 1], shared_bytes: 0 };
            let args =
                [partial_arg, Arg::Ptr(self.gpu.address(&info)), self.ptr(out), Arg::I32(heads), Arg::I32(hd), Arg::I32(splits as i32)];
            self.launch(&k::attention_combine_f32, cfg, &args);
        }
    }
    fn argmax_rows(&self, x: &GpuTensor<G>, rows: Rows) -> Vec<u32> {
        if rows.m == 0 {
            return Vec::new();
        }
        let idx = self.gpu.alloc(rows.m * 4);
        let args = [self.ptr(x), Arg::Ptr(self.gpu.address(&idx)), Arg::I32(rows.n as i32)];
        self.launch(&k::argmax_rows_f32, LaunchConfig::linear(rows.m as u32, 256), &args);
        let mut bytes = vec![0u8; rows.m * 4];
        self.gpu.read(&idx, 0, &mut bytes);
        bytes.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect()
    }
}
