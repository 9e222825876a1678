//! Products with a frozen weight: the forward (per encoding and numerics, in `matrix.rs`, `panel.rs`,
//! `int8.rs`) and its backward dX = dY·W through a packed, decoded copy of the weight's rows.
use crate::cpu::matrix::CpuMatrix;
use crate::cpu::simd::Simd;
use crate::cpu::{Numerics, SyncPtr};
use crate::formats::quant::QK;
use crate::simd_fn;
use rayon::prelude::*;

/// out[m × rows] = x[m × cols]·Wᵀ: 8-bit activations against a quantized weight under
/// `Numerics::Int8`, else the exact product for the weight's encoding (`CpuMatrix::matmul`).
pub fn matmul(x: &[f32], m: usize, w: &CpuMatrix, numerics: Numerics, out: &mut [f32]) {
    match w {
        CpuMatrix::Quant(p) if numerics == Numerics::Int8 => p.matmul_int8(x, m, out),
        _ => w.matmul(x, m, out),
    }
}

/// Activation rows per task of the transposed product (a multiple of both tile heights, 6 and 2).
const T_ROWS: usize = 24;

/// Weight rows r0..r1 of `w` decoded into `buf` (row-major, the exact dequantized values).
pub(super) fn decode_rows(w: &CpuMatrix, r0: usize, r1: usize, buf: &mut Vec<f32>) {
    let k = w.cols();
    buf.resize((r1 - r0) * k, 0.0);
    buf.par_chunks_mut(k).enumerate().for_each(|(i, o)| w.dequant_row(r0 + i, o));
}

/// Columns per block of the packed weight layout of the transposed product (`pack_rows`).
const PB: usize = 32;
/// Weight rows packed at a time by `matmul_bwd`: a tile's share of a chunk (128 rows × 64 columns,
/// 32 KB) stays in L1 while the task's row tiles go past it.
const PACK_ROWS: usize = 128;

/// Weight rows r0..r1 of `w` (any encoding; the exact dequantized values) packed into `buf` for
/// `t_packed_rows`: per block of 32 columns, the rows one after another (buf[(cb·nr + r)·32 + j] =
/// W[r0 + r, 32·cb + j], zero past the last column), so a tile's weight loads run sequentially (row by
/// row, a row-major chunk strides by whole rows: with 1536 columns, 6 KB, every load of a 64-column
/// tile fell in the same few L1 sets).
fn pack_rows(w: &CpuMatrix, r0: usize, r1: usize, buf: &mut Vec<f32>) {
    let k = w.cols();
    let (nr, nb) = (r1 - r0, k.div_ceil(PB));
    buf.clear();
    buf.resize(nb * nr * PB, 0.0);
    let bp = SyncPtr(buf.as_mut_ptr());
    (0..nr).into_par_iter().with_min_len(8).for_each_init(
        || vec![0f32; k],
        |row, r| {
            let bp = &bp;
            w.dequant_row(r0 + r, row);
            for cb in 0..nb {
                let c = (k - cb * PB).min(PB);
                // SAFETY: buf holds nb·nr·32 values; each task writes only its row r's cells.
                unsafe { std::ptr::copy_nonoverlapping(row.as_ptr().add(cb * PB), bp.0.add((cb * nr + r) * PB), c) };
            }
        },
    );
}

simd_fn! {
    /// dx[i, :] += Σ_r dy[i·ldy + r]·W[r, :] for the activation rows i of `dx` (row length k) and the
    /// `nr` weight rows packed by `pack_rows` in `pk`. Tiles of T rows × C vectors of 16 columns in
    /// registers: each weight vector loaded serves T rows, each broadcast dy value C vectors. 6 × 4
    /// where a vector is one of 32 registers (AVX-512: 24 accumulators, 4 weights, 1 broadcast); 2 × 2
    /// where it takes 2 of 16 (AVX2) or 4 of 32 (NEON): 3 × 2 would need 18 AVX2 registers (train_probe
    /// on AVX2, on a loaded machine: 126 tok/s with 3 × 2, 141–157 with 2 × 2).
    pub fn t_packed_rows(dy: &[f32], ldy: usize, pk: &[f32], nr: usize, k: usize, dx: &mut [f32]) => t_packed_rows_k
}

#[inline(always)]
unsafe fn t_packed_rows_k<S: Simd>(dy: &[f32], ldy: usize, pk: &[f32], nr: usize, k: usize, dx: &mut [f32]) {
    let m = dx.len() / k;
    assert!(pk.len() >= k.div_ceil(PB) * nr * PB && (m == 0 || dy.len() >= (m - 1) * ldy + nr));
    if S::TILE_F32 >= 16 {
        t_packed::<S, 6, 4>(dy.as_ptr(), ldy, pk.as_ptr(), nr, k, dx.as_mut_ptr(), m)
    } else {
        t_packed::<S, 2, 2>(dy.as_ptr(), ldy, pk.as_ptr(), nr, k, dx.as_mut_ptr(), m)
    }
}

