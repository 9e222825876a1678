//! Quantized weights interleaved in panels of 16 rows, and the product x·Wᵀ over them.
//!
//! Why panels (measured with kernel/examples/matmul_probe.rs, README "Speed"): with weights kept row by
//! row, a dot-product kernel loads one activation vector per FMA and needs a horizontal sum per output,
//! so at 16 activation rows it was bound by loads (≈ 20 GMAC/s per core of a possible ≈ 67). Here the 16
//! lanes of a vector are 16 consecutive weight rows: a weight vector is decoded once (x = q·d + m, in
//! registers, exact in f32) and multiplied with a broadcast activation value for every activation row,
//! and 16 outputs are stored at once. The same kernel serves decode (1–16 rows) and prefill (tiles of 16).
//!
//! Layout. Q4: for panel p and block b (32 columns), 16 "byte columns" t = 0..16, each holding for the
//! 16 rows the original block byte t (low nibble = column t, high nibble = column t + 16); then per
//! (panel, block) the 16 scales d and 16 offsets m. Q8: per (panel, block) 32 columns × 16 rows of
//! signed bytes and the 16 scales. Rows past the end of the matrix are zero padding.
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::simd;
use super::SyncPtr;
use crate::formats::quant::QK;
use rayon::prelude::*;

/// Rows per panel: the f32 lanes of one AVX-512 vector.
pub const PANEL: usize = 16;
/// Activation rows per tile (one accumulator vector per row).
const TILE: usize = 16;

pub enum Codes {
    Q4(Vec<u8>),
    Q8(Vec<i8>),
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
                    codes[(pb * 16 + t) * PANEL + rr] = qs[(r * nb + b) * 16 + t];
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
        let mut d = vec![0f32; np * nb * PANEL];
        for r in 0..rows {
            let (p, rr) = (r / PANEL, r % PANEL);
            for b in 0..nb {
                let pb = p * nb + b;
                for t in 0..QK {
                    codes[(pb * QK + t) * PANEL + rr] = qs[(r * nb + b) * QK + t];
                }
                d[pb * PANEL + rr] = scales[r * nb + b];
            }
        }
        Panels { rows, cols, codes: Codes::Q8(codes), d, m: Vec::new() }
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
                        let byte = c[(pb * 16 + t) * PANEL + rr];
                        // The same single rounding as the vector kernel's fused multiply-add.
                        o[t] = ((byte & 0xF) as f32).mul_add(d, mn);
                        o[t + 16] = ((byte >> 4) as f32).mul_add(d, mn);
                    }
                }
                Codes::Q8(c) => {
                    for t in 0..QK {
                        o[t] = c[(pb * QK + t) * PANEL + rr] as f32 * d;
                    }
                }
            }
        }
    }

    /// out[m × rows] = x[m × cols] · Wᵀ. Tasks take (tile of activation rows, run of panels), so a
    /// tile stays in L1 while the panels stream past it.
    pub fn matmul(&self, x: &[f32], m: usize, out: &mut [f32]) {
        let (n, k) = (self.rows, self.cols);
        assert!(x.len() >= m * k && out.len() >= m * n && k % QK == 0, "matmul: bad shapes");
        let np = self.n_panels();
        let tiles = m.div_ceil(TILE);
        let want = 8 * rayon::current_num_threads();
        let per_tile = want.div_ceil(tiles).clamp(1, np);
        let run = np.div_ceil(per_tile);
        let runs = np.div_ceil(run);
        let optr = SyncPtr(out.as_mut_ptr());
        (0..tiles * runs).into_par_iter().for_each(|task| {
            let optr = &optr;
            let (ti, ri) = (task / runs, task % runs);
            let (i0, t) = (ti * TILE, TILE.min(m - ti * TILE));
            for p in ri * run..((ri + 1) * run).min(np) {
                // SAFETY: each task writes only its tile's rows × its panels' columns; x and the panel
                // data are in bounds by the assert above and the layout.
                unsafe { self.panel_tile(p, &x[i0 * k..], t, optr.0.add(i0 * n + p * PANEL), n) };
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
        let cb = codes.add(b * 16 * PANEL);
        let xb = x.add(b * QK);
        // Two byte columns per step, so every accumulator index below is a compile-time constant
        // (a run-time index would put the accumulators on the stack).
        for t in (0..16).step_by(2) {
            let q0 = _mm512_cvtepu8_epi32(_mm_loadu_si128(cb.add(t * PANEL) as *const __m128i));
            let q1 = _mm512_cvtepu8_epi32(_mm_loadu_si128(cb.add((t + 1) * PANEL) as *const __m128i));
            let w = [
                _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_and_si512(q0, low)), dv, mv),
                _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32::<4>(q0)), dv, mv),
                _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_and_si512(q1, low)), dv, mv),
                _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32::<4>(q1)), dv, mv),
            ];
            // Columns t, t + 16, t + 1, t + 17 of the block.
            let cols = [t, t + 16, t + 1, t + 17];
            for (i, a) in acc.iter_mut().enumerate() {
                let xi = xb.add(i * k);
                for c in 0..4 {
                    a[c % na] = _mm512_fmadd_ps(_mm512_set1_ps(*xi.add(cols[c])), w[c], a[c % na]);
                }
            }
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
        let cb = codes.add(b * QK * PANEL);
        let xb = x.add(b * QK);
        // Four columns per step: constant accumulator indices (see q4_panel).
        for t in (0..QK).step_by(4) {
            let w: [__m512; 4] = std::array::from_fn(|c| {
                let q = _mm512_cvtepi8_epi32(_mm_loadu_si128(cb.add((t + c) * PANEL) as *const __m128i));
                _mm512_mul_ps(_mm512_cvtepi32_ps(q), dv)
            });
            for (i, a) in acc.iter_mut().enumerate() {
                for c in 0..4 {
                    a[c % na] = _mm512_fmadd_ps(_mm512_set1_ps(*xb.add(i * k + t + c)), w[c], a[c % na]);
                }
            }
        }
    }
    for (i, a) in acc.iter().enumerate() {
        store_row(a, na, out.add(i * ld), valid);
    }
}
