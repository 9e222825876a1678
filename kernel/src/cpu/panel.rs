//! Quantized weights interleaved in panels of 16 rows, and the product x·Wᵀ over them.
//!
//! Why panels (measured with kernel/examples/matmul_probe.rs, README "Speed"): with weights kept row by
//! row, a dot-product kernel loads one activation vector per FMA and needs a horizontal sum per output,
//! so at 16 activation rows it was bound by loads (≈ 20 GMAC/s per core of a possible ≈ 67). Here the 16
//! lanes of a vector are 16 consecutive weight rows: a weight vector is decoded once (x = q·d + m, in
//! registers, exact in f32) and multiplied with a broadcast activation value for every activation row,
//! and 16 outputs are stored at once. The same kernel serves decode and prefill (tiles of `S::TILE`
//! rows: 16 on AVX-512, 4 where registers are fewer), on every ISA through the SIMD layer (`simd/`).
//!
//! Layout. Per (panel, block of 32 columns), groups of 64 bytes, each 16 rows × 4 bytes (row r's bytes at
//! 4r..4r+4, one 32-bit lane per row). Q4: 4 groups; group g holds the original block bytes 4g..4g+4 of
//! each row (low nibble = column 4g + j, high nibble = column 16 + 4g + j). Q8: 8 groups; group g holds
//! columns 4g..4g+4 as signed bytes. Scales d (and for Q4 offsets m) are kept per (panel, block), 16
//! each. Rows past the end are zero. Four consecutive columns per 32-bit lane is what the integer dot
//! products (VNNI, `vpmaddubsw`, SDOT) multiply; the f32 kernel takes the columns out with shifts.
use super::int8;
use super::simd::Simd;
use super::SyncPtr;
use crate::formats::quant::QK;
use crate::simd_fn;
use rayon::prelude::*;

/// Rows per panel: the 16 f32 lanes of the SIMD layer's vector (one AVX-512 register, two AVX2, four
/// NEON).
pub const PANEL: usize = 16;

pub enum Codes {
    Q4(Vec<u8>),
    Q8(Vec<i8>),
}

/// Where byte `t` (0..16) of row `rr`'s 4-bit block sits in (panel, block) `pb`.
fn q4_index(pb: usize, rr: usize, t: usize) -> usize {
    ((pb * 4 + t / 4) * PANEL + rr) * 4 + t % 4
}

/// Where column `t` (0..32) of row `rr`'s 8-bit block sits in (panel, block) `pb`.
fn q8_index(pb: usize, rr: usize, t: usize) -> usize {
    ((pb * 8 + t / 4) * PANEL + rr) * 4 + t % 4
}

pub struct Panels {
    pub rows: usize,
    pub cols: usize,
    codes: Codes,
    d: Vec<f32>,
    /// Q4 offsets (empty for Q8).
    m: Vec<f32>,
    /// Wᵀ in 8-bit panels, made on first use by the 8-bit backward (`transposed_q8`).
    transposed: std::sync::OnceLock<Box<Panels>>,
}

impl Panels {
    fn n_panels(&self) -> usize {
        self.rows.div_ceil(PANEL)
    }

    /// From row-major 4-bit blocks: 16 bytes per block (low nibbles = columns 0..16) and (d, m).
    pub fn from_q4(rows: usize, cols: usize, qs: &[u8], dm: &[[f32; 2]]) -> Self {
        let nb = cols / QK;
        let np = rows.div_ceil(PANEL);
        let mut codes = vec![0u8; np * nb * 16 * PANEL];
        let (mut d, mut m) = (vec![0f32; np * nb * PANEL], vec![0f32; np * nb * PANEL]);
        for r in 0..rows {
            let (p, rr) = (r / PANEL, r % PANEL);
            for b in 0..nb {
                let pb = p * nb + b;
                for t in 0..16 {
                    codes[q4_index(pb, rr, t)] = qs[(r * nb + b) * 16 + t];
                }
                [d[pb * PANEL + rr], m[pb * PANEL + rr]] = dm[r * nb + b];
            }
        }
        Panels { rows, cols, codes: Codes::Q4(codes), d, m, transposed: Default::default() }
    }

