//! The training half's small ops on the GPU: row scatter, dropout, the RMSNorm and SwiGLU backwards,
//! the sum of squares and AdamW, as launches of gpu/kernels/train_ops.cu.
//!
//! Every one gives the same result whatever the scheduling (no atomics; sums over a fixed assignment
//! of values to threads, in a fixed order). Scatter, dropout and AdamW give the CPU backend's results
//! bit for bit; the others are as close to the f64 reference as the CPU's.
use crate::backend::{GpuBackend, GpuTensor};
use crate::device::Gpu;
use crate::emulated::LaunchConfig;
use crate::kernels as k;
use crate::launch::{Arg, NULL};
use sqlora_kernel::backend::{AdamWStep, NormShape};

/// Rows of the RMSNorm weight gradient each (column, chunk) thread sums before the chunks' partial
/// sums are added up in order (enough blocks to fill a GPU at training's thousands of rows).
const DW_CHUNK_ROWS: usize = 64;
/// Threads per block of the column-wise dw kernel and of the sum of squares; the most blocks of the
/// sum of squares (partial sums the host adds up).
const THREADS: u32 = 256;
const SUM_MAX_BLOCKS: usize = 1024;

/// The AdamW step's constants as kernel/src/cpu/ops/adamw.rs computes them (in f64, each rounded to
/// f32 once), in `adamw_f32`'s order: decay = 1 − lr·wd, β1, β2, 1 − β1, 1 − β2, lr_t = lr / (1 − β1^t),
/// bc2 = sqrt(1 − β2^t), eps, grad_scale.
pub(crate) fn adamw_constants(step: AdamWStep) -> [f32; 9] {
    let decay = (1.0 - step.lr * step.weight_decay) as f32;
    let (b1, b2, c1, c2) = (step.beta1 as f32, step.beta2 as f32, (1.0 - step.beta1) as f32, (1.0 - step.beta2) as f32);
    let lr_t = (step.lr / (1.0 - step.beta1.powi(step.t as i32))) as f32;
    let bc2 = (1.0 - step.beta2.powi(step.t as i32)).sqrt() as f32;
    [decay, b1, b2, c1, c2, lr_t, bc2, step.eps as f32, step.grad_scale as f32]
}

impl<G: Gpu> GpuBackend<G> {
    /// out row `rows[i]` = x row i (row length `n`); the other rows of `out` are left as they are.
    pub(crate) fn train_scatter_rows(&self, x: &GpuTensor<G>, rows: &[usize], n: usize, out: &mut GpuTensor<G>) {
        if rows.is_empty() || n == 0 {
            return;
        }
        let idx: Vec<u32> = rows.iter().map(|&r| r as u32).collect();
        let idx = self.upload_u32(&idx);
        let args = [self.ptr(x), Arg::Ptr(self.gpu.address(&idx)), self.ptr(out), Arg::I32(rows.len() as i32), Arg::I32(n as i32)];
        self.elementwise(&k::scatter_rows_f32, rows.len() * n, &args)
    }

    /// Inverted dropout over the first `n` values: out[i] = x[i] / (1 − p) where
    /// `rng::dropout_keeps(seed, i, p)`, else 0 (the CPU's mask and scale, bit for bit).
    pub(crate) fn train_dropout(&self, x: &GpuTensor<G>, n: usize, p: f32, seed: u64, out: &mut GpuTensor<G>) {
        let scale = 1.0 / (1.0 - p); // in f32, as the CPU's
        let args = [
            self.ptr(x),
            self.ptr(out),
            Arg::I32(n as i32),
            Arg::F32(p),
            Arg::F32(scale),
            Arg::U32(seed as u32),
            Arg::U32((seed >> 32) as u32),
        ];
        self.elementwise(&k::dropout_f32, n, &args)
    }

