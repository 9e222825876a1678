//! Every kernel of gpu/kernels/ on the emulator against the plain f64 reference
//! (`sqlora_kernel::reference`), at ragged shapes, in both thread orders (which must agree bit for
//! bit: a kernel whose result depends on the order has a race).
use sqlora_gpu::emulated::{LaunchConfig, ThreadOrder};
use sqlora_gpu::kernels::*;
use sqlora_gpu::launch::{Arg, NULL};
use sqlora_kernel::bench::inputs::{f64s, random_bytes};
use sqlora_kernel::config::RopeStyle;
use sqlora_kernel::formats::quant::{dequantize, GgmlType, QK_K};
use sqlora_kernel::reference;

mod common;
use common::{go, i, out, ptr, values};

/// Runs `run` (one launch writing its output) in both orders: the results must be identical; returns one.
fn both_orders(what: &str, run: impl Fn(ThreadOrder) -> Vec<f32>) -> Vec<f32> {
    let fwd = run(ThreadOrder::Forward);
    let rev = run(ThreadOrder::Reverse);
    assert!(fwd.iter().zip(&rev).all(|(a, b)| a.to_bits() == b.to_bits()), "{what}: the thread orders disagree");
    fwd
}

fn assert_close(what: &str, got: &[f32], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let err = (*g as f64 - w).abs() / (1.0 + w.abs());
        assert!(err <= tol, "{what}: [{i}] {g} vs {w} (relative error {err:.2e} > {tol:.0e})");
    }
}

#[test]
fn rmsnorm_matches_the_reference() {
    // Row lengths below, at and above a block, and not multiples of 32; blocks of 1 to 32 warps.
    for (m, n, threads) in [(1, 1, 32), (3, 31, 32), (5, 576, 256), (2, 1000, 128), (4, 2049, 1024)] {
        let (x, w) = (values(m * n, 1), values(n, 2));
        let got = both_orders("rmsnorm", |order| {
            let mut o = vec![0f32; m * n];
            go(&rmsnorm_f32, LaunchConfig::linear(m as u32, threads), order, &[ptr(&x), ptr(&w), out(&mut o), i(n), Arg::F32(1e-5)]);
            o
        });
        let want = reference::rmsnorm_fwd(&f64s(&x), &f64s(&w), n, 1e-5);
        assert_close(&format!("rmsnorm {m}×{n}, {threads} threads"), &got, &want, 1e-5);
    }
}

/// Grid shapes for the grid-stride kernels: fewer threads than values, more, and one block.
const GRIDS: [(u32, u32); 3] = [(1, 32), (3, 64), (64, 256)];

#[test]
fn swiglu_add_and_bias_match_the_reference() {
    for n in [1usize, 33, 1000] {
        let (g, u) = (values(n, 3), values(n, 4));
        for (blocks, threads) in GRIDS {
            let cfg = LaunchConfig::linear(blocks, threads);
            let got = both_orders("swiglu", |order| {
                let mut o = vec![0f32; n];
                go(&swiglu_f32, cfg, order, &[ptr(&g), ptr(&u), out(&mut o), i(n)]);
                o
            });
            assert_close(&format!("swiglu {n}"), &got, &reference::swiglu_fwd(&f64s(&g), &f64s(&u)), 1e-6);

            let got = both_orders("add", |order| {
                let mut x = g.clone();
                go(&add_f32, cfg, order, &[out(&mut x), ptr(&u), i(n)]);
                x
            });
            let want: Vec<f64> = g.iter().zip(&u).map(|(a, b)| *a as f64 + *b as f64).collect();
            assert_close(&format!("add {n}"), &got, &want, 1e-7);
        }
    }
    for (m, n) in [(1usize, 7usize), (5, 64), (3, 577)] {
        let (x0, bias) = (values(m * n, 5), values(n, 6));
        for (blocks, threads) in GRIDS {
            let got = both_orders("add_bias", |order| {
                let mut x = x0.clone();
                go(&add_bias_f32, LaunchConfig::linear(blocks, threads), order, &[out(&mut x), ptr(&bias), i(m), i(n)]);
                x
            });
            let want: Vec<f64> = x0.iter().enumerate().map(|(i, v)| *v as f64 + bias[i % n] as f64).collect();
            assert_close(&format!("add_bias {m}×{n}"), &got, &want, 1e-7);
        }
    }
}