    /// From row-major 8-bit blocks: 32 signed bytes and one scale per block.
    pub fn from_q8(rows: usize, cols: usize, qs: &[i8], scales: &[f32]) -> Self {
        let nb = cols / QK;
        let np = rows.div_ceil(PANEL);
        let mut codes = vec![0i8; np * nb * QK * PANEL];
        let mut d = vec![0f32; np * nb * PANEL];
        for r in 0..rows {
            let (p, rr) = (r / PANEL, r % PANEL);
            for b in 0..nb {
                let pb = p * nb + b;
                for t in 0..QK {
                    codes[q8_index(pb, rr, t)] = qs[(r * nb + b) * QK + t];
                }
                d[pb * PANEL + rr] = scales[r * nb + b];
            }
        }
        Panels { rows, cols, codes: Codes::Q8(codes), d, m: Vec::new(), transposed: Default::default() }
    }

    /// Wᵀ (cols × rows) as 8-bit panels: the exactly decoded weights, transposed and quantized per block
    /// of 32 along W's rows (Q8_0: d = max|w|/127, q = round(w/d), halves away from zero). The frozen
    /// weights are transposed once, on first use, and kept (SmolLM2-135M: ≈ 120 MB beside ≈ 70 MB of
    /// 4-bit panels), so the 8-bit backward dX = dY·W is the forward's 8-bit product over Wᵀ.
    /// Needs rows to be a multiple of 32.
    pub fn transposed_q8(&self) -> &Panels {
        self.transposed.get_or_init(|| {
            let (n, k) = (self.rows, self.cols);
            assert!(n.is_multiple_of(QK), "transposed_q8: {n} rows are not whole blocks of {QK}");
            let mut w = vec![0f32; n * k];
            w.par_chunks_mut(k).enumerate().for_each(|(r, o)| self.dequant_row(r, o));
            let nbt = n / QK;
            let mut qs = vec![0i8; k * n];
            let mut scales = vec![0f32; k * nbt];
            qs.par_chunks_mut(n).zip(scales.par_chunks_mut(nbt)).enumerate().for_each(|(c, (q, sc))| {
                for (b, (qb, d)) in q.chunks_exact_mut(QK).zip(sc.iter_mut()).enumerate() {
                    let col = |t: usize| w[(b * QK + t) * k + c];
                    let amax = (0..QK).fold(0f32, |a, t| a.max(col(t).abs()));
                    *d = amax / 127.0;
                    let id = if amax > 0.0 { 127.0 / amax } else { 0.0 };
                    for (t, o) in qb.iter_mut().enumerate() {
                        *o = (col(t) * id).round() as i8;
                    }
                }
            });
            Box::new(Panels::from_q8(k, n, &qs, &scales))
        })
    }

    /// Writes row `r` dequantized into `out` (`cols` values).
    pub fn dequant_row(&self, r: usize, out: &mut [f32]) {
        let nb = self.cols / QK;
        let (p, rr) = (r / PANEL, r % PANEL);
        for (b, o) in out[..self.cols].chunks_exact_mut(QK).enumerate() {
            let pb = p * nb + b;
            let d = self.d[pb * PANEL + rr];
            match &self.codes {
                Codes::Q4(c) => {
                    let mn = self.m[pb * PANEL + rr];
                    for t in 0..16 {
                        let byte = c[q4_index(pb, rr, t)];
                        // The same single rounding as the vector kernel's fused multiply-add.
                        o[t] = ((byte & 0xF) as f32).mul_add(d, mn);
                        o[t + 16] = ((byte >> 4) as f32).mul_add(d, mn);
                    }
                }
                Codes::Q8(c) => {
                    for t in 0..QK {
                        o[t] = c[q8_index(pb, rr, t)] as f32 * d;
                    }
                }
            }
        }
    }

