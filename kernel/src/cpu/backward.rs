//! The backward ops of the CPU backend (and the two training forwards that save what they need:
//! attention with its softmax log-sum-exp, the LoRA term with x·Aᵀ), one `*_bwd` beside each forward,
//! llm.c style. The hot loops are written over the SIMD layer; `crate::reference` holds the f64
//! versions they are tested against (kernel/tests/backward_ops.rs).
use super::matrix::CpuMatrix;
use super::simd::{math, Simd};
use super::vector::{dot, exp_sub_sum, rope_row};
use super::SyncPtr;
use crate::backend::{AdamWStep, AttnShape, RopeStyle};
use crate::simd_fn;
use rayon::prelude::*;

simd_fn! {
    /// y += a·x over the shorter of the two.
    pub fn axpy(a: f32, x: &[f32], y: &mut [f32]) => axpy_k
}

#[inline(always)]
unsafe fn axpy_k<S: Simd>(a: f32, x: &[f32], y: &mut [f32]) {
    let n = x.len().min(y.len());
    let av = S::splat(a);
    let (px, py) = (x.as_ptr(), y.as_mut_ptr());
    let mut i = 0;
    while i + 16 <= n {
        S::store(py.add(i), S::fma(av, S::load(px.add(i)), S::load(py.add(i))));
        i += 16;
    }
    if i < n {
        let r = n - i;
        S::store_n(py.add(i), r, S::fma(av, S::load_n(px.add(i), r), S::load_n(py.add(i), r)));
    }
}

simd_fn! {
    /// One row of RMSNorm's backward: dx = inv·(dy⊙w) − inv³/n·x·Σ(dy⊙w⊙x), inv = 1/sqrt(mean(x²) + eps).
    /// Returns inv (for dw).
    pub fn rmsnorm_bwd_row(dy: &[f32], x: &[f32], w: &[f32], eps: f32, dx: &mut [f32]) -> f32 => rmsnorm_bwd_row_k
}

#[inline(always)]
unsafe fn rmsnorm_bwd_row_k<S: Simd>(dy: &[f32], x: &[f32], w: &[f32], eps: f32, dx: &mut [f32]) -> f32 {
    let n = x.len();
    let inv = 1.0 / (dot(x, x) / n as f32 + eps).sqrt();
    let mut acc = S::zero();
    let mut i = 0;
    while i < n {
        let c = (n - i).min(16);
        let g = S::mul(S::load_n(dy.as_ptr().add(i), c), S::load_n(w.as_ptr().add(i), c));
        acc = S::fma(g, S::load_n(x.as_ptr().add(i), c), acc);
        i += c;
    }
    let k = inv * inv * inv * S::reduce_add(acc) / n as f32;
    let (iv, kv) = (S::splat(inv), S::splat(k));
    let mut i = 0;
    while i < n {
        let c = (n - i).min(16);
        let g = S::mul(S::load_n(dy.as_ptr().add(i), c), S::load_n(w.as_ptr().add(i), c));
        let d = S::fnma(kv, S::load_n(x.as_ptr().add(i), c), S::mul(g, iv));
        S::store_n(dx.as_mut_ptr().add(i), c, d);
        i += c;
    }
    inv
}

/// dx [m × n] of out = rmsnorm(x)·w given dy; with `dw`, also dw[n] += Σ_rows dy⊙x·inv.
#[allow(clippy::too_many_arguments)]
pub fn rmsnorm_bwd(dy: &[f32], x: &[f32], w: &[f32], m: usize, n: usize, eps: f32, dx: &mut [f32], dw: Option<&mut [f32]>) {
    let inv: Vec<f32> = dx[..m * n]
        .par_chunks_mut(n)
        .zip(x[..m * n].par_chunks(n).zip(dy[..m * n].par_chunks(n)))
        .map(|(d, (xr, g))| rmsnorm_bwd_row(g, xr, w, eps, d))
        .collect();
    if let Some(dw) = dw {
        let mut prod = vec![0f32; n];
        for (i, iv) in inv.iter().enumerate() {
            for ((p, g), xv) in prod.iter_mut().zip(&dy[i * n..(i + 1) * n]).zip(&x[i * n..(i + 1) * n]) {
                *p = g * xv;
            }
            axpy(*iv, &prod, dw);
        }
    }
}

