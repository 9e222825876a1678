//! Each dequantizer on hand-built blocks whose values follow from ggml's documented layout
//! (ggml-common.h): the expected values are written out from the chosen integers and scales, not by
//! calling the code under test.
use super::quant::*;
use half::{bf16, f16};

fn h(x: f32) -> [u8; 2] {
    f16::from_f32(x).to_le_bytes()
}

fn deq(ty: GgmlType, bytes: &[u8], n: usize) -> Vec<f32> {
    let mut out = vec![0f32; n];
    dequantize(ty, bytes, &mut out);
    out
}

#[test]
fn f32_f16_bf16_dequant_matches_reference() {
    let v = [1.5f32, -2.25, 0.0, 65504.0];
    let b32: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    assert_eq!(deq(GgmlType::F32, &b32, 4), v);
    let b16: Vec<u8> = v.iter().flat_map(|&x| h(x)).collect();
    assert_eq!(deq(GgmlType::F16, &b16, 4), v);
    let bb: Vec<u8> = [1.5f32, -2.25, 0.0, 3.0e38].iter().flat_map(|&x| bf16::from_f32(x).to_le_bytes()).collect();
    assert_eq!(deq(GgmlType::BF16, &bb, 4), [1.5, -2.25, 0.0, bf16::from_f32(3.0e38).to_f32()]);
}

#[test]
fn q4_0_dequant_matches_reference() {
    // Element j < 16 is the low nibble of byte j, element j + 16 its high nibble; x = (q − 8)·d.
    let q: Vec<u8> = (0..32).map(|j| (j * 5 % 16) as u8).collect();
    let mut b = h(0.5).to_vec();
    b.extend((0..16).map(|j| q[j] | (q[j + 16] << 4)));
    let want: Vec<f32> = q.iter().map(|&v| (v as f32 - 8.0) * 0.5).collect();
    assert_eq!(deq(GgmlType::Q4_0, &b, 32), want);
}

#[test]
fn q4_1_dequant_matches_reference() {
    let q: Vec<u8> = (0..32).map(|j| (j * 7 % 16) as u8).collect();
    let mut b = h(0.25).to_vec();
    b.extend(h(-1.0));
    b.extend((0..16).map(|j| q[j] | (q[j + 16] << 4)));
    let want: Vec<f32> = q.iter().map(|&v| v as f32 * 0.25 - 1.0).collect();
    assert_eq!(deq(GgmlType::Q4_1, &b, 32), want);
}

#[test]
fn q8_0_dequant_matches_reference() {
    let q: Vec<i8> = (0..32).map(|j| (j as i8 - 16) * 7).collect();
    let mut b = h(0.125).to_vec();
    b.extend(q.iter().map(|&v| v as u8));
    let want: Vec<f32> = q.iter().map(|&v| v as f32 * 0.125).collect();
    assert_eq!(deq(GgmlType::Q8_0, &b, 32), want);
}

/// Packs 8 (scale, min) 6-bit pairs as ggml's Q4_K/Q5_K do: pairs 0..4 in the low 6 bits of bytes
/// 0..4 (scales) and 4..8 (mins); pairs 4..8 split into a low nibble in bytes 8..12 and their top two
/// bits in the high bits of bytes 0..8.
fn pack_scales(sc: [u8; 8], mn: [u8; 8]) -> [u8; 12] {
    let mut s = [0u8; 12];
    for j in 0..4 {
        s[j] = sc[j] | ((sc[j + 4] >> 4) << 6);
        s[j + 4] = mn[j] | ((mn[j + 4] >> 4) << 6);
        s[j + 8] = (sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4);
    }
    s
}

const SC: [u8; 8] = [1, 63, 17, 32, 5, 48, 60, 33];
const MN: [u8; 8] = [0, 2, 63, 40, 19, 7, 50, 31];

#[test]
fn q4_k_dequant_matches_reference() {
    // 8 sub-blocks of 32; sub-blocks 2g and 2g+1 share 32 bytes: low nibbles, then high nibbles.
    let q: Vec<u8> = (0..256).map(|i| (i * 11 % 16) as u8).collect();
    let (d, dmin) = (0.5f32, 0.25f32);
    let mut b = h(d).to_vec();
    b.extend(h(dmin));
    b.extend(pack_scales(SC, MN));
    for g in 0..4 {
        for l in 0..32 {
            b.push(q[64 * g + l] | (q[64 * g + 32 + l] << 4));
        }
    }
    let want: Vec<f32> = (0..256).map(|i| d * SC[i / 32] as f32 * q[i] as f32 - dmin * MN[i / 32] as f32).collect();
    assert_eq!(b.len(), GgmlType::Q4K.block_bytes());
    assert_eq!(deq(GgmlType::Q4K, &b, 256), want);
}

#[test]
fn q5_k_dequant_matches_reference() {
    // As Q4_K, plus a fifth bit per element: element 32·s + l takes bit s of qh[l].
    let q: Vec<u8> = (0..256).map(|i| (i * 13 % 32) as u8).collect();
    let (d, dmin) = (0.5f32, 0.125f32);
    let mut b = h(d).to_vec();
    b.extend(h(dmin));
    b.extend(pack_scales(SC, MN));
    let mut qh = [0u8; 32];
    for i in 0..256 {
        qh[i % 32] |= (q[i] >> 4) << (i / 32);
    }
    b.extend(qh);
    for g in 0..4 {
        for l in 0..32 {
            b.push((q[64 * g + l] & 0xF) | ((q[64 * g + 32 + l] & 0xF) << 4));
        }
    }
    let want: Vec<f32> = (0..256).map(|i| d * SC[i / 32] as f32 * q[i] as f32 - dmin * MN[i / 32] as f32).collect();
    assert_eq!(b.len(), GgmlType::Q5K.block_bytes());
    assert_eq!(deq(GgmlType::Q5K, &b, 256), want);
}

#[test]
fn q6_k_dequant_matches_reference() {
    // Two halves of 128; in half h, element 32k + l (k = 0..4) has low 4 bits in ql[64h + l + 32(k&1)]
    // (low nibble for k < 2, high for k ≥ 2) and high 2 bits at bits 2k of qh[32h + l]; one signed
    // scale per 16 elements; x = d·scale·(q − 32).
    let q: Vec<u8> = (0..256).map(|i| (i * 29 % 64) as u8).collect();
    let scales: Vec<i8> = (0..16).map(|i| (i as i8 - 8) * 9).collect();
    let d = 0.0625f32;
    let (mut ql, mut qh) = ([0u8; 128], [0u8; 64]);
    for hf in 0..2 {
        for k in 0..4 {
            for l in 0..32 {
                let v = q[128 * hf + 32 * k + l];
                let qi = 64 * hf + l + 32 * (k & 1);
                ql[qi] |= if k < 2 { v & 0xF } else { (v & 0xF) << 4 };
                qh[32 * hf + l] |= (v >> 4) << (2 * k);
            }
        }
    }
    let mut b = ql.to_vec();
    b.extend(qh);
    b.extend(scales.iter().map(|&s| s as u8));
    b.extend(h(d));
    let want: Vec<f32> = (0..256).map(|i| d * scales[i / 16] as f32 * (q[i] as f32 - 32.0)).collect();
    assert_eq!(b.len(), GgmlType::Q6K.block_bytes());
    assert_eq!(deq(GgmlType::Q6K, &b, 256), want);
}
