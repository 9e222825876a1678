//! Quantized weights interleaved in panels of 16 rows, and the product x·Wᵀ over them.
//!
//! Why panels (measured with kernel/examples/matmul_probe.rs, README "Speed"): with weights kept row by
//! row, a dot-product kernel loads one activation vector per FMA and needs a horizontal sum per output,
//! so at 16 activation rows it was bound by loads (≈ 20 GMAC/s per core of a possible ≈ 67). Here the 16
//! lanes of a vector are 16 consecutive weight rows: a weight vector is decoded once (x = q·d + m, in
//! registers, exact in f32) and multiplied with a broadcast activation value for every activation row,
//! and 16 outputs are stored at once. The same kernel serves decode (1–16 rows) and prefill (tiles of 16).
//!
//! Layout. Per (panel, block of 32 columns), groups of 64 bytes, each 16 rows × 4 bytes (row r's bytes at
//! 4r..4r+4, one 32-bit lane per row). Q4: 4 groups; group g holds the original block bytes 4g..4g+4 of
//! each row (low nibble = column 4g + j, high nibble = column 16 + 4g + j). Q8: 8 groups; group g holds
//! columns 4g..4g+4 as signed bytes. Then the 16 scales d and 16 offsets m of the (panel, block); for
//! Q8, m = −128·d serves the 8-bit-activation path (see `int8.rs`). Rows past the end are zero.
//! Four consecutive columns per 32-bit lane is what AVX512-VNNI multiplies; the f32 kernel takes the
//! columns out with shifts.
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::int8;
use super::simd;
use super::SyncPtr;
use crate::formats::quant::QK;
use rayon::prelude::*;