/// dx from dy in place: the inverse rotation (angles negated) of `ops::rope`.
pub fn rope_bwd(d: &mut [f32], m: usize, n_heads: usize, head_dim: usize, positions: &[u32], theta: f32, style: RopeStyle) {
    let inv = super::ops::rope_inv_freq(head_dim, theta);
    let row = n_heads * head_dim;
    let pairs = crate::reference::rope_pairs(head_dim, style);
    d[..m * row].par_chunks_mut(row).zip(positions).for_each(|(dr, &p)| {
        // The same f32 angles as the forward, the sine negated.
        let cs: Vec<(f32, f32)> = inv.iter().map(|f| {
            let a = p as f32 * f;
            (a.cos(), -a.sin())
        }).collect();
        rope_row(dr, head_dim, &pairs, &cs);
    });
}

simd_fn! {
    /// d gate = dy·up·σ(g)·(1 + g·(1 − σ(g))), d up = dy·g·σ(g), elementwise.
    pub fn swiglu_bwd_chunk(dy: &[f32], gate: &[f32], up: &[f32], dgate: &mut [f32], dup: &mut [f32]) => swiglu_bwd_k
}

#[inline(always)]
unsafe fn swiglu_bwd_k<S: Simd>(dy: &[f32], gate: &[f32], up: &[f32], dgate: &mut [f32], dup: &mut [f32]) {
    let n = dy.len().min(gate.len()).min(up.len()).min(dgate.len()).min(dup.len());
    let one = S::splat(1.0);
    let mut i = 0;
    while i < n {
        let c = (n - i).min(16);
        let g = S::load_n(gate.as_ptr().add(i), c);
        let u = S::load_n(up.as_ptr().add(i), c);
        let dy = S::load_n(dy.as_ptr().add(i), c);
        let sig = S::div(one, S::add(one, math::exp::<S>(S::sub(S::zero(), g))));
        // 1 − σ(g) = σ(−g), from its own exp: no cancellation, and 0 (not NaN) where exp(g) overflows.
        let sig_neg = S::div(one, S::add(one, math::exp::<S>(g)));
        let gs = S::mul(g, sig);
        let dsilu = S::mul(sig, S::fma(g, sig_neg, one));
        S::store_n(dgate.as_mut_ptr().add(i), c, S::mul(S::mul(dy, u), dsilu));
        S::store_n(dup.as_mut_ptr().add(i), c, S::mul(dy, gs));
        i += c;
    }
}

pub fn swiglu_bwd(dy: &[f32], gate: &[f32], up: &[f32], n: usize, dgate: &mut [f32], dup: &mut [f32]) {
    const CH: usize = 4096;
    dgate[..n]
        .par_chunks_mut(CH)
        .zip(dup[..n].par_chunks_mut(CH))
        .enumerate()
        .for_each(|(c, (dg, du))| {
            let r = c * CH..(c * CH + dg.len());
            swiglu_bwd_chunk(&dy[r.clone()], &gate[r.clone()], &up[r], dg, du);
        });
}

/// Activation rows per task of the transposed product (a multiple of both tile heights, 6 and 2).
const T_ROWS: usize = 24;