    /// dx (overwritten) of out = rmsnorm(x)·w given dy; with `dw`, also dw[n] += the weight's gradient
    /// summed over the rows. One block per row for dx (each row's 1/rms saved); for dw, one thread per
    /// (column, chunk of rows) and then one per column adding the chunks up in order.
    pub(crate) fn train_rmsnorm_bwd(
        &self,
        dy: &GpuTensor<G>,
        x: &GpuTensor<G>,
        w: &GpuTensor<G>,
        s: NormShape,
        dx: &mut GpuTensor<G>,
        dw: Option<&mut GpuTensor<G>>,
    ) {
        let (m, n) = (s.rows.m, s.rows.n);
        if m == 0 || n == 0 {
            return;
        }
        let inv = dw.is_some().then(|| self.gpu.alloc(m * 4));
        let inv_arg = inv.as_ref().map_or(NULL, |b| Arg::Ptr(self.gpu.address(b)));
        // A warp per 32 values up to 256 threads, as the forward.
        let threads = (n.div_ceil(32) * 32).clamp(32, 256) as u32;
        let args = [self.ptr(dy), self.ptr(x), self.ptr(w), self.ptr(dx), inv_arg, Arg::I32(n as i32), Arg::F32(s.eps)];
        self.launch(&k::rmsnorm_bwd_f32, LaunchConfig::linear(m as u32, threads), &args);
        let Some(dw) = dw else { return };
        let chunks = m.div_ceil(DW_CHUNK_ROWS);
        let partial = self.gpu.alloc(chunks * n * 4);
        let partial_arg = Arg::Ptr(self.gpu.address(&partial));
        let cfg = LaunchConfig { grid: [n.div_ceil(THREADS as usize) as u32, chunks as u32, 1], block: [THREADS, 1, 1], shared_bytes: 0 };
        let args =
            [self.ptr(dy), self.ptr(x), inv_arg, partial_arg, Arg::I32(m as i32), Arg::I32(n as i32), Arg::I32(DW_CHUNK_ROWS as i32)];
        self.launch(&k::rmsnorm_bwd_dw_partial_f32, cfg, &args);
        self.elementwise(&k::rmsnorm_bwd_dw_sum_f32, n, &[partial_arg, self.ptr(dw), Arg::I32(chunks as i32), Arg::I32(n as i32)])
    }

    /// d gate and d up of out = silu(gate)·up over `n` values.
    pub(crate) fn train_swiglu_bwd(
        &self,
        dy: &GpuTensor<G>,
        gate: &GpuTensor<G>,
        up: &GpuTensor<G>,
        n: usize,
        dgate: &mut GpuTensor<G>,
        dup: &mut GpuTensor<G>,
    ) {
        let args = [self.ptr(dy), self.ptr(gate), self.ptr(up), self.ptr(dgate), self.ptr(dup), Arg::I32(n as i32)];
        self.elementwise(&k::swiglu_bwd_f32, n, &args)
    }

    /// Σ x² over the first `n` values: each block's share summed in f64 on the device, the blocks'
    /// partial sums read back and added up here in order.
    pub(crate) fn train_sum_squares(&self, x: &GpuTensor<G>, n: usize) -> f64 {
        if n == 0 {
            return 0.0;
        }
        let blocks = n.div_ceil(THREADS as usize).min(SUM_MAX_BLOCKS);
        let partial = self.gpu.alloc(blocks * 8);
        let args = [self.ptr(x), Arg::Ptr(self.gpu.address(&partial)), Arg::I32(n as i32)];
        self.launch(&k::sum_squares_f32, LaunchConfig::linear(blocks as u32, THREADS), &args);
        let mut bytes = vec![0u8; blocks * 8];
        self.gpu.read(&partial, 0, &mut bytes);
        bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).sum()
    }

    /// One AdamW step over `n` parameters, as the CPU backend computes it (bit for bit): the step's
    /// constants computed here in f64 and rounded once, each element's arithmetic on the device in
    /// the CPU's order with the CPU's roundings.
    pub(crate) fn train_adamw(
        &self,
        p: &mut GpuTensor<G>,
        g: &GpuTensor<G>,
        m: &mut GpuTensor<G>,
        v: &mut GpuTensor<G>,
        n: usize,
        step: AdamWStep,
    ) {
        let mut args = vec![self.ptr(p), self.ptr(g), self.ptr(m), self.ptr(v), Arg::I32(n as i32)];
        args.extend(adamw_constants(step).map(Arg::F32));
        self.elementwise(&k::adamw_f32, n, &args)
    }
}

#[cfg(test)]
mod tests {
    //! The host side over the emulated device against the CPU backend: bit for bit where the op is
    //! exact (scatter, dropout, AdamW), close otherwise. The kernels themselves are tested against the
    //! f64 reference in gpu/tests/gpu_train_ops.rs.
    use crate::{EmulatedGpu, GpuBackend};
    use sqlora_kernel::backend::{AdamWStep, Backend, NormShape, Numerics, Rows, TrainBackend};
    use sqlora_kernel::cpu::CpuBackend;