    /// out[m × rows] = x[m × cols] · Wᵀ, exact in f32. Few rows (decode): the panel kernel decodes the
    /// weights in registers. Many rows (prefill, from `dequant_min_rows()`): each panel is decoded once
    /// into f32 (the same values: x = q·d + m, one rounding) and multiplied with a whole chunk of rows,
    /// so decoding costs 1/chunk of the products instead of 1/tile — what makes AVX2, whose tiles hold
    /// only 4 rows, compute-bound.
    pub fn matmul(&self, x: &[f32], m: usize, out: &mut [f32]) {
        let (n, k) = (self.rows, self.cols);
        assert!(x.len() >= m * k && out.len() >= m * n && k % QK == 0, "matmul: bad shapes");
        let optr = SyncPtr(out.as_mut_ptr());
        let optr = &optr;
        if m >= dequant_min_rows() {
            let tile = f32_dense_tile_rows();
            return self.for_blocks(m, DEQUANT_ROW_CHUNK, |p, r0, r1| {
                DEQUANT_SCRATCH.with_borrow_mut(|w| {
                    w.resize(k * PANEL, 0.0);
                    self.dequant_panel(p, w);
                    let valid = PANEL.min(n - p * PANEL);
                    for (i0, t) in tiles(r0, r1, tile) {
                        // SAFETY: w holds k × 16 values; x rows i0..i0 + t exist (asserted); this task
                        // alone writes rows r0..r1 × this panel's columns of out.
                        unsafe {
                            let ft = F32Tile {
                                d: w.as_ptr(),
                                nb: k,
                                x: x.as_ptr().add(i0 * k),
                                k,
                                out: optr.0.add(i0 * n + p * PANEL),
                                ld: n,
                                valid,
                            };
                            f32_panel_tile(&ft, t);
                        }
                    }
                })
            });
        }
        let tile = f32_tile_rows();
        self.for_blocks(m, ROW_CHUNK, |p, r0, r1| {
            for (i0, t) in tiles(r0, r1, tile) {
                // SAFETY: x and the panel data are in bounds by the assert above and the layout; this
                // task alone writes these rows × this panel's columns.
                unsafe { self.panel_tile(p, &x[i0 * k..], t, optr.0.add(i0 * n + p * PANEL), n) }
            }
        });
    }

    /// out[m × rows] ≈ x[m × cols] · Wᵀ with the activations quantized to 8 bits (`int8.rs`).
    pub fn matmul_int8(&self, x: &[f32], m: usize, out: &mut [f32]) {
        let k = self.cols;
        assert!(x.len() >= m * k && k.is_multiple_of(QK), "matmul: bad shapes");
        let xq = int8::quantize_rows(x, m, k);
        self.matmul_int8_part(&xq, m, 0..self.rows, 0..k / QK, out, false);
    }

