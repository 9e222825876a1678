//! The 8-bit-activation path (opt-in: `Numerics::Int8`). As llama.cpp does, each activation row is
//! quantized per block of 32 to signed bytes with one scale (its Q8_1: d = max|x|/127, q = round(x/d)),
//! and weight × activation products run in integers: four u8×i8 products per 32-bit lane and
//! instruction (AVX512-VNNI / AVX-VNNI `vpdpbusd`, AVX2 `vpmaddubsw`+`vpmaddwd`, NEON `sdot`; see the
//! SIMD layer). Per (weight row, activation row, block):
//!
//!   Σ w·x ≈ d_w·d_x·Σ q_w·q_x + m_w·s_x,   s_x = d_x·Σ q_x
//!
//! Q4 weights (w = q_w·d_w + m_w, q_w in 0..15) are unsigned; Q8 weights are signed and, where the ISA
//! multiplies unsigned by signed bytes (VNNI), offset by Q8_BIAS = 128, which an m_w = −128·d_w takes
//! back out. The result is approximate (the activations are rounded):
//! kernel/tests/smollm2_teacher_forced.rs measures it against PyTorch and llama.cpp.
use super::simd::Simd;
use crate::formats::quant::QK;
use crate::simd_fn;

/// Activation rows quantized per block of 32: bytes row-major, and per (row, block) the scale d and the
/// offset term's s.
pub struct QuantRows {
    pub q: Vec<i8>,
    pub d: Vec<f32>,
    pub s: Vec<f32>,
}

/// Quantizes `m` rows of `k` values. The scales stay in f32 (llama.cpp rounds d and s to f16; f32
/// measured closer to both references: top-1 0.978 against PyTorch instead of 0.974).
pub fn quantize_rows(x: &[f32], m: usize, k: usize) -> QuantRows {
    use rayon::prelude::*;
    let nb = k / QK;
    let mut q = vec![0i8; m * k];
    let (mut d, mut s) = (vec![0f32; m * nb], vec![0f32; m * nb]);
    // Rows in parallel only when there are many (prefill); a few rows take microseconds.
    let rows_per_task = if m >= 64 { 16 } else { m.max(1) };
    q.par_chunks_mut(rows_per_task * k)
        .zip(d.par_chunks_mut(rows_per_task * nb).zip(s.par_chunks_mut(rows_per_task * nb)))
        .enumerate()
        .for_each(|(c, (qc, (dc, sc)))| quantize_run(&x[c * rows_per_task * k..][..qc.len()], qc, dc, sc));
    QuantRows { q, d, s }
}

simd_fn! {
    /// Quantizes whole blocks of 32: x → q, and per block d and s = d·Σq.
    fn quantize_run(x: &[f32], q: &mut [i8], d: &mut [f32], s: &mut [f32]) => quantize_run_k
}

#[inline(always)]
unsafe fn quantize_run_k<S: Simd>(x: &[f32], q: &mut [i8], d: &mut [f32], s: &mut [f32]) {
    for (bi, (xb, qb)) in x.chunks_exact(QK).zip(q.chunks_exact_mut(QK)).enumerate() {
        let (dd, sum) = quantize_block::<S>(xb, qb);
        d[bi] = dd;
        s[bi] = dd * sum as f32;
    }
}

/// One block: q = round(x/d) with d = max|x|/127 (halves rounded away from zero, as C's roundf in
/// llama.cpp); returns (d, Σq).
#[inline(always)]
unsafe fn quantize_block<S: Simd>(xb: &[f32], qb: &mut [i8]) -> (f32, i32) {
    assert!(xb.len() == QK && qb.len() == QK);
    let (v0, v1) = (S::load(xb.as_ptr()), S::load(xb.as_ptr().add(16)));
    let amax = S::reduce_max(S::max(S::abs(v0), S::abs(v1)));
    let dd = amax / 127.0;
    let id = S::splat(if dd > 0.0 { 1.0 / dd } else { 0.0 });
    let (r0, r1) = (S::round_away(S::mul(v0, id)), S::round_away(S::mul(v1, id)));
    S::store_i8(qb.as_mut_ptr(), r0);
    S::store_i8(qb.as_mut_ptr().add(16), r1);
    // The lanes are integers of at most 127: their f32 sum is exact.
    (dd, S::reduce_add(S::add(r0, r1)) as i32)
}

/// One 16-row panel's part of an 8-bit product: weight codes, scales `d` and offsets `mn` (16 per block,
/// Q4 only), `nb` blocks, activation row stride `k`, and where the `valid` outputs of each row go.
pub struct Tile {
    pub codes: *const u8,
    pub d: *const f32,
    pub mn: *const f32,
    pub nb: usize,
    pub k: usize,
    pub out: *mut f32,
    pub ld: usize,
    pub valid: usize,
    /// Add into `out` instead of overwriting it.
    pub accumulate: bool,
}

simd_fn! {
    [int]
    /// Activation rows per tile of the 8-bit kernel on the current ISA.
    pub fn tile_rows() -> usize => tile_rows_k
}

#[inline(always)]
unsafe fn tile_rows_k<S: Simd>() -> usize {
    S::TILE_INT8
}