    fn values(n: usize, seed: u32) -> Vec<f32> {
        sqlora_kernel::bench::inputs::rand(n, seed as u64).iter().map(|&x| x as f32).collect()
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn the_host_side_matches_the_cpu_backend() {
        let (gpu, cpu) = (GpuBackend::new(EmulatedGpu::default()), CpuBackend::new(Numerics::Exact));
        let n = 1000;
        let (x, y, z) = (values(n, 1), values(n, 2), values(n, 3));
        let (gx, gy, gz) = (gpu.upload(&x), gpu.upload(&y), gpu.upload(&z));

        let rows = [3usize, 0, 7];
        let (mut out_c, mut out_g) = (y.clone(), gpu.upload(&y));
        cpu.scatter_rows(&x, &rows, 50, &mut out_c);
        gpu.train_scatter_rows(&gx, &rows, 50, &mut out_g);
        assert_eq!(bits(&gpu.download(&out_g)), bits(&out_c), "scatter_rows");

        let (mut out_c, mut out_g) = (vec![0f32; n], gpu.zeros(n));
        cpu.dropout(&x, n, 0.3, 0xDEAD_BEEF_0123_4567, &mut out_c);
        gpu.train_dropout(&gx, n, 0.3, 0xDEAD_BEEF_0123_4567, &mut out_g);
        assert_eq!(bits(&gpu.download(&out_g)), bits(&out_c), "dropout");

        let s = NormShape { rows: Rows { m: 100, n: 10 }, eps: 1e-5 };
        let w = values(10, 4);
        let (mut dx_c, mut dw_c) = (vec![0f32; n], values(10, 5));
        let (mut dx_g, mut dw_g) = (gpu.zeros(n), gpu.upload(&dw_c));
        cpu.rmsnorm_bwd(&y, &x, &w, s, &mut dx_c, Some(&mut dw_c));
        gpu.train_rmsnorm_bwd(&gy, &gx, &gpu.upload(&w), s, &mut dx_g, Some(&mut dw_g));
        for (what, g, c) in [("rmsnorm dx", gpu.download(&dx_g), dx_c), ("rmsnorm dw", gpu.download(&dw_g), dw_c)] {
            assert!(g.iter().zip(&c).all(|(a, b)| (a - b).abs() <= 1e-5 * (1.0 + b.abs())), "{what}");
        }

        let (mut dg_c, mut du_c) = (vec![0f32; n], vec![0f32; n]);
        let (mut dg_g, mut du_g) = (gpu.zeros(n), gpu.zeros(n));
        cpu.swiglu_bwd(&y, &x, &z, n, &mut dg_c, &mut du_c);
        gpu.train_swiglu_bwd(&gy, &gx, &gz, n, &mut dg_g, &mut du_g);
        for (what, g, c) in [("swiglu d gate", gpu.download(&dg_g), dg_c), ("swiglu d up", gpu.download(&du_g), du_c)] {
            assert!(g.iter().zip(&c).all(|(a, b)| (a - b).abs() <= 1e-6 * (1.0 + b.abs())), "{what}");
        }

        let (sc, sg) = (cpu.sum_squares(&x, n), gpu.train_sum_squares(&gx, n));
        assert!((sc - sg).abs() <= 1e-6 * sc, "sum_squares {sg} vs {sc}");
        assert_eq!(gpu.train_sum_squares(&gx, 0), 0.0);

        let step = AdamWStep { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01, t: 1, grad_scale: 0.5 };
        let (mut p_c, mut m_c, mut v_c) = (x.clone(), vec![0f32; n], vec![0f32; n]);
        let (mut p_g, mut m_g, mut v_g) = (gpu.upload(&x), gpu.zeros(n), gpu.zeros(n));
        for t in 1..=3 {
            let step = AdamWStep { t, ..step };
            cpu.adamw(&mut p_c, &y, &mut m_c, &mut v_c, n, step);
            gpu.train_adamw(&mut p_g, &gy, &mut m_g, &mut v_g, n, step);
        }
        assert_eq!(bits(&gpu.download(&p_g)), bits(&p_c), "adamw p");
        assert_eq!(bits(&gpu.download(&m_g)), bits(&m_c), "adamw m");
        assert_eq!(bits(&gpu.download(&v_g)), bits(&v_c), "adamw v");
    }
}