    /// out[m × |rows|] ≈ xq · W[rows, 32·blocks]ᵀ (+= with `accumulate`): the 8-bit product over a part
    /// of W — weight rows `rows` (starting on a panel) and the blocks of 32 columns `blocks` — with
    /// activation rows already quantized (`int8::quantize_rows`) over exactly those columns. The fused
    /// cross-entropy goes over the head by chunks of rows (logits) and of columns of Wᵀ (its input
    /// gradient).
    pub fn matmul_int8_part(
        &self,
        xq: &int8::QuantRows,
        m: usize,
        rows: std::ops::Range<usize>,
        blocks: std::ops::Range<usize>,
        out: &mut [f32],
        accumulate: bool,
    ) {
        let nb = self.cols / QK;
        let (n, nbx) = (rows.len(), blocks.len());
        let k = nbx * QK;
        assert!(
            rows.start.is_multiple_of(PANEL)
                && rows.end <= self.rows
                && blocks.end <= nb
                && xq.q.len() >= m * k
                && xq.d.len() >= m * nbx
                && out.len() >= m * n,
            "matmul_int8_part: bad shapes"
        );
        let q4 = matches!(self.codes, Codes::Q4(_));
        let codes: &[u8] = match &self.codes {
            Codes::Q4(c) => c,
            // SAFETY: i8 and u8 have the same size and alignment.
            Codes::Q8(c) => unsafe { std::slice::from_raw_parts(c.as_ptr() as *const u8, c.len()) },
        };
        let block_bytes = if q4 { 16 * PANEL } else { QK * PANEL };
        let panel_bytes = nb * block_bytes;
        let optr = SyncPtr(out.as_mut_ptr());
        let optr = &optr;
        let tile = int8::tile_rows();
        let p0 = rows.start / PANEL;
        self.for_panels(p0..rows.end.div_ceil(PANEL), m, ROW_CHUNK, |p, r0, r1| {
            let valid = PANEL.min(rows.end - p * PANEL);
            for (i0, t) in tiles(r0, r1, tile) {
                // SAFETY: the pointers cover this panel's blocks and the tile's rows (layout, shapes
                // asserted); Q8 panels have no offsets and their kernel does not read `mn`; this task
                // alone writes these cells.
                unsafe {
                    let pb = p * nb + blocks.start;
                    let d = self.d.as_ptr().add(pb * PANEL);
                    let mn = if q4 { self.m.as_ptr().add(pb * PANEL) } else { d };
                    let o = optr.0.add(i0 * n + (p - p0) * PANEL);
                    let codes = codes.as_ptr().add(p * panel_bytes + blocks.start * block_bytes);
                    let tl = int8::Tile { codes, d, mn, nb: nbx, k, out: o, ld: n, valid, accumulate };
                    int8::panel_tile(&tl, q4, xq.q.as_ptr().add(i0 * k), xq.d.as_ptr().add(i0 * nbx), xq.s.as_ptr().add(i0 * nbx), t)
                }
            }
        });
    }

    /// Runs `f(panel, r0, r1)` for every (chunk of up to `chunk` activation rows r0..r1, panel), in
    /// parallel. A task takes one chunk and a run of panels and goes panel by panel, so the panel stays
    /// in L1 while the chunk's rows (in L2) go past it; with few rows (decode) there is one chunk and
    /// the panels are split finely enough to keep every core busy.
    fn for_blocks(&self, m: usize, chunk: usize, f: impl Fn(usize, usize, usize) + Sync) {
        self.for_panels(0..self.n_panels(), m, chunk, f)
    }

    /// `for_blocks` over the panels `panels` only.
    fn for_panels(&self, panels: std::ops::Range<usize>, m: usize, chunk: usize, f: impl Fn(usize, usize, usize) + Sync) {
        let (first, np) = (panels.start, panels.len());
        if np == 0 || m == 0 {
            return;
        }
        let chunks = m.div_ceil(chunk);
        let want = 8 * rayon::current_num_threads();
        let run = np.div_ceil(want.div_ceil(chunks).clamp(1, np));
        let runs = np.div_ceil(run);
        (0..chunks * runs).into_par_iter().for_each(|task| {
            let (ci, ri) = (task / runs, task % runs);
            let r0 = ci * chunk;
            for p in ri * run..((ri + 1) * run).min(np) {
                f(first + p, r0, (r0 + chunk).min(m));
            }
        });
    }

    /// Panel `p` decoded into `w` as k columns of 16 rows (column-major: w[c·16 + r]).
    fn dequant_panel(&self, p: usize, w: &mut [f32]) {
        let nb = self.cols / QK;
        // SAFETY: the panel's codes, scales and offsets lie at these offsets (layout); w holds k × 16.
        unsafe {
            let d = self.d.as_ptr().add(p * nb * PANEL);
            match &self.codes {
                Codes::Q4(c) => dequant_q4_panel(c.as_ptr().add(p * nb * 16 * PANEL), d, self.m.as_ptr().add(p * nb * PANEL), nb, w),
                Codes::Q8(c) => dequant_q8_panel(c.as_ptr().add(p * nb * QK * PANEL), d, nb, w),
            }
        }
    }