/// Weight rows r0..r1 of `w` decoded into `buf` (row-major, the exact dequantized values).
fn decode_rows(w: &CpuMatrix, r0: usize, r1: usize, buf: &mut Vec<f32>) {
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
unsafe fn t_packed<S: Simd, const T: usize, const C: usize>(g: *const f32, ldy: usize, pk: *const f32, nr: usize, k: usize, o: *mut f32, m: usize) {
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
unsafe fn t_tile<S: Simd, const T: usize, const C: usize>(g: *const f32, ldy: usize, pk: *const f32, nr: usize, k: usize, o: *mut f32, cb: usize) {
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

/// dx[m × cols] = dy[m × rows]·W (or += with `accumulate`), for any CPU encoding of W: chunks of
/// `PACK_ROWS` weight rows are decoded to f32 and packed (`pack_rows`), each multiplied with every
/// activation row (tasks of `T_ROWS` rows).
pub fn matmul_bwd(dy: &[f32], m: usize, w: &CpuMatrix, dx: &mut [f32], accumulate: bool) {
    let (n, k) = (w.rows(), w.cols());
    assert!(dy.len() >= m * n && dx.len() >= m * k, "matmul_bwd: buffers too small");
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

/// dst[m × n] = beta·lhs·rhs (+ dst with `acc`) through the blocked GEMM; each operand given by its
/// pointer and (row stride, column stride), so transposes are free.
///
/// # Safety
/// Every operand must be valid for the cells its shape and strides name; dst must not alias the others.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_strided(m: usize, n: usize, k: usize, dst: *mut f32, dst_rs: usize, acc: bool, lhs: *const f32, lhs_rs: usize, lhs_cs: usize, rhs: *const f32, rhs_rs: usize, rhs_cs: usize, beta: f32) {
    gemm::gemm(m, n, k, dst, 1, dst_rs as isize, acc, lhs, lhs_cs as isize, lhs_rs as isize, rhs, rhs_cs as isize, rhs_rs as isize,
        if acc { 1.0 } else { 0.0 }, beta, false, false, false, gemm::Parallelism::Rayon(0));
}

/// The LoRA term's forward: h[m × r] = x·Aᵀ (saved for the backward) and y[m × dout] += s·h·Bᵀ, for
/// A (r × din) and B (dout × r) plain f32 tensors. Small GEMMs (r is 8 to 64).
#[allow(clippy::too_many_arguments)]
pub fn lora_fwd(x: &[f32], m: usize, a: &[f32], b: &[f32], r: usize, din: usize, dout: usize, s: f32, h: &mut [f32], y: &mut [f32]) {
    assert!(x.len() >= m * din && a.len() >= r * din && b.len() >= dout * r && h.len() >= m * r && y.len() >= m * dout, "lora_fwd: bad shapes");
    // SAFETY: the shapes are asserted; Aᵀ is A read with strides (1, din), Bᵀ is B with (1, r).
    unsafe {
        gemm_strided(m, r, din, h.as_mut_ptr(), r, false, x.as_ptr(), din, 1, a.as_ptr(), 1, din, 1.0);
        gemm_strided(m, dout, r, y.as_mut_ptr(), dout, true, h.as_ptr(), r, 1, b.as_ptr(), 1, r, s);
    }
}

/// The LoRA term's backward from dy and the saved h = x·Aᵀ: dA += (s·dy·B)ᵀ·x, dB += s·dyᵀ·h (both
/// accumulate, for gradient accumulation), and dx += (s·dy·B)·A, its share of the input gradient.
#[allow(clippy::too_many_arguments)]
pub fn lora_bwd(dy: &[f32], x: &[f32], h: &[f32], m: usize, a: &[f32], b: &[f32], r: usize, din: usize, dout: usize, s: f32, da: &mut [f32], db: &mut [f32], dx: &mut [f32]) {
    assert!(dy.len() >= m * dout && x.len() >= m * din && h.len() >= m * r && a.len() >= r * din && b.len() >= dout * r, "lora_bwd: bad shapes");
    assert!(da.len() >= r * din && db.len() >= dout * r && dx.len() >= m * din, "lora_bwd: bad shapes");
    let mut dh = vec![0f32; m * r];
    // SAFETY: the shapes are asserted; transposed operands are read through their strides
    // (dyᵀ: (1, dout), dhᵀ: (1, r)); every destination is its own buffer.
    unsafe {
        gemm_strided(m, r, dout, dh.as_mut_ptr(), r, false, dy.as_ptr(), dout, 1, b.as_ptr(), r, 1, s);
        gemm_strided(dout, r, m, db.as_mut_ptr(), r, true, dy.as_ptr(), 1, dout, h.as_ptr(), r, 1, s);
        gemm_strided(r, din, m, da.as_mut_ptr(), din, true, dh.as_ptr(), 1, r, x.as_ptr(), din, 1, 1.0);
        gemm_strided(m, din, r, dx.as_mut_ptr(), din, true, dh.as_ptr(), r, 1, a.as_ptr(), din, 1, 1.0);
    }
}

/// dst[m × n] = beta·lhs·rhs (+ dst with `acc`) on the calling thread (inside a parallel task).
///
/// # Safety
/// As `gemm_strided`.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_here(m: usize, n: usize, k: usize, dst: *mut f32, dst_rs: usize, acc: bool, lhs: *const f32, lhs_rs: usize, lhs_cs: usize, rhs: *const f32, rhs_rs: usize, rhs_cs: usize, beta: f32) {
    gemm::gemm(m, n, k, dst, 1, dst_rs as isize, acc, lhs, lhs_cs as isize, lhs_rs as isize, rhs, rhs_cs as isize, rhs_rs as isize,
        if acc { 1.0 } else { 0.0 }, beta, false, false, false, gemm::Parallelism::None);
}

/// Query rows per block of the causal products: block rows q0..q1 need keys 0..q1 only, so the GEMMs
/// skip most of the masked upper triangle (with 64-row blocks of 256 rows, 10/16 of the full work).
const ATT_BLOCK: usize = 64;

fn causal_blocks(len: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..len).step_by(ATT_BLOCK).map(move |q0| (q0, (q0 + ATT_BLOCK).min(len)))
}

/// Causal grouped-query attention for training, over sequences `(row0, len)` of a packed batch (each
/// row sees the rows of its own sequence up to itself): q, out `[rows × n_heads·hd]`, k, v
/// `[rows × n_kv_heads·hd]`. Saves lse[row·n_heads + h], the log-sum-exp of the row's scaled scores
/// (its softmax max and sum in one number), so the backward recomputes P without a max pass. One task
/// per (sequence, head): S = Q·Kᵀ·scale (GEMM), a causal softmax per row, O = P·V (GEMM).
pub fn attention_train(q: &[f32], k: &[f32], v: &[f32], seqs: &[(usize, usize)], s: AttnShape, out: &mut [f32], lse: &mut [f32]) {
    let (hd, nh, nkv) = (s.head_dim, s.n_heads, s.n_kv_heads);
    let (qrow, kvrow, group) = (nh * hd, nkv * hd, nh / nkv);
    let scale = 1.0 / (hd as f32).sqrt();
    let rows = seqs.iter().map(|&(r0, len)| r0 + len).max().unwrap_or(0);
    assert!(rows * qrow <= q.len().min(out.len()) && rows * kvrow <= k.len().min(v.len()) && rows * nh <= lse.len(), "attention_train: bad shapes");
    let (optr, lptr) = (SyncPtr(out.as_mut_ptr()), SyncPtr(lse.as_mut_ptr()));
    let tasks: Vec<(usize, usize)> = (0..seqs.len()).flat_map(|si| (0..nh).map(move |h| (si, h))).collect();
    tasks.par_iter().for_each(|&(si, h)| {
        let (optr, lptr) = (&optr, &lptr);
        let (r0, len) = seqs[si];
        let g = h / group;
        let mut p = vec![0f32; len * len];
        let (qp, kp, vp) = (q[r0 * qrow + h * hd..].as_ptr(), k[r0 * kvrow + g * hd..].as_ptr(), v[r0 * kvrow + g * hd..].as_ptr());
        // SAFETY: the shapes are asserted; p is len × len; this task alone writes its sequence's rows
        // of head h in out and lse.
        unsafe {
            for (q0, q1) in causal_blocks(len) {
                gemm_here(q1 - q0, q1, hd, p.as_mut_ptr().add(q0 * len), len, false, qp.add(q0 * qrow), qrow, 1, kp, 1, kvrow, scale);
            }
            let mut inv = vec![0f32; len];
            for (i, row) in p.chunks_exact_mut(len).enumerate() {
                let mx = row[..=i].iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
                let sum = exp_sub_sum(&mut row[..=i], mx);
                row[i + 1..].fill(0.0);
                *lptr.0.add((r0 + i) * nh + h) = mx + sum.ln();
                inv[i] = 1.0 / sum;
            }
            let op = optr.0.add(r0 * qrow + h * hd);
            for (q0, q1) in causal_blocks(len) {
                gemm_here(q1 - q0, hd, q1, op.add(q0 * qrow), qrow, false, p.as_ptr().add(q0 * len), len, 1, vp, kvrow, 1, 1.0);
            }
            for (i, iv) in inv.iter().enumerate() {
                std::slice::from_raw_parts_mut(op.add(i * qrow), hd).iter_mut().for_each(|x| *x *= iv);
            }
        }
    });
}

/// The backward of `attention_train`: from dout, the inputs, its output and lse, writes dq, dk and dv
/// (overwritten; rows outside every sequence get 0). One task per (sequence, kv head) owns that head's
/// dk, dv rows and its query heads' dq rows; per query head, by GEMMs: P = exp(Q·Kᵀ·scale − lse)
/// (recomputed, causal), dP = dO·Vᵀ, dS = P ⊙ (dP − rowsum(dO ⊙ O)), dQ = scale·dS·K,
/// dK += scale·dSᵀ·Q, dV += Pᵀ·dO.
#[allow(clippy::too_many_arguments)]
pub fn attention_bwd(
    dout: &[f32],
    q: &[f32],
    k: &[f32],
    v: &[f32],
    out: &[f32],
    lse: &[f32],
    seqs: &[(usize, usize)],
    s: AttnShape,
    dq: &mut [f32],
    dk: &mut [f32],
    dv: &mut [f32],
) {
    let (hd, nh, nkv) = (s.head_dim, s.n_heads, s.n_kv_heads);
    let (qrow, kvrow, group) = (nh * hd, nkv * hd, nh / nkv);
    let scale = 1.0 / (hd as f32).sqrt();
    let rows = seqs.iter().map(|&(r0, len)| r0 + len).max().unwrap_or(0);
    assert!(rows * qrow <= q.len().min(dq.len()).min(dout.len()).min(out.len()) && rows * nh <= lse.len(), "attention_bwd: bad shapes");
    assert!(rows * kvrow <= k.len().min(v.len()).min(dk.len()).min(dv.len()), "attention_bwd: bad shapes");
    dq.fill(0.0);
    dk.fill(0.0);
    dv.fill(0.0);
    let (qp, kp, vp) = (SyncPtr(dq.as_mut_ptr()), SyncPtr(dk.as_mut_ptr()), SyncPtr(dv.as_mut_ptr()));
    let tasks: Vec<(usize, usize)> = (0..seqs.len()).flat_map(|si| (0..nkv).map(move |g| (si, g))).collect();
    tasks.par_iter().for_each(|&(si, g)| {
        let (dqp, dkp, dvp) = (&qp, &kp, &vp);
        let (r0, len) = seqs[si];
        let (kg, vg) = (k[r0 * kvrow + g * hd..].as_ptr(), v[r0 * kvrow + g * hd..].as_ptr());
        let mut p = vec![0f32; len * len];
        let mut ds = vec![0f32; len * len];
        for h in g * group..(g + 1) * group {
            let qo = r0 * qrow + h * hd;
            let (qh, doh) = (q[qo..].as_ptr(), dout[qo..].as_ptr());
            // SAFETY: the shapes are asserted; p and ds are len × len; this task alone writes its
            // sequence's rows of query head h in dq and of kv head g in dk and dv.
            unsafe {
                for (q0, q1) in causal_blocks(len) {
                    let (pp, dp) = (p.as_mut_ptr().add(q0 * len), ds.as_mut_ptr().add(q0 * len));
                    gemm_here(q1 - q0, q1, hd, pp, len, false, qh.add(q0 * qrow), qrow, 1, kg, 1, kvrow, scale);
                    gemm_here(q1 - q0, q1, hd, dp, len, false, doh.add(q0 * qrow), qrow, 1, vg, 1, kvrow, 1.0);
                }
                // Row i: P and dS over keys 0..=i, zero after (dS = P ⊙ (dP − rowsum(dO ⊙ O))).
                for (i, (dsr, pr)) in ds.chunks_exact_mut(len).zip(p.chunks_exact_mut(len)).enumerate() {
                    exp_sub_sum(&mut pr[..=i], lse[(r0 + i) * nh + h]);
                    pr[i + 1..].fill(0.0);
                    let o = qo + i * qrow;
                    let dd = dot(&dout[o..o + hd], &out[o..o + hd]);
                    for (d, &pv) in dsr[..=i].iter_mut().zip(&pr[..=i]) {
                        *d = pv * (*d - dd);
                    }
                    dsr[i + 1..].fill(0.0);
                }
                let ko = r0 * kvrow + g * hd;
                for (q0, q1) in causal_blocks(len) {
                    // dQ of query rows q0..q1 (keys 0..q1); dK, dV of key rows q0..q1 (query rows q0..len).
                    gemm_here(q1 - q0, hd, q1, dqp.0.add(qo + q0 * qrow), qrow, false, ds.as_ptr().add(q0 * len), len, 1, kg, kvrow, 1, scale);
                    let (dst, n) = (q0 * kvrow, len - q0);
                    gemm_here(q1 - q0, hd, n, dkp.0.add(ko + dst), kvrow, true, ds.as_ptr().add(q0 * len + q0), 1, len, qh.add(q0 * qrow), qrow, 1, scale);
                    gemm_here(q1 - q0, hd, n, dvp.0.add(ko + dst), kvrow, true, p.as_ptr().add(q0 * len + q0), 1, len, doh.add(q0 * qrow), qrow, 1, 1.0);
                }
            }
        }
    });
}

/// Vocabulary rows per chunk of the fused cross-entropy (its logits buffer is rows × this).
const CE_CHUNK: usize = 2048;

/// Cross-entropy fused with the output head, for only the rows that carry a loss: hidden [r × n] (the
/// final-normed hidden states of those positions), their targets and weights (e.g. 1 / tokens in the
/// batch). Returns Σ_i weight_i·(−log softmax(hidden_i·Wᵀ)[target_i]) and writes dhidden [r × n]. The
/// vocabulary goes by chunks of `CE_CHUNK` rows of W, each decoded once and used twice (logits, then
/// dhidden, through `matmul_bwd`'s packed product), with an online softmax: per row a running max M and sum S, and dhidden holds
/// Σ_{v ≠ target} exp(l_v − M)·W_v, rescaled when M grows, beside S and S′ = S without the target's
/// term; at the end dhidden = weight·(that − S′·W_target) / S. Leaving the target out of the running
/// sum avoids the cancellation of Σ p·W − W_target when p_target is near 1 (a trained model's
/// common case), where it cost three digits. No [r × vocab] tensor exists.
pub fn cross_entropy(hidden: &[f32], targets: &[u32], weights: &[f32], head: &CpuMatrix, dhidden: &mut [f32]) -> f64 {
    let (vocab, n) = (head.rows(), head.cols());
    let r = targets.len();
    assert!(hidden.len() >= r * n && dhidden.len() >= r * n && weights.len() == r, "cross_entropy: bad shapes");
    assert!(targets.iter().all(|&t| (t as usize) < vocab), "cross_entropy: target outside the vocabulary");
    dhidden[..r * n].fill(0.0);
    let mut state = vec![(f32::NEG_INFINITY, 0f32, 0f32, 0f32); r]; // (max, sum, target logit, sum without the target)
    let mut buf = Vec::new();
    let chunk = CE_CHUNK.min(vocab);
    let mut logits = vec![0f32; r * chunk];
    for v0 in (0..vocab).step_by(CE_CHUNK) {
        let v1 = (v0 + CE_CHUNK).min(vocab);
        let c = v1 - v0;
        decode_rows(head, v0, v1, &mut buf);
        let wc = CpuMatrix::Dense { rows: c, cols: n, w: std::mem::take(&mut buf) };
        wc.matmul(hidden, r, &mut logits[..r * c]);
        logits[..r * c].par_chunks_mut(c).zip(state.par_iter_mut()).zip(dhidden[..r * n].par_chunks_mut(n)).enumerate().for_each(
            |(i, ((l, st), dh))| {
                let t = targets[i] as usize;
                if (v0..v1).contains(&t) {
                    st.2 = l[t - v0];
                }
                let mx = l.iter().fold(st.0, |a, &b| a.max(b));
                let f = (st.0 - mx).exp();
                if f != 1.0 {
                    dh.iter_mut().for_each(|x| *x *= f);
                }
                let sum = exp_sub_sum(l, mx);
                let sum_excl = if (v0..v1).contains(&t) {
                    l[t - v0] = 0.0;
                    l.iter().sum::<f32>()
                } else {
                    sum
                };
                st.1 = st.1 * f + sum;
                st.3 = st.3 * f + sum_excl;
                st.0 = mx;
            },
        );
        matmul_bwd(&logits, r, &wc, dhidden, true);
        let CpuMatrix::Dense { w, .. } = wc else { unreachable!() };
        buf = w;
    }
    let losses: Vec<f64> = dhidden[..r * n].par_chunks_mut(n).zip(state.par_iter()).enumerate().map(|(i, (dh, &(mx, sum, lt, excl)))| {
        let mut wt = vec![0f32; n];
        head.dequant_row(targets[i] as usize, &mut wt);
        let (scale, w) = (weights[i] / sum, weights[i]);
        for (d, t) in dh.iter_mut().zip(&wt) {
            *d = scale * (*d - excl * t);
        }
        w as f64 * (mx as f64 + (sum as f64).ln() - lt as f64)
    }).collect();
    losses.iter().sum()
}

/// Σ x², in f32 per chunk of 4096 and f64 across chunks.
pub fn sum_squares(x: &[f32]) -> f64 {
    x.par_chunks(4096).map(|c| dot(c, c) as f64).sum()
}

simd_fn! {
    /// AdamW over one chunk (see `adamw_step`).
    pub fn adamw_chunk(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], h: AdamWStep) => adamw_chunk_k
}

