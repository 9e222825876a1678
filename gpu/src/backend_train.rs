//! The engine's training ops (`TrainBackend`) on the GPU: the trainer, checkpoints and logs are the
//! CPU's, and each op is a launch of the kernels in gpu/kernels/ — the products' backward and the
//! LoRA backward (matmul_bwd.cu), the fused head cross-entropy (cross_entropy.cu over the product
//! kernels), the attention (`train_attention.rs`) and the small ops (`train_elementwise.rs`). Every
//! reduction runs in a fixed order, so a step gives the same bits whatever the thread schedule.
use crate::backend::{kernels_for, le_bytes, GpuBackend, GpuMatrix, GpuTensor};
use crate::device::Gpu;
use crate::emulated::LaunchConfig;
use crate::kernels as k;
use crate::launch::Arg;
use sqlora_kernel::backend::{
    AdamWStep, AttnSaved, AttnShape, Backend, LoraGradMut, LoraRef, NormShape, Qkv, QkvMut, RopeShape, TrainBackend,
};

/// Vocabulary rows per chunk of the cross-entropy (its logits buffer is rows × this), as the CPU's.
const CE_CHUNK: usize = 2048;

impl<G: Gpu> GpuBackend<G> {
    /// dx[m × cols] (+)= dy[m × rows.len()] · W[rows] (some of W's rows: all of them for
    /// `matmul_bwd`, a vocabulary chunk of the head for the cross-entropy).
    fn matmul_bwd_rows(
        &self,
        dy: &GpuTensor<G>,
        m: usize,
        w: &GpuMatrix<G>,
        rows: std::ops::Range<usize>,
        dx: &mut GpuTensor<G>,
        accumulate: bool,
    ) {
        if m == 0 {
            return;
        }
        let cfg = LaunchConfig { grid: [w.cols.div_ceil(64) as u32, m.div_ceil(16) as u32, 1], block: [256, 1, 1], shared_bytes: 0 };
        let args = [
            self.ptr(dy),
            Arg::Ptr(w.row_address(&*self.gpu, rows.start)),
            self.ptr(dx),
            Arg::I32(m as i32),
            Arg::I32(rows.len() as i32),
            Arg::I32(w.cols as i32),
            Arg::I32(accumulate as i32),
        ];
        self.launch(&kernels_for(w.ty).matmul_bwd, cfg, &args)
    }

    /// c[m × n] (+)= s · A·B over strided operands (`gemm_small_f32`): A's element (i, k) at
    /// a[i·a_strides.0 + k·a_strides.1], B's (k, j) at b[k·b_strides.0 + j·b_strides.1].
    #[allow(clippy::too_many_arguments)]
    fn gemm_small(
        &self,
        a: Arg,
        a_strides: (usize, usize),
        b: Arg,
        b_strides: (usize, usize),
        c: Arg,
        mnk: (usize, usize, usize),
        scale: f32,
        accumulate: bool,
    ) {
        let (m, n, kk) = mnk;
        let args = [
            a,
            b,
            c,
            Arg::I32(m as i32),
            Arg::I32(n as i32),
            Arg::I32(kk as i32),
            Arg::I32(a_strides.0 as i32),
            Arg::I32(a_strides.1 as i32),
            Arg::I32(b_strides.0 as i32),
            Arg::I32(b_strides.1 as i32),
            Arg::F32(scale),
            Arg::I32(accumulate as i32),
        ];
        self.elementwise(&k::gemm_small_f32, m * n, &args)
    }
}