    /// Panel `p` against `t` activation rows starting at `x`; writes out[i·ld + 0..valid].
    unsafe fn panel_tile(&self, p: usize, x: &[f32], t: usize, out: *mut f32, ld: usize) {
        let nb = self.cols / QK;
        let d = self.d.as_ptr().add(p * nb * PANEL);
        let tile = F32Tile { d, nb, x: x.as_ptr(), k: self.cols, out, ld, valid: PANEL.min(self.rows - p * PANEL) };
        match &self.codes {
            Codes::Q4(c) => q4_tile(&tile, c.as_ptr().add(p * nb * 16 * PANEL), self.m.as_ptr().add(p * nb * PANEL), t),
            Codes::Q8(c) => q8_tile(&tile, c.as_ptr().add(p * nb * QK * PANEL), t),
        }
    }
}

/// Calls `$f::<S, t>(args)` for the tile height `t` (a constant for the register arrays).
macro_rules! by_height {
    ($t:expr, $f:ident::<$s:ty>($($a:expr),*)) => {
        match $t {
            1 => $f::<$s, 1>($($a),*), 2 => $f::<$s, 2>($($a),*), 3 => $f::<$s, 3>($($a),*),
            4 => $f::<$s, 4>($($a),*), 5 => $f::<$s, 5>($($a),*), 6 => $f::<$s, 6>($($a),*),
            7 => $f::<$s, 7>($($a),*), 8 => $f::<$s, 8>($($a),*), 9 => $f::<$s, 9>($($a),*),
            10 => $f::<$s, 10>($($a),*), 11 => $f::<$s, 11>($($a),*), 12 => $f::<$s, 12>($($a),*),
            13 => $f::<$s, 13>($($a),*), 14 => $f::<$s, 14>($($a),*), 15 => $f::<$s, 15>($($a),*),
            _ => $f::<$s, 16>($($a),*),
        }
    };
}

simd_fn! {
    /// From this many activation rows on, exact quantized products decode each panel once per chunk of
    /// rows (`S::DEQUANT_MIN_ROWS`).
    fn dequant_min_rows() -> usize => dequant_min_rows_k
}

#[inline(always)]
unsafe fn dequant_min_rows_k<S: Simd>() -> usize {
    S::DEQUANT_MIN_ROWS
}
/// Activation rows per task of the decode-once product.
const DEQUANT_ROW_CHUNK: usize = 96;
/// Activation rows per task of the in-register product (more rows make one chunk per tile group).
const ROW_CHUNK: usize = 64;

/// The tiles (first row, rows) of up to `tile` rows that cover r0..r1.
fn tiles(r0: usize, r1: usize, tile: usize) -> impl Iterator<Item = (usize, usize)> {
    (r0..r1).step_by(tile).map(move |i0| (i0, tile.min(r1 - i0)))
}