#[test]
fn rope_matches_the_reference_in_both_pairings_and_back() {
    // (rows, heads, head_dim): SmolLM2's 64, a small and an odd number of heads.
    for (m, n_heads, head_dim) in [(1usize, 1usize, 2usize), (7, 3, 64), (5, 9, 32)] {
        let x0 = values(m * n_heads * head_dim, 7);
        let positions: Vec<u32> = (0..m as u32).map(|i| i * 37 + 3).collect();
        for style in [RopeStyle::Interleaved, RopeStyle::Half] {
            let halves = (style == RopeStyle::Half) as i32;
            for (sign, label) in [(1.0f32, "rope"), (-1.0, "rope backward")] {
                let got = both_orders(label, |order| {
                    let mut x = x0.clone();
                    let args =
                        [out(&mut x), ptr(&positions), i(m), i(n_heads), i(head_dim), Arg::F32(10000.0), Arg::I32(halves), Arg::F32(sign)];
                    go(&rope_f32, LaunchConfig::linear(4, 64), order, &args);
                    x
                });
                let mut want = f64s(&x0);
                if sign > 0.0 {
                    reference::rope_fwd(&mut want, n_heads, head_dim, &positions, 10000.0, style);
                } else {
                    reference::rope_bwd(&mut want, n_heads, head_dim, &positions, 10000.0, style);
                }
                // f32 angles of up to ~220 radians: a few e-6 absolute.
                assert_close(&format!("{label} {style:?} {m}×{n_heads}×{head_dim}"), &got, &want, 2e-5);
            }
        }
    }
}

