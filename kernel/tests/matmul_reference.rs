//! The matrix product for every encoding the engine reads, against a plain triple loop over the
//! dequantized matrix: the CPU's both paths (few rows: fused dequant-dot; many rows: panel GEMM) on
//! every ISA level, and the GPU backend's on the emulated device.
use sqlora_kernel::backend::{Backend, HostMatrix};
use sqlora_kernel::cpu::CpuMatrix;
use sqlora_kernel::formats::quant::{dequantize, GgmlType};

mod common;

backend_tests!(gpu: matmul_matches_reference_for_every_encoding);

fn random_bytes(ty: GgmlType, rows: usize, cols: usize, seed: u64) -> Vec<u8> {
    let mut s = seed;
    let mut b: Vec<u8> = (0..ty.row_bytes(cols) * rows)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 33) as u8
        })
        .collect();
    // Keep f16/f32 scale fields finite: overwrite them with small values.
    let bb = ty.block_bytes();
    for blk in b.chunks_exact_mut(bb) {
        match ty {
            GgmlType::Q4_0 | GgmlType::Q8_0 => blk[..2].copy_from_slice(&half::f16::from_f32(0.01).to_le_bytes()),
            GgmlType::Q4_1 | GgmlType::Q4K => {
                blk[..2].copy_from_slice(&half::f16::from_f32(0.01).to_le_bytes());
                blk[2..4].copy_from_slice(&half::f16::from_f32(-0.03).to_le_bytes());
            }
            GgmlType::F16 => blk.copy_from_slice(&half::f16::from_f32((blk[0] as f32 - 128.0) / 256.0).to_le_bytes()),
            GgmlType::F32 => blk.copy_from_slice(&((blk[0] as f32 - 128.0) / 256.0).to_le_bytes()),
            _ => {}
        }
    }
    b
}

/// Every encoding the engine reads, rows that give the CPU tiles of every height and a partial last
/// panel.
fn matmul_matches_reference_for_every_encoding<B: Backend>(be: &B) {
    let (rows, cols) = (70, 512);
    for ty in [GgmlType::F32, GgmlType::F16, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0, GgmlType::Q4K] {
        let bytes = random_bytes(ty, rows, cols, 7);
        let mut w = vec![0f32; rows * cols];
        for (o, b) in w.chunks_exact_mut(cols).zip(bytes.chunks_exact(ty.row_bytes(cols))) {
            dequantize(ty, b, o);
        }
        let mat = be.matrix(&HostMatrix { name: "w".into(), ty, rows, cols, bytes: &bytes }).unwrap();
        for m in [1, 3, 4, 5, 7, 16, 17, 23, 40] {
            let x: Vec<f32> = (0..m * cols).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
            let mut out = be.zeros(m * rows);
            be.matmul(&be.upload(&x), m, &mat, &mut out);
            let out = be.download(&out);
            for i in 0..m {
                for j in 0..rows {
                    let want: f64 = (0..cols).map(|k| x[i * cols + k] as f64 * w[j * cols + k] as f64).sum();
                    let got = out[i * rows + j] as f64;
                    assert!((got - want).abs() <= 1e-4 * (1.0 + want.abs()), "{ty:?} m={m} ({i},{j}): {got} vs {want}");
                }
            }
        }
    }
}

/// The 8-bit-activation path: against a triple loop over the dequantized weights and the activations
/// after the same 8-bit rounding (llama.cpp's Q8_1), for every quantized encoding and tile shape, on
/// every ISA level this CPU has. Q8_0 weights include −128 (the AVX2 `vpmaddubsw` sign trick's edge).
#[test]
fn int8_matmul_matches_reference_on_quantized_activations() {
    common::for_each_isa(|_| int8_matmul_matches_reference());
}

fn int8_matmul_matches_reference() {
    use sqlora_kernel::cpu::int8::quantize_rows;
    use sqlora_kernel::cpu::CpuMatrix::Quant;
    let (rows, cols) = (70, 512);
    for ty in [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0, GgmlType::Q4K] {
        let mut bytes = random_bytes(ty, rows, cols, 11);
        if ty == GgmlType::Q8_0 {
            // Saturate a few weights at both ends of the signed byte range.
            for blk in bytes.chunks_exact_mut(ty.block_bytes()).step_by(3) {
                blk[2] = 0x80;
                blk[3] = 0x7F;
            }
        }
        let mut w = vec![0f32; rows * cols];
        for (o, b) in w.chunks_exact_mut(cols).zip(bytes.chunks_exact(ty.row_bytes(cols))) {
            dequantize(ty, b, o);
        }
        let Quant(panels) = CpuMatrix::from_host(&HostMatrix { name: "w".into(), ty, rows, cols, bytes: &bytes }).unwrap() else {
            panic!("{ty:?} should be kept quantized");
        };
        for m in [1, 2, 3, 4, 5, 8, 9, 23] {
            let x: Vec<f32> = (0..m * cols).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
            let xq = quantize_rows(&x, m, cols);
            let xr: Vec<f32> = xq.q.iter().enumerate().map(|(i, &q)| q as f32 * xq.d[i / 32]).collect();
            let mut out = vec![0f32; m * rows];
            panels.matmul_int8(&x, m, &mut out);
            for i in 0..m {
                for j in 0..rows {
                    let terms = (0..cols).map(|k| xr[i * cols + k] as f64 * w[j * cols + k] as f64);
                    let (want, mag): (f64, f64) = terms.fold((0.0, 0.0), |(s, a), t| (s + t, a + t.abs()));
                    let exact: f64 = (0..cols).map(|k| x[i * cols + k] as f64 * w[j * cols + k] as f64).sum();
                    let got = out[i * rows + j] as f64;
                    assert!((got - want).abs() <= 2e-3 * (1.0 + mag), "{ty:?} m={m} ({i},{j}): {got} vs {want}");
                    assert!((got - exact).abs() <= 2e-2 * (1.0 + mag), "{ty:?} m={m} ({i},{j}): {got} vs exact {exact}");
                }
            }
        }
    }
}

