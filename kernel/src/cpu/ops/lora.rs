//! The LoRA term, forward and backward: y += s·(x·Aᵀ)·Bᵀ, by small GEMMs (r is 8 to 64). Generation and
//! training both go through these.
use crate::backend::{LoraGradMut, LoraRef, LoraShape};
use crate::cpu::gemm::{gemm_strided, Parallelism};

/// The LoRA term's forward: xa[m × r] = x·Aᵀ (saved for the backward) and y[m × dout] += s·xa·Bᵀ, for
/// A (r × din) and B (dout × r) plain f32 tensors.
pub fn lora(x: &[f32], m: usize, l: LoraRef<'_, [f32]>, xa: &mut [f32], y: &mut [f32]) {
    let (a, b, LoraShape { r, din, dout, scale }) = (l.a, l.b, l.shape);
    assert!(
        x.len() >= m * din && a.len() >= r * din && b.len() >= dout * r && xa.len() >= m * r && y.len() >= m * dout,
        "lora: bad shapes"
    );
    use rayon::prelude::*;
    // By row blocks, one per thread (as `lora_bwd`): the block's xa stays in cache between its two
    // products, and the small products are not split by the blocked GEMM's own threading.
    let rows = m.div_ceil(rayon::current_num_threads()).max(1);
    xa[..m * r].par_chunks_mut(rows * r).zip(y[..m * dout].par_chunks_mut(rows * dout)).enumerate().for_each(|(c, (xa, y))| {
        let mc = xa.len() / r;
        let x = &x[c * rows * din..];
        // SAFETY: the shapes are asserted and this block's rows are in range; Aᵀ is A read with
        // strides (1, din), Bᵀ is B with (1, r).
        unsafe {
            gemm_strided(Parallelism::None, mc, r, din, xa.as_mut_ptr(), r, false, x.as_ptr(), din, 1, a.as_ptr(), 1, din, 1.0);
            gemm_strided(Parallelism::None, mc, dout, r, y.as_mut_ptr(), dout, true, xa.as_ptr(), r, 1, b.as_ptr(), 1, r, scale);
        }
    });
}

/// The LoRA term's backward from dy and the saved xa = x·Aᵀ: dA += (s·dy·B)ᵀ·x, dB += s·dyᵀ·xa (both
/// accumulate, for gradient accumulation), and dx += (s·dy·B)·A, its share of the input gradient.
///
/// By row blocks, each on one core: a block's four products reuse its dy and x rows while they are
/// in cache, and the two reductions over the rows (dA, dB: outputs of r rows, 2,048
/// long sums) give each thread a partial that is added at the end. The blocked GEMM's own threading
/// split those small outputs poorly (train step 8 × 256, r = 16, AVX-512: 77–120 GFLOP/s).
pub fn lora_bwd(dy: &[f32], x: &[f32], xa: &[f32], m: usize, l: LoraRef<'_, [f32]>, g: LoraGradMut<'_, [f32]>) {
    use rayon::prelude::*;
    let (a, b, LoraShape { r, din, dout, scale }) = (l.a, l.b, l.shape);
    assert!(
        dy.len() >= m * dout && x.len() >= m * din && xa.len() >= m * r && a.len() >= r * din && b.len() >= dout * r,
        "lora_bwd: bad shapes"
    );
    assert!(g.a.len() >= r * din && g.b.len() >= dout * r && g.x.len() >= m * din, "lora_bwd: bad shapes");
    // One block per thread, smaller where a block's dy would not stay in L2 between its products.
    let rows = m.div_ceil(rayon::current_num_threads()).min(LORA_BWD_FLOATS / dout.max(din)).max(16);
    let partials: Vec<(Vec<f32>, Vec<f32>)> = g.x[..m * din]
        .par_chunks_mut(rows * din)
        .enumerate()
        .map(|(c, gx)| {
            let (i0, mc) = (c * rows, gx.len() / din);
            let (dy, x, xa) = (&dy[i0 * dout..], &x[i0 * din..], &xa[i0 * r..]);
            let (mut dxa, mut da, mut db) = (vec![0f32; mc * r], vec![0f32; r * din], vec![0f32; dout * r]);
            let none = Parallelism::None;
            // SAFETY: the shapes are asserted above and this block's rows are in range; transposed
            // operands are read through their strides (dyᵀ: (1, dout), dxaᵀ: (1, r)); every destination
            // is its own buffer.
            unsafe {
                gemm_strided(none, mc, r, dout, dxa.as_mut_ptr(), r, false, dy.as_ptr(), dout, 1, b.as_ptr(), r, 1, scale);
                gemm_strided(none, dout, r, mc, db.as_mut_ptr(), r, false, dy.as_ptr(), 1, dout, xa.as_ptr(), r, 1, scale);
                gemm_strided(none, r, din, mc, da.as_mut_ptr(), din, false, dxa.as_ptr(), 1, r, x.as_ptr(), din, 1, 1.0);
                gemm_strided(none, mc, din, r, gx.as_mut_ptr(), din, true, dxa.as_ptr(), r, 1, a.as_ptr(), din, 1, 1.0);
            }
            (da, db)
        })
        .collect();
    for (da, db) in &partials {
        g.a[..r * din].iter_mut().zip(da).for_each(|(o, v)| *o += v);
        g.b[..dout * r].iter_mut().zip(db).for_each(|(o, v)| *o += v);
    }
}

/// The most dy (or x) values in one block of `lora_bwd` (1 MB; measured, AVX-512 2 cores, m = 2,048:
/// one block per thread was best for widths 192 and 576, 1.3× slower than blocks of this size at 1,536).
const LORA_BWD_FLOATS: usize = 1 << 18;
