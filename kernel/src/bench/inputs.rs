//! Inputs and the comparison every op check uses, in the tests and in `sqlora bench --kernels`:
//! deterministic values, weight matrices of any encoding with their dequantized values, and the
//! error relative to the tensor's scale.
use crate::backend::{Backend, HostMatrix};
use crate::formats::quant::{dequantize, GgmlType};

/// Deterministic values in [−1, 1).
pub fn rand(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

pub fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// max_i |got_i − want_i| / max_i |want_i|: the error relative to the tensor's scale.
pub fn rel_err(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0f64, |a, b| a.max(b.abs())).max(1e-300);
    got.iter().zip(want).fold(0f64, |a, (g, w)| a.max((g - w).abs())) / scale
}

/// Where the f32 kernels are compared with the f64 references: relative to the tensor's largest
/// value (f32 rounding of sums of a few hundred terms).
pub const FAST_TOL: f64 = 2e-5;

/// A backend's tensor from f64 values.
pub fn up<B: Backend>(be: &B, v: &[f64]) -> B::Tensor {
    be.upload(&v.iter().map(|&x| x as f32).collect::<Vec<f32>>())
}

/// A backend's tensor as f64 values.
pub fn down<B: Backend>(be: &B, t: &B::Tensor) -> Vec<f64> {
    be.download(t).iter().map(|&x| x as f64).collect()
}

/// Random blocks of `ty` with finite, small scales (the layout of ggml-common.h).
pub fn random_bytes(ty: GgmlType, rows: usize, cols: usize, seed: u64) -> Vec<u8> {
    let r = rand(ty.row_bytes(cols) * rows, seed);
    let mut b: Vec<u8> = r.iter().map(|v| ((v + 1.0) * 128.0) as u8).collect();
    let h = |x: f32| half::f16::from_f32(x).to_le_bytes();
    for (i, blk) in b.chunks_exact_mut(ty.block_bytes()).enumerate() {
        let v = r[i] as f32 / 2.0;
        match ty {
            GgmlType::F32 => blk.copy_from_slice(&v.to_le_bytes()),
            GgmlType::F16 => blk.copy_from_slice(&h(v)),
            GgmlType::BF16 => blk.copy_from_slice(&half::bf16::from_f32(v).to_le_bytes()),
            GgmlType::Q4_0 | GgmlType::Q8_0 => blk[..2].copy_from_slice(&h(0.01)),
            GgmlType::Q4_1 | GgmlType::Q4K | GgmlType::Q5K => {
                blk[..2].copy_from_slice(&h(0.01));
                blk[2..4].copy_from_slice(&h(-0.03));
            }
            GgmlType::Q6K => {
                let e = blk.len();
                blk[e - 2..].copy_from_slice(&h(0.01));
            }
        }
    }
    b
}

/// A `rows × cols` matrix of `ty` on the backend and its dequantized values.
pub fn matrix_of<B: Backend>(be: &B, ty: GgmlType, rows: usize, cols: usize, seed: u64) -> (B::Matrix, Vec<f32>) {
    let bytes = random_bytes(ty, rows, cols, seed);
    let mut w = vec![0f32; rows * cols];
    for (o, b) in w.chunks_exact_mut(cols).zip(bytes.chunks_exact(ty.row_bytes(cols))) {
        dequantize(ty, b, o);
    }
    (be.matrix(&HostMatrix { name: "w".into(), ty, rows, cols, bytes: &bytes }).unwrap(), w)
}