#[inline(always)]
#[allow(clippy::extra_unused_type_parameters)]
unsafe fn adamw_chunk_k<S: Simd>(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], h: AdamWStep) {
    // torch.optim.AdamW (single-tensor, non-fused): p *= 1 − lr·wd; m = β1·m + (1 − β1)·g;
    // v = β2·v + (1 − β2)·g²; p −= lr / (1 − β1^t) · m / (sqrt(v) / sqrt(1 − β2^t) + eps).
    let decay = (1.0 - h.lr * h.weight_decay) as f32;
    let (b1, b2, c1, c2) = (h.beta1 as f32, h.beta2 as f32, (1.0 - h.beta1) as f32, (1.0 - h.beta2) as f32);
    let step = (h.lr / (1.0 - h.beta1.powi(h.t as i32))) as f32;
    let bc2 = (1.0 - h.beta2.powi(h.t as i32)).sqrt() as f32;
    let (eps, scale) = (h.eps as f32, h.grad_scale as f32);
    // A plain loop: compiled inside this ISA's wrapper, it vectorizes with that ISA's instructions.
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        let g = g * scale;
        *m = b1 * *m + c1 * g;
        *v = b2 * *v + c2 * g * g;
        *p = *p * decay - step * *m / (v.sqrt() / bc2 + eps);
    }
}

/// One AdamW step over the parameters `p` (see `Backend::adamw_step`), in parallel chunks.
pub fn adamw_step(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], h: AdamWStep) {
    const CH: usize = 4096;
    p.par_chunks_mut(CH).zip(m.par_chunks_mut(CH).zip(v.par_chunks_mut(CH))).enumerate().for_each(|(c, (p, (m, v)))| {
        adamw_chunk(p, &g[c * CH..], m, v, h);
    });
}