impl<G: Gpu> TrainBackend for GpuBackend<G> {
    fn scatter_rows(&self, x: &GpuTensor<G>, rows: &[usize], n: usize, out: &mut GpuTensor<G>) {
        self.train_scatter_rows(x, rows, n, out)
    }
    fn dropout(&self, x: &GpuTensor<G>, n: usize, p: f32, seed: u64, out: &mut GpuTensor<G>) {
        self.train_dropout(x, n, p, seed, out)
    }
    fn rmsnorm_bwd(
        &self,
        dy: &GpuTensor<G>,
        x: &GpuTensor<G>,
        w: &GpuTensor<G>,
        s: NormShape,
        dx: &mut GpuTensor<G>,
        dw: Option<&mut GpuTensor<G>>,
    ) {
        self.train_rmsnorm_bwd(dy, x, w, s, dx, dw)
    }
    fn rope_bwd(&self, d: &mut GpuTensor<G>, positions: &[u32], s: RopeShape) {
        self.rope_signed(d, positions, s, -1.0)
    }
    fn swiglu_bwd(
        &self,
        dy: &GpuTensor<G>,
        gate: &GpuTensor<G>,
        up: &GpuTensor<G>,
        n: usize,
        dgate: &mut GpuTensor<G>,
        dup: &mut GpuTensor<G>,
    ) {
        self.train_swiglu_bwd(dy, gate, up, n, dgate, dup)
    }
    fn matmul_bwd(&self, dy: &GpuTensor<G>, m: usize, w: &GpuMatrix<G>, dx: &mut GpuTensor<G>, accumulate: bool) {
        self.matmul_bwd_rows(dy, m, w, 0..w.rows, dx, accumulate)
    }
    fn lora_bwd(
        &self,
        dy: &GpuTensor<G>,
        x: &GpuTensor<G>,
        xa: &GpuTensor<G>,
        m: usize,
        l: LoraRef<'_, GpuTensor<G>>,
        g: LoraGradMut<'_, GpuTensor<G>>,
    ) {
        let sh = l.shape;
        let (r, din, dout) = (sh.r, sh.din, sh.dout);
        if m == 0 {
            return;
        }
        // dxa = s·dy·B, then dB += s·dyᵀ·xa, dA += dxaᵀ·x, dx += dxa·A: every sum over tokens or
        // features by one thread, in order.
        let dxa = self.zeros(m * r);
        let p = |t: &GpuTensor<G>| self.ptr(t);
        self.gemm_small(p(dy), (dout, 1), p(l.b), (r, 1), p(&dxa), (m, r, dout), sh.scale, false);
        self.gemm_small(p(dy), (1, dout), p(xa), (r, 1), p(g.b), (dout, r, m), sh.scale, true);
        self.gemm_small(p(&dxa), (1, r), p(x), (din, 1), p(g.a), (r, din, m), 1.0, true);
        self.gemm_small(p(&dxa), (r, 1), p(l.a), (din, 1), p(g.x), (m, din, r), 1.0, true);
    }
    fn attention_packed(
        &self,
        qkv: Qkv<'_, GpuTensor<G>>,
        seqs: &[(usize, usize)],
        shape: AttnShape,
        out: &mut GpuTensor<G>,
        lse: &mut GpuTensor<G>,
    ) {
        self.train_attention_packed(qkv, seqs, shape, out, lse)
    }
    fn attention_packed_bwd(
        &self,
        dout: &GpuTensor<G>,
        qkv: Qkv<'_, GpuTensor<G>>,
        saved: AttnSaved<'_, GpuTensor<G>>,
        seqs: &[(usize, usize)],
        shape: AttnShape,
        grads: QkvMut<'_, GpuTensor<G>>,
    ) {
        self.train_attention_packed_bwd(dout, qkv, saved, seqs, shape, grads)
    }
    fn cross_entropy(
        &self,
        hidden: &GpuTensor<G>,
        targets: &[u32],
        weights: &[f32],
        head: &GpuMatrix<G>,
        dhidden: &mut GpuTensor<G>,
    ) -> f64 {
        let (vocab, r) = (head.rows, targets.len());
        assert_eq!(weights.len(), r, "cross_entropy: a weight per target");
        assert!(targets.iter().all(|&t| (t as usize) < vocab), "cross_entropy: target outside the vocabulary");
        if r == 0 {
            return 0.0;
        }
        let tgt = self.upload_u32(targets);
        let wts = self.upload_bytes(&le_bytes(weights, f32::to_le_bytes));
        let init: Vec<f32> = (0..r).flat_map(|_| [f32::NEG_INFINITY, 0.0, 0.0, 0.0]).collect();
        let state = self.upload_bytes(&le_bytes(&init, f32::to_le_bytes));
        let (tgt_a, wts_a, state_a) =
            (Arg::Ptr(self.gpu.address(&tgt)), Arg::Ptr(self.gpu.address(&wts)), Arg::Ptr(self.gpu.address(&state)));
        let chunk = CE_CHUNK.min(vocab);
        let mut logits = self.zeros(r * chunk);
        // Pass 1: each row's max, sums and target logit over the whole vocabulary.
        for v0 in (0..vocab).step_by(chunk) {
            let c = chunk.min(vocab - v0);
            self.matmul_rows(hidden, r, head, v0, c, &mut logits);
            let args = [self.ptr(&logits), Arg::I32(c as i32), Arg::I32(v0 as i32), tgt_a, state_a];
            self.launch(&k::ce_stats_f32, LaunchConfig::linear(r as u32, 256), &args);
        }
        // Pass 2: each chunk's logits again, their gradient, and its share of dhidden.
        for v0 in (0..vocab).step_by(chunk) {
            let c = chunk.min(vocab - v0);
            self.matmul_rows(hidden, r, head, v0, c, &mut logits);
            let args = [self.ptr(&logits), Arg::I32(r as i32), Arg::I32(c as i32), Arg::I32(v0 as i32), tgt_a, wts_a, state_a];
            self.elementwise(&k::ce_grad_f32, r * c, &args);
            self.matmul_bwd_rows(&logits, r, head, v0..v0 + c, dhidden, v0 > 0);
        }
        let mut bytes = vec![0u8; r * 16];
        self.gpu.read(&state, 0, &mut bytes);
        let st: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        st.chunks_exact(4).zip(weights).map(|(s, &w)| w as f64 * (s[0] as f64 + (s[1] as f64).ln() - s[2] as f64)).sum()
    }
    fn sum_squares(&self, x: &GpuTensor<G>, n: usize) -> f64 {
        self.train_sum_squares(x, n)
    }
    fn adamw(&self, p: &mut GpuTensor<G>, g: &GpuTensor<G>, m: &mut GpuTensor<G>, v: &mut GpuTensor<G>, n: usize, step: AdamWStep) {
        self.train_adamw(p, g, m, v, n, step)
    }
}