simd_fn! {
    [int]
    /// One panel against `t` ≤ `tile_rows()` quantized activation rows (bytes `xq`, row stride `k`;
    /// `xd`/`xs` with row stride `nb`); `q4` picks the weight encoding (nibbles or signed bytes).
    ///
    /// # Safety
    /// The pointers must cover `nb` blocks of the panel and of each of the `t` rows, and `out` the cells
    /// written.
    pub unsafe fn panel_tile(tile: &Tile, q4: bool, xq: *const i8, xd: *const f32, xs: *const f32, t: usize) => panel_tile_k
}

#[inline(always)]
unsafe fn panel_tile_k<S: Simd>(tile: &Tile, q4: bool, xq: *const i8, xd: *const f32, xs: *const f32, t: usize) {
    macro_rules! go {
        ($($n:literal)*) => {
            match (t, q4) {
                $(($n, true) => int8_panel::<S, $n, true>(tile, xq, xd, xs),
                  ($n, false) => int8_panel::<S, $n, false>(tile, xq, xd, xs),)*
                _ => unreachable!("tiles have 1..=8 rows"),
            }
        };
    }
    go!(1 2 3 4 5 6 7 8)
}

#[inline(always)]
unsafe fn int8_panel<S: Simd, const T: usize, const Q4: bool>(tile: &Tile, xq: *const i8, xd: *const f32, xs: *const f32) {
    if T > S::TILE_INT8 {
        return;
    }
    let (nb, k) = (tile.nb, tile.k);
    // Independent integer chains per row: the dot instructions have ≈ 5 cycles of latency.
    let na = if T >= 4 {
        1
    } else if T >= 2 {
        2
    } else {
        4
    };
    let mut acc = [S::zero(); T];
    // Whether a per-block offset term is needed at all: Q4's m, or Q8's bias on VNNI.
    let offset = Q4 || S::Q8_BIAS != 0.0;
    for b in 0..nb {
        let dv = S::load(tile.d.add(b * 16));
        let mv = if Q4 { S::load(tile.mn.add(b * 16)) } else { S::mul(dv, S::splat(-S::Q8_BIAS)) };
        // w[g]: columns 4g..4g+4 of the block for the 16 rows.
        let mut w = [S::qzero(); 8];
        if Q4 {
            for g in 0..4 {
                let v = S::loadq(tile.codes.add((b * 4 + g) * 64));
                w[g] = S::low_nibbles(v);
                w[g + 4] = S::high_nibbles(v);
            }
        } else {
            for (g, wg) in w.iter_mut().enumerate() {
                *wg = S::prep_s8(S::loadq(tile.codes.add((b * 8 + g) * 64)));
            }
        }
        for (i, a) in acc.iter_mut().enumerate() {
            let xb = xq.add(i * k + b * QK) as *const i32;
            let mut isum = [S::qzero(); 4];
            for (g, wg) in w.iter().enumerate() {
                let x4 = xb.add(g).read_unaligned();
                isum[g % na] = if Q4 { S::dot_u4(isum[g % na], *wg, x4) } else { S::dot_s8(isum[g % na], *wg, x4) };
            }
            let mut t = isum[0];
            for v in &isum[1..na] {
                t = S::qadd(t, *v);
            }
            let scale = S::mul(dv, S::splat(*xd.add(i * nb + b)));
            *a = S::fma(S::q_to_f32(t), scale, *a);
            if offset {
                *a = S::fma(mv, S::splat(*xs.add(i * nb + b)), *a);
            }
        }
    }
    for (i, a) in acc.iter().enumerate() {
        let o = tile.out.add(i * tile.ld);
        match (tile.valid == 16, tile.accumulate) {
            (true, false) => S::store(o, *a),
            (true, true) => S::store(o, S::add(S::load(o), *a)),
            (false, false) => S::store_n(o, tile.valid, *a),
            (false, true) => S::store_n(o, tile.valid, S::add(S::load_n(o, tile.valid), *a)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector quantizer equals the scalar one (roundf semantics), ties included.
    #[test]
    fn vector_quantizer_equals_scalar() {
        let mut x: Vec<f32> = (0..32 * 50).map(|i| ((i * 7919 % 2003) as f32 - 1001.0) / 97.0).collect();
        // A block whose max is 127 makes d = 1, so these values sit exactly on halves.
        for (t, v) in x[..32].iter_mut().enumerate() {
            *v = if t == 0 { 127.0 } else { t as f32 - 16.5 };
        }
        for (xb, _) in x.chunks_exact(32).zip(0..) {
            let (mut a, mut b) = ([0i8; 32], [0i8; 32]);
            let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
            let id = 127.0 / amax;
            for (o, v) in a.iter_mut().zip(xb) {
                *o = (v * id).round() as i8;
            }
            let (mut d, mut s) = ([0f32], [0f32]);
            quantize_run(xb, &mut b, &mut d, &mut s);
            let sum = (s[0] / d[0]).round() as i32;
            assert_eq!(a, b);
            assert_eq!(sum, a.iter().map(|&v| v as i32).sum::<i32>());
        }
    }
}
