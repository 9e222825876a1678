//! The training half's attention on the GPU: `attention_packed` (causal GQA over a packed batch,
//! saving each row's log-sum-exp) and its backward, as launches of gpu/kernels/attention_train.cu.
//!
//! Every kernel takes the batch as tiles of up to 16 rows of one sequence (attention_train.cu's
//! `TrainAttnTile`: the sequence's first batch row and length, the tile's first row in it and its row
//! count), one block of 128 threads per tile and head: the forward and dq per (tile, query head), the
//! dk/dv kernel per (tile, KV head), the tile's rows being its key rows there.
use crate::backend::{le_bytes, GpuBackend, GpuTensor};
use crate::device::Gpu;
use crate::emulated::LaunchConfig;
use crate::kernels as k;
use crate::launch::Arg;
use sqlora_kernel::backend::{AttnSaved, AttnShape, Qkv, QkvMut};

/// Rows per tile (attention_train.cu's kTrainTileRows) and threads per block.
const TILE_ROWS: usize = 16;
const THREADS: u32 = 128;

/// The tiles of the sequences `(row0, len)`, as the kernels read them: 4 × i32 each.
fn tiles(seqs: &[(usize, usize)]) -> Vec<i32> {
    let mut t = Vec::new();
    for &(row0, len) in seqs {
        for first in (0..len).step_by(TILE_ROWS) {
            t.extend([row0 as i32, len as i32, first as i32, TILE_ROWS.min(len - first) as i32]);
        }
    }
    t
}

fn check_shape(shape: AttnShape) {
    assert!(shape.head_dim <= 128, "the GPU attention kernels take heads of at most 128 dimensions");
    assert!(
        shape.n_kv_heads > 0 && shape.n_heads.is_multiple_of(shape.n_kv_heads),
        "attention_packed: {} heads over {} KV heads",
        shape.n_heads,
        shape.n_kv_heads
    );
}

impl<G: Gpu> GpuBackend<G> {
    /// `TrainBackend::attention_packed`: out and lse of the rows of `seqs` (other rows left alone).
    pub(crate) fn train_attention_packed(
        &self,
        qkv: Qkv<'_, GpuTensor<G>>,
        seqs: &[(usize, usize)],
        shape: AttnShape,
        out: &mut GpuTensor<G>,
        lse: &mut GpuTensor<G>,
    ) {
        check_shape(shape);
        let (nh, nkv, hd) = (shape.n_heads, shape.n_kv_heads, shape.head_dim);
        let rows = seqs.iter().map(|&(r0, len)| r0 + len).max().unwrap_or(0);
        assert!(
            rows * nh * hd <= qkv.q.len.min(out.len) && rows * nkv * hd <= qkv.k.len.min(qkv.v.len) && rows * nh <= lse.len,
            "attention_packed: bad shapes"
        );
        let tiles = tiles(seqs);
        if tiles.is_empty() {
            return;
        }
        let n_tiles = (tiles.len() / 4) as u32;
        let tiles = self.upload_bytes(&le_bytes(&tiles, i32::to_le_bytes));
        let cfg = LaunchConfig { grid: [n_tiles, nh as u32, 1], block: [THREADS, 1, 1], shared_bytes: 0 };
        let args = [
            self.ptr(qkv.q),
            self.ptr(qkv.k),
            self.ptr(qkv.v),
            Arg::Ptr(self.gpu.address(&tiles)),
            self.ptr(out),
            self.ptr(lse),
            Arg::I32(nh as i32),
            Arg::I32(nkv as i32),
            Arg::I32(hd as i32),
        ];
        self.launch(&k::attention_packed_f32, cfg, &args)
    }