/// The 8-bit backward dX = dY·W (`Numerics::Int8`): against a triple loop over Wᵀ quantized here,
/// independently, as the kernel's contract says (per column of W, blocks of 32 rows, d = max|w|/127,
/// q = round(w/d)) and dY after the activations' 8-bit rounding; and within the 8-bit tolerance of the
/// exact product. Both modes (overwrite, accumulate), tile shapes that leave partial tiles, every
/// ISA level; a weight whose rows are not whole blocks of 32 takes the exact path.
#[test]
fn int8_matmul_bwd_matches_reference_on_quantized_gradients() {
    common::for_each_isa(|_| int8_matmul_bwd_matches_reference());
}

fn int8_matmul_bwd_matches_reference() {
    use sqlora_kernel::backend::{Numerics, TrainBackend};
    use sqlora_kernel::cpu::int8::quantize_rows;
    use sqlora_kernel::cpu::CpuBackend;
    let be = CpuBackend::new(Numerics::Int8);
    for (ty, rows, cols) in [(GgmlType::Q4_1, 96, 160), (GgmlType::Q8_0, 64, 96), (GgmlType::Q4K, 64, 256), (GgmlType::Q4_1, 70, 64)] {
        let bytes = random_bytes(ty, rows, cols, 13);
        let mut w = vec![0f32; rows * cols];
        for (o, b) in w.chunks_exact_mut(cols).zip(bytes.chunks_exact(ty.row_bytes(cols))) {
            dequantize(ty, b, o);
        }
        // Wᵀ's 8-bit codes, per column c and block of 32 rows.
        let whole = rows % 32 == 0;
        let mut wt = vec![0f32; rows * cols];
        if whole {
            for c in 0..cols {
                for b in 0..rows / 32 {
                    let amax = (0..32).fold(0f32, |a, t| a.max(w[(b * 32 + t) * cols + c].abs()));
                    let d = amax / 127.0;
                    for t in 0..32 {
                        let r = b * 32 + t;
                        let q = if amax > 0.0 { (w[r * cols + c] * 127.0 / amax).round() } else { 0.0 };
                        wt[r * cols + c] = q * d;
                    }
                }
            }
        }
        let mat = be.matrix(&HostMatrix { name: "w".into(), ty, rows, cols, bytes: &bytes }).unwrap();
        for m in [1, 5, 23] {
            let dy: Vec<f32> = (0..m * rows).map(|i| ((i * 53 % 97) as f32 - 48.0) / 40.0).collect();
            // dY after the 8-bit rounding (only where W's rows are whole blocks: else the exact path).
            let dr: Vec<f32> = if whole {
                let dq = quantize_rows(&dy, m, rows);
                dq.q.iter().enumerate().map(|(i, &q)| q as f32 * dq.d[i / 32]).collect()
            } else {
                dy.clone()
            };
            let mut dx = vec![f32::NAN; m * cols];
            be.matmul_bwd(&dy, m, &mat, &mut dx, false);
            let mut twice = dx.clone();
            be.matmul_bwd(&dy, m, &mat, &mut twice, true);
            for i in 0..m {
                for c in 0..cols {
                    let exact: f64 = (0..rows).map(|r| dy[i * rows + r] as f64 * w[r * cols + c] as f64).sum();
                    let mag: f64 = (0..rows).map(|r| (dy[i * rows + r] as f64 * w[r * cols + c] as f64).abs()).sum();
                    let got = dx[i * cols + c] as f64;
                    if whole {
                        let want: f64 = (0..rows).map(|r| dr[i * rows + r] as f64 * wt[r * cols + c] as f64).sum();
                        assert!((got - want).abs() <= 2e-3 * (1.0 + mag), "{ty:?} m={m} ({i},{c}): {got} vs {want}");
                        assert!((got - exact).abs() <= 2e-2 * (1.0 + mag), "{ty:?} m={m} ({i},{c}): {got} vs exact {exact}");
                    } else {
                        assert!((got - exact).abs() <= 1e-5 * (1.0 + mag), "{ty:?} rows={rows}: not the exact path: {got} vs {exact}");
                    }
                    let acc = twice[i * cols + c] as f64;
                    assert!((acc - 2.0 * got).abs() <= 1e-5 * (1.0 + mag), "{ty:?} m={m} accumulated: {acc} vs 2 × {got}");
                }
            }
        }
    }
}