/// Rows per panel: the f32 lanes of one AVX-512 vector.
pub const PANEL: usize = 16;
/// Activation rows per tile (one accumulator vector per row).
const TILE: usize = 16;
/// Activation rows per tile on the 8-bit path (each row also holds integer partial sums).
const TILE_INT8: usize = 8;

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
        Panels { rows, cols, codes: Codes::Q4(codes), d, m }
    }

    /// From row-major 8-bit blocks: 32 signed bytes and one scale per block.
    pub fn from_q8(rows: usize, cols: usize, qs: &[i8], scales: &[f32]) -> Self {
        let nb = cols / QK;
        let np = rows.div_ceil(PANEL);
        let mut codes = vec![0i8; np * nb * QK * PANEL];
        let (mut d, mut m) = (vec![0f32; np * nb * PANEL], vec![0f32; np * nb * PANEL]);
        for r in 0..rows {
            let (p, rr) = (r / PANEL, r % PANEL);
            for b in 0..nb {
                let pb = p * nb + b;
                for t in 0..QK {
                    codes[q8_index(pb, rr, t)] = qs[(r * nb + b) * QK + t];
                }
                d[pb * PANEL + rr] = scales[r * nb + b];
                m[pb * PANEL + rr] = -128.0 * scales[r * nb + b];
            }
        }
        Panels { rows, cols, codes: Codes::Q8(codes), d, m }
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

    /// out[m × rows] = x[m × cols] · Wᵀ, exact in f32.
    pub fn matmul(&self, x: &[f32], m: usize, out: &mut [f32]) {
        let k = self.cols;
        assert!(x.len() >= m * k && out.len() >= m * self.rows && k % QK == 0, "matmul: bad shapes");
        // SAFETY: x and the panel data are in bounds by the assert above and the layout.
        self.for_tiles(m, TILE, out, |p, i0, t, o| unsafe { self.panel_tile(p, &x[i0 * k..], t, o, self.rows) });
    }

    /// out[m × rows] ≈ x[m × cols] · Wᵀ with the activations quantized to 8 bits (`int8.rs`); falls
    /// back to the exact product on CPUs without AVX512-VNNI.
    pub fn matmul_int8(&self, x: &[f32], m: usize, out: &mut [f32]) {
        let k = self.cols;
        assert!(x.len() >= m * k && out.len() >= m * self.rows && k % QK == 0, "matmul: bad shapes");
        if !int8::has_vnni() {
            return self.matmul(x, m, out);
        }
        #[cfg(target_arch = "x86_64")]
        {
            let q4 = matches!(self.codes, Codes::Q4(_));
            let xq = int8::quantize_rows(x, m, k);
            let nb = k / QK;
            let codes: &[u8] = match &self.codes {
                Codes::Q4(c) => c,
                // SAFETY: i8 and u8 have the same size and alignment.
                Codes::Q8(c) => unsafe { std::slice::from_raw_parts(c.as_ptr() as *const u8, c.len()) },
            };
            let panel_bytes = if q4 { nb * 16 * PANEL } else { nb * QK * PANEL };
            self.for_tiles(m, TILE_INT8, out, |p, i0, t, o| {
                let valid = PANEL.min(self.rows - p * PANEL);
                let (c, d, mn) = unsafe { (codes.as_ptr().add(p * panel_bytes), self.d.as_ptr().add(p * nb * PANEL), self.m.as_ptr().add(p * nb * PANEL)) };
                let (xq_, xd, xs) = unsafe { (xq.q.as_ptr().add(i0 * k), xq.d.as_ptr().add(i0 * nb), xq.s.as_ptr().add(i0 * nb)) };
                macro_rules! go {
                    ($($n:literal)*) => {
                        match (t, q4) {
                            $(($n, true) => int8::panel_tile::<$n, true>(c, d, mn, nb, xq_, xd, xs, k, o, self.rows, valid),
                              ($n, false) => int8::panel_tile::<$n, false>(c, d, mn, nb, xq_, xd, xs, k, o, self.rows, valid),)*
                            _ => unreachable!("tiles have 1..=8 rows"),
                        }
                    };
                }
                // SAFETY: VNNI checked above; the pointers cover this panel and tile (layout, shapes asserted).
                unsafe { go!(1 2 3 4 5 6 7 8) }
            });
        }
    }

    /// Runs `f(panel, first row, rows, out at (first row, panel's first column))` over every (tile of
    /// up to `tile` activation rows, panel), in parallel. Tasks take (tile, run of panels), so a tile
    /// stays in L1 while the panels stream past it.
    fn for_tiles(&self, m: usize, tile: usize, out: &mut [f32], f: impl Fn(usize, usize, usize, *mut f32) + Sync) {
        let n = self.rows;
        let np = self.n_panels();
        let tiles = m.div_ceil(tile);
        let want = 8 * rayon::current_num_threads();
        let per_tile = want.div_ceil(tiles).clamp(1, np);
        let run = np.div_ceil(per_tile);
        let runs = np.div_ceil(run);
        let optr = SyncPtr(out.as_mut_ptr());
        (0..tiles * runs).into_par_iter().for_each(|task| {
            let optr = &optr;
            let (ti, ri) = (task / runs, task % runs);
            let (i0, t) = (ti * tile, tile.min(m - ti * tile));
            for p in ri * run..((ri + 1) * run).min(np) {
                // SAFETY: each task writes only its tile's rows × its panels' columns of out (m × n).
                f(p, i0, t, unsafe { optr.0.add(i0 * n + p * PANEL) });
            }
        });
    }

    /// Panel `p` against `t` ≤ 16 activation rows starting at `x`; writes out[i·ld + 0..valid].
    unsafe fn panel_tile(&self, p: usize, x: &[f32], t: usize, out: *mut f32, ld: usize) {
        let k = self.cols;
        let nb = k / QK;
        let valid = PANEL.min(self.rows - p * PANEL);
        #[cfg(target_arch = "x86_64")]
        if simd::has_avx512() {
            let d = self.d.as_ptr().add(p * nb * PANEL);
            macro_rules! dispatch {
                ($f:ident, $codes:expr, $($extra:expr),*) => {
                    match t {
                        1 => $f::<1>($codes, d, $($extra,)* nb, x.as_ptr(), k, out, ld, valid),
                        2 => $f::<2>($codes, d, $($extra,)* nb, x.as_ptr(), k, out, ld, valid),
                        3 => $f::<3>($codes, d, $($extra,)* nb, x.as_ptr(), k, out, ld, valid),
                        4 => $f::<4>($codes, d, $($extra,)* nb, x.as_ptr(), k, out, ld, valid),
                        5 => $f::<5>($codes, d, $($extra,)* nb, x.as_ptr(), k, out, ld, valid),
                        6 => $f::<6>($codes, d, $($extra,)* nb, x.as_ptr(), k, out, ld, valid),
                        7 => $f::<7>($codes, d, $($extra,)* nb, x.as_ptr(), k, out, ld, valid),
                        8 => $f::<8>($codes, d, $($extra,)* nb, x.as_ptr(), k, out, ld, valid),
                        9 => $f::<9>($codes, d, $($extra,)* nb, x.as_ptr(), k, out, ld, valid),
                        10 => $f::<10>($codes, d, $($extra,)* nb, x.as_ptr(), k, out, ld, valid),
                        11 => $f::<11>($codes, d, $($extra,)* nb, x.as_ptr(), k, out, ld, valid),
                        12 => $f::<12>($codes, d, $($extra,)* nb, x.as_ptr(), k, out, ld, valid),
                        13 => $f::<13>($codes, d, $($extra,)* nb, x.as_ptr(), k, out, ld, valid),
                        14 => $f::<14>($codes, d, $($extra,)* nb, x.as_ptr(), k, out, ld, valid),
                        15 => $f::<15>($codes, d, $($extra,)* nb, x.as_ptr(), k, out, ld, valid),
                        _ => $f::<16>($codes, d, $($extra,)* nb, x.as_ptr(), k, out, ld, valid),
                    }
                };
            }
            match &self.codes {
                Codes::Q4(c) => dispatch!(q4_panel, c.as_ptr().add(p * nb * 16 * PANEL), self.m.as_ptr().add(p * nb * PANEL)),
                Codes::Q8(c) => dispatch!(q8_panel, c.as_ptr().add(p * nb * QK * PANEL),),
            }
            return;
        }
        let mut w = vec![0f32; k];
        for r in 0..valid {
            self.dequant_row(p * PANEL + r, &mut w);
            for i in 0..t {
                *out.add(i * ld + r) = simd::dot(&w, &x[i * k..(i + 1) * k]);
            }
        }
    }
}