thread_local! {
    /// A task's decoded panel (k × 16 f32), reused across tasks of the same thread.
    static DEQUANT_SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

simd_fn! {
    unsafe fn dequant_q4_panel(codes: *const u8, d: *const f32, mn: *const f32, nb: usize, w: &mut [f32]) => dequant_q4_panel_k
}

#[inline(always)]
unsafe fn dequant_q4_panel_k<S: Simd>(codes: *const u8, d: *const f32, mn: *const f32, nb: usize, w: &mut [f32]) {
    assert!(w.len() >= nb * QK * PANEL);
    let o = w.as_mut_ptr();
    for b in 0..nb {
        let dv = S::load(d.add(b * PANEL));
        let mv = S::load(mn.add(b * PANEL));
        for g in 0..4 {
            let v = S::loadq(codes.add((b * 4 + g) * 64));
            for j in 0..4 {
                S::store(o.add((b * QK + 4 * g + j) * PANEL), S::fma(S::nibble(v, 8 * j as u32), dv, mv));
                S::store(o.add((b * QK + 16 + 4 * g + j) * PANEL), S::fma(S::nibble(v, 8 * j as u32 + 4), dv, mv));
            }
        }
    }
}

simd_fn! {
    unsafe fn dequant_q8_panel(codes: *const i8, d: *const f32, nb: usize, w: &mut [f32]) => dequant_q8_panel_k
}

#[inline(always)]
unsafe fn dequant_q8_panel_k<S: Simd>(codes: *const i8, d: *const f32, nb: usize, w: &mut [f32]) {
    assert!(w.len() >= nb * QK * PANEL);
    let o = w.as_mut_ptr();
    for b in 0..nb {
        let dv = S::load(d.add(b * PANEL));
        for g in 0..8 {
            let v = S::loadq(codes.add((b * 8 + g) * 64) as *const u8);
            for j in 0..4 {
                S::store(o.add((b * QK + 4 * g + j) * PANEL), S::mul(S::sbyte(v, j as u32), dv));
            }
        }
    }
}

simd_fn! {
    /// Activation rows per tile of the kernel over decoded panels on the current ISA.
    fn f32_dense_tile_rows() -> usize => dense_tile_rows_k
}

#[inline(always)]
unsafe fn dense_tile_rows_k<S: Simd>() -> usize {
    S::TILE_F32
}

simd_fn! {
    /// A decoded panel (`tile.d` holds k columns of 16 f32, `tile.nb` = k) against `t` activation rows.
    unsafe fn f32_panel_tile(tile: &F32Tile, t: usize) => f32_panel_tile_k
}

#[inline(always)]
unsafe fn f32_panel_tile_k<S: Simd>(tile: &F32Tile, t: usize) {
    by_height!(t, f32_panel::<S>(tile))
}

#[inline(always)]
unsafe fn f32_panel<S: Simd, const T: usize>(tile: &F32Tile) {
    if T > S::TILE_F32 {
        return;
    }
    let (x, k, w) = (tile.x, tile.k, tile.d);
    let na = S::chains(T);
    let mut acc = [[S::zero(); 4]; T];
    let mut c = 0;
    while c + 4 <= k {
        // Four columns per step, unrolled so accumulator indices are constants.
        macro_rules! column {
            ($j:literal) => {{
                let wv = S::load(w.add((c + $j) * PANEL));
                for (i, a) in acc.iter_mut().enumerate() {
                    a[$j % na] = S::fma(S::splat(*x.add(i * k + c + $j)), wv, a[$j % na]);
                }
            }};
        }
        column!(0);
        column!(1);
        column!(2);
        column!(3);
        c += 4;
    }
    while c < k {
        let wv = S::load(w.add(c * PANEL));
        for (i, a) in acc.iter_mut().enumerate() {
            a[0] = S::fma(S::splat(*x.add(i * k + c)), wv, a[0]);
        }
        c += 1;
    }
    for (i, a) in acc.iter().enumerate() {
        store_row::<S>(a, na, tile.out.add(i * tile.ld), tile.valid);
    }
}

/// One panel's part of an f32 product: its scales `d` (16 per block), `nb` blocks, the activation rows
/// `x` (row stride `k`), and where the 16 (`valid` of them) outputs of each row go (row stride `ld`).
struct F32Tile {
    d: *const f32,
    nb: usize,
    x: *const f32,
    k: usize,
    out: *mut f32,
    ld: usize,
    valid: usize,
}

simd_fn! {
    /// Activation rows per tile of the f32 panel kernel on the current ISA.
    fn f32_tile_rows() -> usize => tile_rows_k
}

#[inline(always)]
unsafe fn tile_rows_k<S: Simd>() -> usize {
    S::TILE
}

simd_fn! {
    unsafe fn q4_tile(tile: &F32Tile, codes: *const u8, mn: *const f32, t: usize) => q4_tile_k
}

#[inline(always)]
unsafe fn q4_tile_k<S: Simd>(tile: &F32Tile, codes: *const u8, mn: *const f32, t: usize) {
    debug_assert!(t <= S::TILE);
    by_height!(t, q4_panel::<S>(tile, codes, mn))
}

simd_fn! {
    unsafe fn q8_tile(tile: &F32Tile, codes: *const i8, t: usize) => q8_tile_k
}

#[inline(always)]
unsafe fn q8_tile_k<S: Simd>(tile: &F32Tile, codes: *const i8, t: usize) {
    by_height!(t, q8_panel::<S>(tile, codes))
}

/// Sums a row's accumulators and stores its 16 outputs (fewer for the last, partial panel).
#[inline(always)]
unsafe fn store_row<S: Simd>(acc: &[S::V; 4], na: usize, o: *mut f32, valid: usize) {
    let mut s = acc[0];
    for a in &acc[1..na] {
        s = S::add(s, *a);
    }
    if valid == PANEL {
        S::store(o, s);
    } else {
        S::store_n(o, valid, s);
    }
}

#[inline(always)]
unsafe fn q4_panel<S: Simd, const T: usize>(tile: &F32Tile, codes: *const u8, mn: *const f32) {
    if T > S::TILE {
        return;
    }
    let (x, k) = (tile.x, tile.k);
    let na = S::chains(T);
    let mut acc = [[S::zero(); 4]; T];
    for b in 0..tile.nb {
        let dv = S::load(tile.d.add(b * PANEL));
        let mv = S::load(mn.add(b * PANEL));
        for g in 0..4 {
            let v = S::loadq(codes.add((b * 4 + g) * 64));
            // Byte j of each lane: columns 4g + j (low nibble) and 16 + 4g + j (high nibble). The j loop
            // is unrolled, so every accumulator index is a compile-time constant (a run-time index
            // would put the accumulators on the stack).
            macro_rules! column_pair {
                ($j:literal) => {{
                    let wl = S::fma(S::nibble(v, 8 * $j), dv, mv);
                    let wh = S::fma(S::nibble(v, 8 * $j + 4), dv, mv);
                    let (cl, ch) = (b * QK + 4 * g + $j, b * QK + 16 + 4 * g + $j);
                    for (i, a) in acc.iter_mut().enumerate() {
                        let xi = x.add(i * k);
                        a[(2 * $j) % na] = S::fma(S::splat(*xi.add(cl)), wl, a[(2 * $j) % na]);
                        a[(2 * $j + 1) % na] = S::fma(S::splat(*xi.add(ch)), wh, a[(2 * $j + 1) % na]);
                    }
                }};
            }
            column_pair!(0);
            column_pair!(1);
            column_pair!(2);
            column_pair!(3);
        }
    }
    for (i, a) in acc.iter().enumerate() {
        store_row::<S>(a, na, tile.out.add(i * tile.ld), tile.valid);
    }
}

#[inline(always)]
unsafe fn q8_panel<S: Simd, const T: usize>(tile: &F32Tile, codes: *const i8) {
    if T > S::TILE {
        return;
    }
    let (x, k) = (tile.x, tile.k);
    let na = S::chains(T);
    let mut acc = [[S::zero(); 4]; T];
    for b in 0..tile.nb {
        let dv = S::load(tile.d.add(b * PANEL));
        for g in 0..8 {
            let v = S::loadq(codes.add((b * 8 + g) * 64) as *const u8);
            // Column 4g + j is the signed byte j of each lane. Unrolled for constant accumulator indices.
            macro_rules! column {
                ($j:literal) => {{
                    let w = S::mul(S::sbyte(v, $j), dv);
                    let c = b * QK + 4 * g + $j;
                    for (i, a) in acc.iter_mut().enumerate() {
                        a[$j % na] = S::fma(S::splat(*x.add(i * k + c)), w, a[$j % na]);
                    }
                }};
            }
            column!(0);
            column!(1);
            column!(2);
            column!(3);
        }
    }
    for (i, a) in acc.iter().enumerate() {
        store_row::<S>(a, na, tile.out.add(i * tile.ld), tile.valid);
    }
}
