//! Training's products on the emulated device, kernel by kernel and through the backend: dX through
//! every weight encoding (`matmul_bwd_*_f32`), the LoRA backward's strided products (`gemm_small_f32`)
//! and the head's fused cross-entropy (`ce_stats_f32` / `ce_grad_f32` over the product kernels) against
//! the f64 reference, in both thread orders (bit-identical: no atomics); the cross-entropy's gradient
//! also against central finite differences of its own loss. Run under ASan/UBSan by gpu_check.sh.
use sqlora_gpu::emulated::{LaunchConfig, ThreadOrder};
use sqlora_gpu::kernels::*;
use sqlora_gpu::launch::Arg;
use sqlora_gpu::{EmulatedGpu, GpuBackend};
use sqlora_kernel::backend::{Backend, HostMatrix, TrainBackend};
use sqlora_kernel::bench::inputs::{f64s, random_bytes};
use sqlora_kernel::formats::quant::{dequantize, GgmlType};
use sqlora_kernel::reference;

mod common;
use common::{go, i, out, ptr, values};

fn both_orders(what: &str, run: impl Fn(ThreadOrder) -> Vec<f32>) -> Vec<f32> {
    let (fwd, rev) = (run(ThreadOrder::Forward), run(ThreadOrder::Reverse));
    assert!(fwd.iter().zip(&rev).all(|(a, b)| a.to_bits() == b.to_bits()), "{what}: the thread orders disagree");
    fwd
}

/// Within `tol` of the reference, relative to the size of the sum that made each value.
fn assert_close(what: &str, got: &[f32], want: &[f64], scale: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (k, ((g, w), s)) in got.iter().zip(want).zip(scale).enumerate() {
        let err = (*g as f64 - w).abs();
        assert!(err <= tol * (1.0 + s), "{what}: [{k}] {g} vs {w} (error {err:.2e})");
    }
}

#[test]
fn dx_through_every_encoding_matches_the_reference() {
    let kernels = [
        (GgmlType::Q8_0, matmul_bwd_q8_0_f32),
        (GgmlType::Q4_1, matmul_bwd_q4_1_f32),
        (GgmlType::Q4K, matmul_bwd_q4_k_f32),
        (GgmlType::Q6K, matmul_bwd_q6_k_f32),
        (GgmlType::F32, matmul_bwd_f32_f32),
        (GgmlType::F16, matmul_bwd_f16_f32),
        (GgmlType::BF16, matmul_bwd_bf16_f32),
    ];
    for (ty, kernel) in kernels {
        // (tokens, rows = dy's width, cols = dx's width): ragged tiles on every axis.
        let cols_list: &[usize] = if ty.block_size() == 256 { &[256, 512] } else { &[32, 96, 576] };
        for &cols in cols_list {
            for (m, rows) in [(1usize, 7usize), (17, 70), (33, 129)] {
                let (dy, dx0) = (values(m * rows, 31), values(m * cols, 32));
                let wq = random_bytes(ty, rows, cols, 33);
                let mut w = vec![0f32; rows * cols];
                dequantize(ty, &wq, &mut w);
                let want = reference::matmul_bwd(&f64s(&dy), m, &f64s(&w), rows, cols);
                let abs = |v: &[f32]| v.iter().map(|x| x.abs() as f64).collect::<Vec<_>>();
                let size = reference::matmul_bwd(&abs(&dy), m, &abs(&w), rows, cols);
                let cfg = LaunchConfig { grid: [cols.div_ceil(64) as u32, m.div_ceil(16) as u32, 1], block: [256, 1, 1], shared_bytes: 0 };
                for accumulate in [false, true] {
                    let what = format!("matmul_bwd {} {m}×{rows} → {cols}, accumulate {accumulate}", ty.name());
                    let got = both_orders(&what, |order| {
                        let mut dx = dx0.clone();
                        go(&kernel, cfg, order, &[ptr(&dy), ptr(&wq), out(&mut dx), i(m), i(rows), i(cols), i(accumulate as usize)]);
                        dx
                    });
                    let want: Vec<f64> = want.iter().zip(&dx0).map(|(w, d)| if accumulate { w + *d as f64 } else { *w }).collect();
                    assert_close(&what, &got, &want, &size, rows as f64 * 1.2e-7);
                }
            }
        }
    }
}