#[test]
fn quantized_matmul_with_the_lora_epilogue_matches_the_reference() {
    // Each encoding's CUDA-core kernel, and its tensor-core one where it has codes (matmul_mma.cu).
    let kernels = [
        (GgmlType::Q8_0, matmul_q8_0_f32, Some(matmul_mma_q8_0_f32)),
        (GgmlType::Q4_1, matmul_q4_1_f32, Some(matmul_mma_q4_1_f32)),
        (GgmlType::Q4K, matmul_q4_k_f32, Some(matmul_mma_q4_k_f32)),
        (GgmlType::Q6K, matmul_q6_k_f32, Some(matmul_mma_q6_k_f32)),
        (GgmlType::F32, matmul_f32_f32, None),
        (GgmlType::F16, matmul_f16_f32, None),
        (GgmlType::BF16, matmul_bf16_f32, Some(matmul_mma_bf16_f32)),
    ];
    // (tokens, rows, cols, rank): one token (decode), ragged tiles on both axes, SmolLM2's 576 → 1536,
    // more tokens than one tensor-core tile (64); the K-quants (super-blocks of 256) at rows of one and
    // two super-blocks.
    let shapes_32 = [(1usize, 64usize, 32usize, 8usize), (17, 70, 96, 4), (5, 1536, 576, 16), (33, 129, 64, 1), (70, 70, 96, 2)];
    let shapes_256 = [(1usize, 64usize, 256usize, 8usize), (17, 70, 512, 4), (33, 129, 256, 1), (65, 70, 256, 2)];
    for (ty, core_kernel, mma_kernel) in kernels {
        let shapes = if ty.block_size() == QK_K { &shapes_256[..] } else { &shapes_32[..] };
        for &(m, rows, cols, r) in shapes {
            let x = values(m * cols, 11);
            let (a, b) = (values(r * cols, 12), values(rows * r, 13));
            let scale = 0.5f32;
            let wq = random_bytes(ty, rows, cols, 14);
            let mut w = vec![0f32; rows * cols];
            dequantize(ty, &wq, &mut w);
            let base = reference::matmul_fwd(&f64s(&x), m, &f64s(&w), rows, cols);
            let (lora, h) = reference::lora_fwd(&f64s(&x), m, &f64s(&a), &f64s(&b), r, cols, rows, scale as f64);
            // f32 sums of `cols` products: the rounding bound is about cols·2⁻²⁴·Σ|x·w| (the same
            // product over absolute values), which cancellation can make large beside the result.
            let abs = |v: &[f32]| v.iter().map(|x| x.abs() as f64).collect::<Vec<_>>();
            let magnitude = reference::matmul_fwd(&abs(&x), m, &abs(&w), rows, cols);
            let lora_magnitude = reference::lora_fwd(&abs(&x), m, &abs(&a), &abs(&b), r, cols, rows, scale as f64).0;
            let what = format!("{} {m}×{cols} → {rows}, r {r}", ty.name());
            let core = LaunchConfig { grid: [rows.div_ceil(64) as u32, m.div_ceil(16) as u32, 1], block: [256, 1, 1], shared_bytes: 0 };
            let mma = LaunchConfig { grid: [rows.div_ceil(64) as u32, m.div_ceil(64) as u32, 1], block: [128, 1, 1], shared_bytes: 0 };
            let launches = std::iter::once((core_kernel, core, "CUDA cores")).chain(mma_kernel.map(|k| (k, mma, "tensor cores")));

            let xa = both_orders("lora_xa", |order| {
                let mut xa = vec![0f32; m * r];
                let cfg = LaunchConfig::linear((m * r).div_ceil(8) as u32, 256);
                go(&lora_xa_f32, cfg, order, &[ptr(&x), ptr(&a), out(&mut xa), i(m), i(cols), i(r)]);
                xa
            });
            assert_close(&format!("lora_xa {what}"), &xa, &h, 1e-5);

            for ((kernel, grid, path), with_lora) in launches.flat_map(|l| [(l, false), (l, true)]) {
                let what = format!("{what} ({path})");
                let got = both_orders(&what, |order| {
                    let mut o = vec![0f32; m * rows];
                    let (xap, bp) = if with_lora { (ptr(&xa), ptr(&b)) } else { (NULL, NULL) };
                    let args = [ptr(&x), ptr(&wq), out(&mut o), i(m), i(rows), i(cols), xap, bp, i(r), Arg::F32(scale)];
                    go(&kernel, grid, order, &args);
                    o
                });
                let want: Vec<f64> = if with_lora { base.iter().zip(&lora).map(|(p, q)| p + q).collect() } else { base.clone() };
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    let size = magnitude[i] + if with_lora { lora_magnitude[i] } else { 0.0 };
                    let bound = 2.0 * (cols + r) as f64 * f32::EPSILON as f64 / 2.0 * size + 1e-7;
                    let err = (*g as f64 - w).abs();
                    assert!(err <= bound, "{what}, LoRA {with_lora}: [{i}] {g} vs {w} (error {err:.2e} > bound {bound:.2e})");
                }
            }
        }
    }
}

#[test]
fn embedding_rows_are_the_cpu_decoders_bit_for_bit() {
    let kernels = [
        (GgmlType::F32, embed_f32),
        (GgmlType::Q8_0, embed_q8_0),
        (GgmlType::Q4_1, embed_q4_1),
        (GgmlType::Q4K, embed_q4_k),
        (GgmlType::Q6K, embed_q6_k),
        (GgmlType::F16, embed_f16),
        (GgmlType::BF16, embed_bf16),
    ];
    // Ids out of order, repeated, the first and the last row; rows of one and several blocks.
    let rows = 37;
    let ids: Vec<u32> = vec![5, 0, 36, 5, 17, 2, 36];
    for (ty, kernel) in kernels {
        let widths: &[usize] = if ty.block_size() == QK_K { &[256, 768] } else { &[32, 96, 576] };
        for &cols in widths {
            let wq = random_bytes(ty, rows, cols, 15);
            let mut w = vec![0f32; rows * cols];
            dequantize(ty, &wq, &mut w);
            let want: Vec<f32> = ids.iter().flat_map(|&t| &w[t as usize * cols..(t as usize + 1) * cols]).copied().collect();
            for (blocks, threads) in GRIDS {
                let what = format!("embed {} {cols} columns, {blocks}×{threads} threads", ty.name());
                let got = both_orders(&what, |order| {
                    let mut o = vec![f32::NAN; ids.len() * cols];
                    let args = [ptr(&wq), ptr(&ids), out(&mut o), i(ids.len()), i(cols)];
                    go(&kernel, LaunchConfig::linear(blocks, threads), order, &args);
                    o
                });
                for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(g.to_bits(), w.to_bits(), "{what}: [{k}] {g} vs {w}");
                }
            }
        }
    }
}

