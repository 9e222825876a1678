//! ggml tensor encodings and their dequantization to f32.
//!
//! Block layouts follow ggml's `ggml-common.h` (the documented on-disk format). Every format is a
//! sequence of fixed-size blocks; a row of a weight matrix is a whole number of blocks, so rows can be
//! dequantized independently (which the quantized matmul relies on).
use half::{bf16, f16};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GgmlType {
    F32,
    F16,
    BF16,
    Q4_0,
    Q4_1,
    Q8_0,
    Q4K,
    Q5K,
    Q6K,
}

pub const QK: usize = 32; // elements per Q4_0 / Q4_1 / Q8_0 block
pub const QK_K: usize = 256; // elements per K-quant super-block

impl GgmlType {
    /// ggml's numeric type ids (enum ggml_type). Types we cannot dequantize are `None`.
    pub fn from_id(id: u32) -> Option<Self> {
        Some(match id {
            0 => Self::F32,
            1 => Self::F16,
            2 => Self::Q4_0,
            3 => Self::Q4_1,
            8 => Self::Q8_0,
            12 => Self::Q4K,
            13 => Self::Q5K,
            14 => Self::Q6K,
            30 => Self::BF16,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::BF16 => "BF16",
            Self::Q4_0 => "Q4_0",
            Self::Q4_1 => "Q4_1",
            Self::Q8_0 => "Q8_0",
            Self::Q4K => "Q4_K",
            Self::Q5K => "Q5_K",
            Self::Q6K => "Q6_K",
        }
    }
    pub fn block_size(self) -> usize {
        match self {
            Self::F32 | Self::F16 | Self::BF16 => 1,
            Self::Q4_0 | Self::Q4_1 | Self::Q8_0 => QK,
            Self::Q4K | Self::Q5K | Self::Q6K => QK_K,
        }
    }
    pub fn block_bytes(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F16 | Self::BF16 => 2,
            Self::Q4_0 => 2 + QK / 2,
            Self::Q4_1 => 4 + QK / 2,
            Self::Q8_0 => 2 + QK,
            Self::Q4K => 4 + 12 + QK_K / 2,
            Self::Q5K => 4 + 12 + QK_K / 8 + QK_K / 2,
            Self::Q6K => QK_K / 2 + QK_K / 4 + QK_K / 16 + 2,
        }
    }
    /// Bytes for `n` elements (n must be a multiple of the block size).
    pub fn row_bytes(self, n: usize) -> usize {
        n / self.block_size() * self.block_bytes()
    }
}

#[inline]
fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// Dequantizes `bytes` (a whole number of blocks of `ty`) into `out` (`out.len()` elements).
pub fn dequantize(ty: GgmlType, bytes: &[u8], out: &mut [f32]) {
    debug_assert_eq!(bytes.len(), ty.row_bytes(out.len()));
    let bs = ty.block_size();
    let bb = ty.block_bytes();
    match ty {
        GgmlType::F32 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *o = f32::from_le_bytes(c.try_into().unwrap());
            }
        }
        GgmlType::F16 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = f16::from_le_bytes([c[0], c[1]]).to_f32();
            }
        }
        GgmlType::BF16 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = bf16::from_le_bytes([c[0], c[1]]).to_f32();
            }
        }
        _ => {
            for (o, b) in out.chunks_exact_mut(bs).zip(bytes.chunks_exact(bb)) {
                match ty {
                    GgmlType::Q4_0 => dequant_q4_0(b, o),
                    GgmlType::Q4_1 => dequant_q4_1(b, o),
                    GgmlType::Q8_0 => dequant_q8_0(b, o),
                    GgmlType::Q4K => dequant_q4_k(b, o),
                    GgmlType::Q5K => dequant_q5_k(b, o),
                    GgmlType::Q6K => dequant_q6_k(b, o),
                    _ => unreachable!(),
                }
            }
        }
    }
}

/// Q4_0: f16 scale d, then 16 bytes; low nibbles are elements 0..16, high nibbles 16..32; x = (q - 8)·d.
#[inline]
pub fn dequant_q4_0(b: &[u8], o: &mut [f32]) {
    let d = f16_at(b, 0);
    let qs = &b[2..18];
    for j in 0..16 {
        o[j] = ((qs[j] & 0xF) as i32 - 8) as f32 * d;
        o[j + 16] = ((qs[j] >> 4) as i32 - 8) as f32 * d;
    }
}