#[test]
fn the_strided_small_product_matches_the_reference() {
    // C[M × N] (+)= s·A·B with A read transposed (strides (1, M)) and B plain, as the LoRA backward's
    // dA = dxaᵀ·x reads them; then plain A and transposed B (dxa = dy·B's layout differs only in strides).
    for (m, n, k) in [(1usize, 1usize, 1usize), (8, 70, 33), (16, 5, 300)] {
        let (a, b, c0) = (values(k * m, 41), values(k * n, 42), values(m * n, 43));
        let want: Vec<f64> = (0..m * n)
            .map(|o| {
                let (r, c) = (o / n, o % n);
                c0[o] as f64 + 0.5 * (0..k).map(|q| a[q * m + r] as f64 * b[q * n + c] as f64).sum::<f64>()
            })
            .collect();
        for (blocks, threads) in [(1u32, 32u32), (3, 64), (64, 256)] {
            let got = both_orders("gemm_small", |order| {
                let mut c = c0.clone();
                let args = [ptr(&a), ptr(&b), out(&mut c), i(m), i(n), i(k), i(1), i(m), i(n), i(1), Arg::F32(0.5), i(1)];
                go(&gemm_small_f32, LaunchConfig::linear(blocks, threads), order, &args);
                c
            });
            let size = vec![k as f64 * 4.0; m * n];
            assert_close(&format!("gemm_small {m}×{n}×{k}"), &got, &want, &size, 1.2e-7);
        }
    }
}

/// The backend's cross-entropy (chunks of 2,048 of the vocabulary: here 3 chunks, the last partial)
/// against the reference, and its dhidden against central differences of its own loss.
#[test]
fn the_fused_cross_entropy_matches_the_reference_and_its_finite_differences() {
    for order in ThreadOrder::BOTH {
        let be = GpuBackend::new(EmulatedGpu { order });
        let (vocab, n, r) = (4100usize, 64usize, 3usize);
        let wq = random_bytes(GgmlType::Q8_0, vocab, n, 51);
        let head = be.matrix(&HostMatrix { name: "head".into(), ty: GgmlType::Q8_0, rows: vocab, cols: n, bytes: &wq }).unwrap();
        let mut w = vec![0f32; vocab * n];
        dequantize(GgmlType::Q8_0, &wq, &mut w);
        let hidden: Vec<f32> = values(r * n, 52).iter().map(|x| x * 2.0).collect();
        // Targets in the first, the middle and the last (partial) chunk; one row weighs twice.
        let (targets, weights) = ([5u32, 2100, 4099], [0.5f32, 1.0, 0.25]);
        let loss_and_grad = |h: &[f32]| {
            let mut dh = be.zeros(r * n);
            let loss = be.cross_entropy(&be.upload(h), &targets, &weights, &head, &mut dh);
            (loss, be.download(&dh))
        };
        let (loss, dh) = loss_and_grad(&hidden);
        let (want_loss, want_dh) = reference::cross_entropy(&f64s(&hidden), &targets, &f64s(&weights), &f64s(&w), vocab, n);
        assert!((loss - want_loss).abs() <= 1e-5 * want_loss.abs(), "{order:?}: loss {loss} vs {want_loss}");
        assert_close(&format!("dhidden {order:?}"), &dh, &want_dh, &vec![1.0; r * n], 2e-6);
        // Central differences of the loss the backend itself computes, at a few coordinates.
        for k in [0usize, 37, n + 5, 2 * n + 63] {
            let h = 1e-2f32;
            let (mut up, mut down) = (hidden.clone(), hidden.clone());
            up[k] += h;
            down[k] -= h;
            let fd = (loss_and_grad(&up).0 - loss_and_grad(&down).0) / (2.0 * h as f64);
            assert!((fd - dh[k] as f64).abs() <= 2e-3 * (1.0 + fd.abs()), "{order:?}: dhidden[{k}] {} vs finite difference {fd}", dh[k]);
        }
    }
}