/// Accumulators per activation row: enough independent FMA chains to cover the FMA latency
/// (≈ 4 cycles, 2 per cycle) when the tile is short, one when it is long (registers run out).
#[cfg(target_arch = "x86_64")]
const fn chains(t: usize) -> usize {
    if t >= 8 {
        1
    } else if t >= 4 {
        2
    } else {
        4
    }
}

/// Sums a row's accumulators and stores its 16 outputs (fewer for the last, partial panel).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn store_row(acc: &[__m512; 4], na: usize, o: *mut f32, valid: usize) {
    let mut s = acc[0];
    for a in &acc[1..na] {
        s = _mm512_add_ps(s, *a);
    }
    if valid == PANEL {
        _mm512_storeu_ps(o, s);
    } else {
        _mm512_mask_storeu_ps(o, ((1u32 << valid) - 1) as __mmask16, s);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn q4_panel<const T: usize>(
    codes: *const u8,
    d: *const f32,
    mn: *const f32,
    nb: usize,
    x: *const f32,
    k: usize,
    out: *mut f32,
    ld: usize,
    valid: usize,
) {
    let na = chains(T);
    let z = _mm512_setzero_ps();
    let mut acc = [[z; 4]; T];
    let low = _mm512_set1_epi32(0xF);
    for b in 0..nb {
        let dv = _mm512_loadu_ps(d.add(b * PANEL));
        let mv = _mm512_loadu_ps(mn.add(b * PANEL));
        for g in 0..4 {
            let v = _mm512_loadu_si512(codes.add((b * 4 + g) * 64) as *const _);
            // Byte j of each lane: columns 4g + j (low nibble) and 16 + 4g + j (high nibble). The j loop
            // is unrolled, so every accumulator index is a compile-time constant (a run-time index
            // would put the accumulators on the stack).
            macro_rules! column_pair {
                ($j:literal) => {{
                    let wl = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32::<{ 8 * $j }>(v), low)), dv, mv);
                    let wh = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32::<{ 8 * $j + 4 }>(v), low)), dv, mv);
                    let (cl, ch) = (b * QK + 4 * g + $j, b * QK + 16 + 4 * g + $j);
                    for (i, a) in acc.iter_mut().enumerate() {
                        let xi = x.add(i * k);
                        a[(2 * $j) % na] = _mm512_fmadd_ps(_mm512_set1_ps(*xi.add(cl)), wl, a[(2 * $j) % na]);
                        a[(2 * $j + 1) % na] = _mm512_fmadd_ps(_mm512_set1_ps(*xi.add(ch)), wh, a[(2 * $j + 1) % na]);
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
        store_row(a, na, out.add(i * ld), valid);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn q8_panel<const T: usize>(
    codes: *const i8,
    d: *const f32,
    nb: usize,
    x: *const f32,
    k: usize,
    out: *mut f32,
    ld: usize,
    valid: usize,
) {
    let na = chains(T);
    let z = _mm512_setzero_ps();
    let mut acc = [[z; 4]; T];
    for b in 0..nb {
        let dv = _mm512_loadu_ps(d.add(b * PANEL));
        for g in 0..8 {
            let v = _mm512_loadu_si512(codes.add((b * 8 + g) * 64) as *const _);
            // Column 4g + j is byte j of each lane: shift it to the top, then arithmetic-shift down
            // (sign extension). Unrolled for constant accumulator indices.
            macro_rules! column {
                ($j:literal) => {{
                    let q = _mm512_srai_epi32::<24>(_mm512_slli_epi32::<{ 24 - 8 * $j }>(v));
                    let w = _mm512_mul_ps(_mm512_cvtepi32_ps(q), dv);
                    let c = b * QK + 4 * g + $j;
                    for (i, a) in acc.iter_mut().enumerate() {
                        a[$j % na] = _mm512_fmadd_ps(_mm512_set1_ps(*x.add(i * k + c)), w, a[$j % na]);
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
        store_row(a, na, out.add(i * ld), valid);
    }
}