#[test]
fn argmax_rows_follows_the_hosts_rule() {
    use sqlora_kernel::generate::argmax;
    // Ragged lengths (under a warp, over a block, SmolLM2's vocabulary), then the edge cases: ties
    // (the first wins), NaN (never wins), all NaN (0), −∞ everywhere.
    let mut rows: Vec<Vec<f32>> = [1usize, 31, 257, 1000, 49152].iter().map(|&n| values(n, n as u64)).collect();
    let n = 300;
    let mut tie = vec![0.5f32; n];
    tie[7] = 2.0;
    tie[250] = 2.0;
    let mut nan = values(n, 3);
    nan[0] = f32::NAN;
    nan[123] = f32::NAN;
    nan[200] = 9.0;
    rows.extend([tie, nan, vec![f32::NAN; n], vec![f32::NEG_INFINITY; n], vec![0.0; n]]);
    for x in &rows {
        let n = x.len();
        for threads in [32u32, 256, 1024] {
            for order in ThreadOrder::BOTH {
                let mut got = [u32::MAX; 2];
                // Two identical rows: the second block must read its own row.
                let two: Vec<f32> = x.iter().chain(x).copied().collect();
                go(&argmax_rows_f32, LaunchConfig::linear(2, threads), order, &[ptr(&two), out(&mut got), i(n)]);
                assert_eq!(got, [argmax(x); 2], "row of {n}, {threads} threads, {order:?}");
            }
        }
    }
}

#[test]
fn the_unfused_lora_term_and_the_row_gather_match_the_reference() {
    // y += s · xa · Bᵀ, the LoRA term the backend adds after a product (lora_b_add_f32), at ragged
    // shapes and grids; then gather_rows_f32, which must copy rows exactly (in any order, repeated).
    for (m, dout, r) in [(1usize, 7usize, 1usize), (5, 70, 8), (33, 129, 16)] {
        let (xa, b, y0) = (values(m * r, 21), values(dout * r, 22), values(m * dout, 23));
        let want: Vec<f64> = (0..m * dout)
            .map(|o| {
                let (i, j) = (o / dout, o % dout);
                y0[o] as f64 + 0.5 * (0..r).map(|q| xa[i * r + q] as f64 * b[j * r + q] as f64).sum::<f64>()
            })
            .collect();
        for (blocks, threads) in GRIDS {
            let got = both_orders("lora_b_add", |order| {
                let mut y = y0.clone();
                let args = [ptr(&xa), ptr(&b), out(&mut y), i(m), i(dout), i(r), Arg::F32(0.5)];
                go(&lora_b_add_f32, LaunchConfig::linear(blocks, threads), order, &args);
                y
            });
            assert_close(&format!("lora_b_add {m}×{dout}, r {r}"), &got, &want, 1e-6);
        }
    }
    let (n, x) = (37usize, values(10 * 37, 24));
    let rows: Vec<u32> = vec![9, 0, 3, 3, 7];
    for (blocks, threads) in GRIDS {
        let got = both_orders("gather_rows", |order| {
            let mut o = vec![0f32; rows.len() * n];
            go(&gather_rows_f32, LaunchConfig::linear(blocks, threads), order, &[ptr(&x), ptr(&rows), out(&mut o), i(rows.len()), i(n)]);
            o
        });
        let want: Vec<f32> = rows.iter().flat_map(|&r| x[r as usize * n..(r as usize + 1) * n].to_vec()).collect();
        assert_eq!(got, want, "gather_rows, grid {blocks} × {threads}");
    }
}