/// Q4_1: f16 scale d, f16 minimum m, 16 bytes of nibbles (same order as Q4_0); x = q·d + m.
#[inline]
pub fn dequant_q4_1(b: &[u8], o: &mut [f32]) {
    let d = f16_at(b, 0);
    let m = f16_at(b, 2);
    let qs = &b[4..20];
    for j in 0..16 {
        o[j] = (qs[j] & 0xF) as f32 * d + m;
        o[j + 16] = (qs[j] >> 4) as f32 * d + m;
    }
}

/// Q8_0: f16 scale d, 32 signed bytes; x = q·d.
#[inline]
pub fn dequant_q8_0(b: &[u8], o: &mut [f32]) {
    let d = f16_at(b, 0);
    for j in 0..32 {
        o[j] = (b[2 + j] as i8) as f32 * d;
    }
}

/// The 6-bit scale and minimum of sub-block `j` (0..8) packed in the 12 `scales` bytes of Q4_K / Q5_K.
#[inline]
pub fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

/// Q4_K: f16 d, f16 dmin, 12 bytes of 6-bit (scale, min) pairs for 8 sub-blocks of 32, 128 bytes of
/// nibbles. Each 32-byte group of nibbles holds two sub-blocks: low nibbles first, then high.
/// x = d·scale·q − dmin·min.
pub fn dequant_q4_k(b: &[u8], o: &mut [f32]) {
    let d = f16_at(b, 0);
    let dmin = f16_at(b, 2);
    let scales = &b[4..16];
    let qs = &b[16..144];
    for g in 0..4 {
        let (s1, m1) = scale_min_k4(2 * g, scales);
        let (s2, m2) = scale_min_k4(2 * g + 1, scales);
        let (d1, d2) = (d * s1 as f32, d * s2 as f32);
        let (n1, n2) = (dmin * m1 as f32, dmin * m2 as f32);
        let q = &qs[32 * g..32 * g + 32];
        for l in 0..32 {
            o[64 * g + l] = d1 * (q[l] & 0xF) as f32 - n1;
            o[64 * g + 32 + l] = d2 * (q[l] >> 4) as f32 - n2;
        }
    }
}

/// Q5_K: as Q4_K plus 32 bytes `qh` holding each element's fifth bit: for sub-block pair g, bit 2g of
/// qh[l] belongs to the low-nibble element l and bit 2g+1 to the high-nibble element.
pub fn dequant_q5_k(b: &[u8], o: &mut [f32]) {
    let d = f16_at(b, 0);
    let dmin = f16_at(b, 2);
    let scales = &b[4..16];
    let qh = &b[16..48];
    let qs = &b[48..176];
    for g in 0..4 {
        let (s1, m1) = scale_min_k4(2 * g, scales);
        let (s2, m2) = scale_min_k4(2 * g + 1, scales);
        let (d1, d2) = (d * s1 as f32, d * s2 as f32);
        let (n1, n2) = (dmin * m1 as f32, dmin * m2 as f32);
        let q = &qs[32 * g..32 * g + 32];
        for l in 0..32 {
            let h1 = ((qh[l] >> (2 * g)) & 1) << 4;
            let h2 = ((qh[l] >> (2 * g + 1)) & 1) << 4;
            o[64 * g + l] = d1 * ((q[l] & 0xF) | h1) as f32 - n1;
            o[64 * g + 32 + l] = d2 * ((q[l] >> 4) | h2) as f32 - n2;
        }
    }
}

/// Q6_K: 128 bytes `ql` (low 4 bits), 64 bytes `qh` (high 2 bits), 16 signed 8-bit scales (one per
/// 16 elements), f16 d. Two halves of 128 elements; in each, element l + 32·k (k = 0..4) takes
/// its low nibble from ql[l + 32·(k&1)] (k < 2: low nibble, else high) and its high bits from
/// qh[l] >> 2k. x = d·scale·(q − 32).
pub fn dequant_q6_k(b: &[u8], o: &mut [f32]) {
    let d = f16_at(b, 208);
    for h in 0..2 {
        let ql = &b[64 * h..64 * h + 64];
        let qh = &b[128 + 32 * h..128 + 32 * h + 32];
        let sc = &b[192 + 8 * h..192 + 8 * h + 8];
        let out = &mut o[128 * h..128 * h + 128];
        for l in 0..32 {
            let is = l / 16;
            let q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) as i32 - 32;
            let q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
            let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
            let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
            out[l] = d * (sc[is] as i8) as f32 * q1 as f32;
            out[l + 32] = d * (sc[is + 2] as i8) as f32 * q2 as f32;
            out[l + 64] = d * (sc[is + 4] as i8) as f32 * q3 as f32;
            out[l + 96] = d * (sc[is + 6] as i8) as f32 * q4 as f32;
        }
    }
}