/// Over column groups of C/2 packed blocks (the last ones one block at a time), each group's weights
/// streamed once per tile of T rows (the rows left over one at a time).
#[inline(always)]
unsafe fn t_packed<S: Simd, const T: usize, const C: usize>(
    g: *const f32,
    ldy: usize,
    pk: *const f32,
    nr: usize,
    k: usize,
    o: *mut f32,
    m: usize,
) {
    let nb = k.div_ceil(PB);
    let mut cb = 0;
    while cb < nb {
        let wide = cb + C / 2 <= nb;
        let mut i0 = 0;
        while i0 < m {
            let (gi, oi) = (g.add(i0 * ldy), o.add(i0 * k));
            match (m - i0 >= T, wide) {
                (true, true) => t_tile::<S, T, C>(gi, ldy, pk, nr, k, oi, cb),
                (true, false) => t_tile::<S, T, 2>(gi, ldy, pk, nr, k, oi, cb),
                (false, true) => t_tile::<S, 1, C>(gi, ldy, pk, nr, k, oi, cb),
                (false, false) => t_tile::<S, 1, 2>(gi, ldy, pk, nr, k, oi, cb),
            }
            i0 += if m - i0 >= T { T } else { 1 };
        }
        cb += if wide { C / 2 } else { 1 };
    }
}

/// One tile: T rows × the C vectors from packed block `cb` on (C/2 blocks, all inside the packing),
/// added into dx; columns past k are not stored.
#[inline(always)]
unsafe fn t_tile<S: Simd, const T: usize, const C: usize>(
    g: *const f32,
    ldy: usize,
    pk: *const f32,
    nr: usize,
    k: usize,
    o: *mut f32,
    cb: usize,
) {
    let mut acc = [[S::zero(); C]; T];
    let blk = |j: usize| pk.add((cb + j / 2) * nr * PB + (j % 2) * 16);
    for r in 0..nr {
        let mut wv = [S::zero(); C];
        for (j, v) in wv.iter_mut().enumerate() {
            *v = S::load(blk(j).add(r * PB));
        }
        for (i, a) in acc.iter_mut().enumerate() {
            let s = S::splat(*g.add(i * ldy + r));
            for (j, v) in a.iter_mut().enumerate() {
                *v = S::fma(s, wv[j], *v);
            }
        }
    }
    let c0 = cb * PB;
    for (i, a) in acc.iter().enumerate() {
        for (j, v) in a.iter().enumerate() {
            let c = c0 + 16 * j;
            if c >= k {
                break;
            }
            let p = o.add(i * k + c);
            if c + 16 <= k {
                S::store(p, S::add(S::load(p), *v));
            } else {
                S::store_n(p, k - c, S::add(S::load_n(p, k - c), *v));
            }
        }
    }
}

/// dx[m × cols] = dy[m × rows]·W (or += with `accumulate`). Under `Numerics::Int8`, a quantized W
/// whose rows are whole blocks of 32 goes through the forward's 8-bit product over Wᵀ
/// (`Panels::transposed_q8`: dy quantized per block of 32 like any activation row); otherwise, for any
/// CPU encoding, the exact product: chunks of `PACK_ROWS` weight rows are decoded to f32 and packed
/// (`pack_rows`), each multiplied with every activation row (tasks of `T_ROWS` rows).
pub fn matmul_bwd(dy: &[f32], m: usize, w: &CpuMatrix, numerics: Numerics, dx: &mut [f32], accumulate: bool) {
    let (n, k) = (w.rows(), w.cols());
    assert!(dy.len() >= m * n && dx.len() >= m * k, "matmul_bwd: buffers too small");
    match w {
        CpuMatrix::Quant(p) if numerics == Numerics::Int8 && n % QK == 0 => {
            let dq = crate::cpu::int8::quantize_rows(dy, m, n);
            return p.transposed_q8().matmul_int8_part(&dq, m, 0..k, 0..n / QK, dx, accumulate);
        }
        _ => {}
    }
    if !accumulate {
        dx[..m * k].fill(0.0);
    }
    // The scratch is taken out of the thread-local, not borrowed: while this thread waits on the
    // parallel loop, rayon may run another caller's matmul_bwd on it (two models training in one
    // process, or tests in parallel), which then finds it empty and allocates instead of panicking on
    // a second borrow.
    let mut buf = PACK_SCRATCH.take();
    for r0 in (0..n).step_by(PACK_ROWS) {
        let r1 = (r0 + PACK_ROWS).min(n);
        pack_rows(w, r0, r1, &mut buf);
        let buf = &buf;
        dx[..m * k].par_chunks_mut(T_ROWS * k).enumerate().for_each(|(t, d)| {
            t_packed_rows(&dy[t * T_ROWS * n + r0..], n, buf, r1 - r0, k, d);
        });
    }
    PACK_SCRATCH.set(buf);
}

thread_local! {
    /// The packed weight chunk of `matmul_bwd`, kept between calls (no allocation per product).
    static PACK_SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}