    /// `TrainBackend::attention_packed_bwd`: dq, dk, dv overwritten (zero on rows outside every
    /// sequence), P recomputed from the saved lse.
    pub(crate) fn train_attention_packed_bwd(
        &self,
        dout: &GpuTensor<G>,
        qkv: Qkv<'_, GpuTensor<G>>,
        saved: AttnSaved<'_, GpuTensor<G>>,
        seqs: &[(usize, usize)],
        shape: AttnShape,
        grads: QkvMut<'_, GpuTensor<G>>,
    ) {
        check_shape(shape);
        let (nh, nkv, hd) = (shape.n_heads, shape.n_kv_heads, shape.head_dim);
        let (qrow, kvrow) = (nh * hd, nkv * hd);
        let rows = seqs.iter().map(|&(r0, len)| r0 + len).max().unwrap_or(0);
        assert!(
            rows * qrow <= qkv.q.len.min(dout.len).min(saved.out.len).min(grads.q.len) && rows * nh <= saved.lse.len,
            "attention_packed_bwd: bad shapes"
        );
        assert!(rows * kvrow <= qkv.k.len.min(qkv.v.len).min(grads.k.len).min(grads.v.len), "attention_packed_bwd: bad shapes");
        // The kernels write the rows of the sequences (disjoint): zero the gradients first where
        // they do not cover them all.
        let covered: usize = seqs.iter().map(|&(_, len)| len).sum();
        for (t, width) in [(&*grads.q, qrow), (&*grads.k, kvrow), (&*grads.v, kvrow)] {
            if t.len > covered * width {
                let zeros = self.gpu.alloc(t.len * 4);
                self.gpu.copy(&zeros, 0, &t.buf, 0, t.len * 4);
            }
        }
        let tiles = tiles(seqs);
        if tiles.is_empty() {
            return;
        }
        let n_tiles = (tiles.len() / 4) as u32;
        let tiles = self.upload_bytes(&le_bytes(&tiles, i32::to_le_bytes));
        let tiles = Arg::Ptr(self.gpu.address(&tiles));
        // dd = Σ dout·out per (row, head): one warp each, four per block.
        let dd = self.gpu.alloc(rows * nh * 4);
        let dd_arg = Arg::Ptr(self.gpu.address(&dd));
        let args = [self.ptr(dout), self.ptr(saved.out), dd_arg, Arg::I32(rows as i32), Arg::I32(nh as i32), Arg::I32(hd as i32)];
        self.launch(&k::attention_packed_bwd_dot_f32, LaunchConfig::linear((rows * nh).div_ceil(4) as u32, THREADS), &args);
        let (nh, nkv, hd) = (Arg::I32(nh as i32), Arg::I32(nkv as i32), Arg::I32(hd as i32));
        let (q, kk, v, dout, lse) = (self.ptr(qkv.q), self.ptr(qkv.k), self.ptr(qkv.v), self.ptr(dout), self.ptr(saved.lse));
        let cfg = LaunchConfig { grid: [n_tiles, shape.n_heads as u32, 1], block: [THREADS, 1, 1], shared_bytes: 0 };
        self.launch(&k::attention_packed_bwd_dq_f32, cfg, &[q, kk, v, dout, lse, dd_arg, tiles, self.ptr(grads.q), nh, nkv, hd]);
        let cfg = LaunchConfig { grid: [n_tiles, shape.n_kv_heads as u32, 1], block: [THREADS, 1, 1], shared_bytes: 0 };
        let args = [q, kk, v, dout, lse, dd_arg, tiles, self.ptr(grads.k), self.ptr(grads.v), nh, nkv, hd];
        self.launch(&k::attention_packed_bwd_dkv_f32, cfg, &args)
    }
}

#[cfg(test)]
mod tests {
    //! The host side over the emulated device (the kernels themselves: tests/gpu_train_attention.rs):
    //! the tiles, the launches, and the zeroed gradient rows outside every sequence, against the CPU.
    use super::*;
    use crate::device::EmulatedGpu;
    use sqlora_kernel::backend::Backend;
    use sqlora_kernel::bench::inputs::f64s;
    use sqlora_kernel::reference;

    fn values(n: usize, seed: u64) -> Vec<f32> {
        sqlora_kernel::bench::inputs::rand(n, seed).iter().map(|&x| 2.0 * x as f32).collect()
    }

    #[test]
    fn the_backend_methods_match_the_reference_and_zero_uncovered_rows() {
        // Rows 0..3 and 20..23 in no sequence; sequences of 1, 17 and 2 rows; GQA 4:2, head_dim 32.
        let shape = AttnShape { n_heads: 4, n_kv_heads: 2, head_dim: 32 };
        let seqs = [(3, 1), (4, 17), (21, 2)];
        let rows = 24;
        let (qd, kvd) = (shape.n_heads * shape.head_dim, shape.n_kv_heads * shape.head_dim);
        let (q, k, v, dout) = (values(rows * qd, 1), values(rows * kvd, 2), values(rows * kvd, 3), values(rows * qd, 4));
        let be = GpuBackend::new(EmulatedGpu::default());
        let (qt, kt, vt, dt) = (be.upload(&q), be.upload(&k), be.upload(&v), be.upload(&dout));
        let (mut out, mut lse) = (be.upload(&vec![7.0; rows * qd]), be.upload(&vec![7.0; rows * shape.n_heads]));
        be.train_attention_packed(Qkv { q: &qt, k: &kt, v: &vt }, &seqs, shape, &mut out, &mut lse);
        let (want_out, want_lse) = reference::attention_fwd(&f64s(&q), &f64s(&k), &f64s(&v), &seqs, shape);
        let covered = |row: usize| seqs.iter().any(|&(r0, len)| (r0..r0 + len).contains(&row));
        let close = |what: &str, got: &[f32], want: &[f64], width: usize, outside: f32| {
            for (i, (g, w)) in got.iter().zip(want).enumerate() {
                let w = if covered(i / width) { *w } else { outside as f64 };
                assert!((*g as f64 - w).abs() <= 1e-5 * (1.0 + w.abs()), "{what}[{i}]: {g} vs {w}");
            }
        };
        close("out", &be.download(&out), &want_out, qd, 7.0);
        close("lse", &be.download(&lse), &want_lse, shape.n_heads, 7.0);
        let (mut dq, mut dk, mut dv) =
            (be.upload(&vec![5.0; rows * qd]), be.upload(&vec![5.0; rows * kvd]), be.upload(&vec![5.0; rows * kvd]));
        be.train_attention_packed_bwd(
            &dt,
            Qkv { q: &qt, k: &kt, v: &vt },
            AttnSaved { out: &out, lse: &lse },
            &seqs,
            shape,
            QkvMut { q: &mut dq, k: &mut dk, v: &mut dv },
        );
        let (wq, wk, wv) = reference::attention_bwd(&f64s(&dout), &f64s(&q), &f64s(&k), &f64s(&v), &seqs, shape);
        close("dq", &be.download(&dq), &wq, qd, 0.0);
        close("dk", &be.download(&dk), &wk, kvd, 0.0);
        close("dv", &be.download(&dv), &wv, kvd, 0.0);
    }
}
