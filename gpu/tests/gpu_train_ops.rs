//! The training half's small kernels (gpu/kernels/train_ops.cu) on the emulator, at ragged sizes and
//! grids, in both thread orders (which must agree bit for bit): the row scatter, the dropout mask and
//! AdamW bit for bit against the CPU (`rng::dropout_keeps`, the CPU backend), the RMSNorm and SwiGLU
//! backwards and the sum of squares against the plain f64 reference (`sqlora_kernel::reference`).
use sqlora_gpu::emulated::{LaunchConfig, ThreadOrder};
use sqlora_gpu::kernels::*;
use sqlora_gpu::launch::{Arg, NULL};
use sqlora_kernel::backend::{AdamWStep, Numerics, TrainBackend};
use sqlora_kernel::bench::inputs::f64s;
use sqlora_kernel::cpu::CpuBackend;
use sqlora_kernel::{reference, rng};

mod common;
use common::{go, i, out, ptr, values};

/// Runs `run` in both orders: the results must be identical bit for bit; returns one.
fn both_orders<T: PartialEq + std::fmt::Debug>(what: &str, run: impl Fn(ThreadOrder) -> T) -> T {
    let fwd = run(ThreadOrder::Forward);
    let rev = run(ThreadOrder::Reverse);
    assert_eq!(fwd, rev, "{what}: the thread orders disagree");
    fwd
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn assert_close(what: &str, got: &[f32], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let err = (*g as f64 - w).abs() / (1.0 + w.abs());
        assert!(err <= tol, "{what}: [{i}] {g} vs {w} (relative error {err:.2e} > {tol:.0e})");
    }
}

/// Grid shapes for the grid-stride kernels: fewer threads than values, more, and one block.
const GRIDS: [(u32, u32); 3] = [(1, 32), (3, 64), (64, 256)];

#[test]
fn scatter_rows_is_the_cpu_scatter() {
    for (count, n, total) in [(1usize, 1usize, 1usize), (3, 31, 7), (7, 100, 12)] {
        let x = values(count * n, 1);
        // Distinct rows (5 is prime to every `total`) out of order; the other rows of `out` stay.
        let rows: Vec<usize> = (0..count).map(|r| (r * 5 + 3) % total).collect();
        let idx: Vec<u32> = rows.iter().map(|&r| r as u32).collect();
        let before = values(total * n, 2);
        let mut want = before.clone();
        CpuBackend::new(Numerics::Exact).scatter_rows(&x, &rows, n, &mut want);
        for (blocks, threads) in GRIDS {
            let got = both_orders("scatter_rows", |order| {
                let mut o = before.clone();
                go(&scatter_rows_f32, LaunchConfig::linear(blocks, threads), order, &[ptr(&x), ptr(&idx), out(&mut o), i(count), i(n)]);
                bits(&o)
            });
            assert_eq!(got, bits(&want), "scatter_rows {count}×{n} into {total} rows");
        }
    }
}

#[test]
fn dropout_keeps_the_cpu_mask_bit_for_bit() {
    // Seeds with high and low halves set (the kernel takes them as two words).
    for (n, p, seed) in
        [(1usize, 0.5f32, 0u64), (1000, 0.1, 0xDEAD_BEEF_0123_4567), (777, 0.5, 1 << 40), (300, 0.0, 7), (300, 0.9, u64::MAX)]
    {
        let x = values(n, 3);
        let scale = 1.0 / (1.0 - p);
        let want: Vec<f32> = (0..n).map(|k| if rng::dropout_keeps(seed, k as u64, p) { x[k] * scale } else { 0.0 }).collect();
        let mut cpu = vec![0f32; n];
        CpuBackend::new(Numerics::Exact).dropout(&x, n, p, seed, &mut cpu);
        assert_eq!(bits(&cpu), bits(&want), "the CPU's dropout");
        for (blocks, threads) in GRIDS {
            let got = both_orders("dropout", |order| {
                let mut o = vec![f32::NAN; n];
                let args = [ptr(&x), out(&mut o), i(n), Arg::F32(p), Arg::F32(scale), Arg::U32(seed as u32), Arg::U32((seed >> 32) as u32)];
                go(&dropout_f32, LaunchConfig::linear(blocks, threads), order, &args);
                bits(&o)
            });
            assert_eq!(got, bits(&want), "dropout n {n}, p {p}, seed {seed:#x}");
        }
    }
}

/// dx and (with the dw kernels) dw = dw0 + the weight gradient of RMSNorm's backward, as the backend
/// launches them, for (rows, row length, threads per row's block, rows per dw chunk).
fn rmsnorm_bwd(
    [dy, x, w, dw0]: [&[f32]; 4],
    (m, n, threads, chunk_rows): (usize, usize, u32, usize),
    order: ThreadOrder,
) -> (Vec<f32>, Vec<f32>) {
    let (mut dx, mut dw, mut inv) = (vec![f32::NAN; m * n], dw0.to_vec(), vec![f32::NAN; m]);
    let args = [ptr(dy), ptr(x), ptr(w), out(&mut dx), out(&mut inv), i(n), Arg::F32(1e-5)];
    go(&rmsnorm_bwd_f32, LaunchConfig::linear(m as u32, threads), order, &args);
    let chunks = m.div_ceil(chunk_rows);
    let mut partial = vec![f32::NAN; chunks * n];
    let cfg = LaunchConfig { grid: [n.div_ceil(64) as u32, chunks as u32, 1], block: [64, 1, 1], shared_bytes: 0 };
    go(&rmsnorm_bwd_dw_partial_f32, cfg, order, &[ptr(dy), ptr(x), ptr(&inv), out(&mut partial), i(m), i(n), i(chunk_rows)]);
    go(&rmsnorm_bwd_dw_sum_f32, LaunchConfig::linear(2, 32), order, &[ptr(&partial), out(&mut dw), i(chunks), i(n)]);
    (dx, dw)
}

#[test]
fn rmsnorm_bwd_matches_the_reference() {
    // (rows, row length, threads, rows per dw chunk): rows below, at and above a block, not multiples
    // of 32; one chunk of rows, several, a ragged last one.
    for (m, n, threads, chunk_rows) in [(1, 1, 32, 64), (3, 31, 32, 2), (5, 576, 256, 64), (70, 100, 128, 16), (4, 2049, 1024, 3)] {
        let (dy, x, w, dw0) = (values(m * n, 4), values(m * n, 5), values(n, 6), values(n, 7));
        let (dx, dw) = both_orders("rmsnorm_bwd", |order| {
            let (dx, dw) = rmsnorm_bwd([&dy, &x, &w, &dw0], (m, n, threads, chunk_rows), order);
            (bits(&dx), bits(&dw))
        });
        let (want_dx, want_dw) = reference::rmsnorm_bwd(&f64s(&dy), &f64s(&x), &f64s(&w), n, 1e-5);
        let want_dw: Vec<f64> = want_dw.iter().zip(&dw0).map(|(d, w0)| d + *w0 as f64).collect();
        let what = format!("rmsnorm_bwd {m}×{n}, {threads} threads, chunks of {chunk_rows}");
        assert_close(&format!("{what}: dx"), &dx.iter().map(|b| f32::from_bits(*b)).collect::<Vec<_>>(), &want_dx, 1e-5);
        assert_close(&format!("{what}: dw"), &dw.iter().map(|b| f32::from_bits(*b)).collect::<Vec<_>>(), &want_dw, 1e-5);
    }
    // Without dw: no inverse saved, dx the same.
    let (m, n) = (3, 40);
    let (dy, x, w) = (values(m * n, 8), values(m * n, 9), values(n, 10));
    let mut dx = vec![0f32; m * n];
    go(
        &rmsnorm_bwd_f32,
        LaunchConfig::linear(m as u32, 64),
        ThreadOrder::Forward,
        &[ptr(&dy), ptr(&x), ptr(&w), out(&mut dx), NULL, i(n), Arg::F32(1e-5)],
    );
    assert_eq!(bits(&dx), bits(&rmsnorm_bwd([&dy, &x, &w, &[0.0; 40]], (m, n, 64, 64), ThreadOrder::Forward).0));
}

#[test]
fn swiglu_bwd_matches_the_reference() {
    for n in [1usize, 33, 1000] {
        let (dy, up) = (values(n, 11), values(n, 12));
        // The MLP's range, and far out where exp(±g) overflows in f32 (silu → −0, σ(−g) → 0).
        let gate: Vec<f32> = values(n, 13).iter().enumerate().map(|(k, g)| if k % 7 == 3 { g * 60.0 } else { g * 4.0 }).collect();
        let (want_dg, want_du) = reference::swiglu_bwd(&f64s(&dy), &f64s(&gate), &f64s(&up));
        for (blocks, threads) in GRIDS {
            let (dg, du) = both_orders("swiglu_bwd", |order| {
                let (mut dg, mut du) = (vec![f32::NAN; n], vec![f32::NAN; n]);
                go(
                    &swiglu_bwd_f32,
                    LaunchConfig::linear(blocks, threads),
                    order,
                    &[ptr(&dy), ptr(&gate), ptr(&up), out(&mut dg), out(&mut du), i(n)],
                );
                (bits(&dg), bits(&du))
            });
            let f = |b: Vec<u32>| b.into_iter().map(f32::from_bits).collect::<Vec<_>>();
            assert_close(&format!("swiglu_bwd {n}: d gate"), &f(dg), &want_dg, 2e-6);
            assert_close(&format!("swiglu_bwd {n}: d up"), &f(du), &want_du, 2e-6);
        }
    }
}

#[test]
fn sum_squares_matches_the_reference() {
    for n in [1usize, 33, 1000, 5000] {
        let x = values(n, 14);
        let want: f64 = x.iter().map(|v| *v as f64 * *v as f64).sum();
        for (blocks, threads) in GRIDS {
            let got = both_orders("sum_squares", |order| {
                let mut partial = vec![f64::NAN; blocks as usize];
                go(&sum_squares_f32, LaunchConfig::linear(blocks, threads), order, &[ptr(&x), out(&mut partial), i(n)]);
                partial.iter().sum::<f64>().to_bits()
            });
            let got = f64::from_bits(got);
            assert!((got - want).abs() <= 1e-12 * want, "sum_squares {n}, {blocks}×{threads}: {got} vs {want}");
        }
    }
}

/// The AdamW step's constants as kernel/src/cpu/ops/adamw.rs computes them (f64, rounded once), in
/// `adamw_f32`'s order (the backend's `adamw_constants`).
fn adamw_constants(s: AdamWStep) -> [f32; 9] {
    let lr_t = (s.lr / (1.0 - s.beta1.powi(s.t as i32))) as f32;
    let bc2 = (1.0 - s.beta2.powi(s.t as i32)).sqrt() as f32;
    let (b1, b2, c1, c2) = (s.beta1 as f32, s.beta2 as f32, (1.0 - s.beta1) as f32, (1.0 - s.beta2) as f32);
    [(1.0 - s.lr * s.weight_decay) as f32, b1, b2, c1, c2, lr_t, bc2, s.eps as f32, s.grad_scale as f32]
}

#[test]
fn adamw_is_the_cpu_backends_bit_for_bit_and_near_the_reference() {
    let cpu = CpuBackend::new(Numerics::Exact);
    let steps = [
        AdamWStep { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01, t: 1, grad_scale: 1.0 },
        AdamWStep { lr: 2e-4, beta1: 0.8, beta2: 0.95, eps: 1e-6, weight_decay: 0.0, t: 1, grad_scale: 0.37 },
    ];
    for (n, s) in [(1usize, 0usize), (1000, 0), (4097, 1)] {
        let step0 = steps[s];
        let p0 = values(n, 15);
        // Gradients of mixed sizes, some zero (v stays 0: sqrt(0)/bc2 + eps).
        let g: Vec<f32> =
            values(n, 16).iter().enumerate().map(|(k, v)| if k % 11 == 5 { 0.0 } else { v * 10f32.powi(k as i32 % 5 - 2) }).collect();
        for (blocks, threads) in GRIDS {
            let (mut p_c, mut m_c, mut v_c) = (p0.clone(), vec![0f32; n], vec![0f32; n]);
            let (mut p_r, mut m_r, mut v_r) = (f64s(&p0), vec![0f64; n], vec![0f64; n]);
            let mut state = (p0.clone(), vec![0f32; n], vec![0f32; n]);
            // Three steps, each from the last one's state.
            for t in 1..=3 {
                let step = AdamWStep { t, ..step0 };
                cpu.adamw(&mut p_c, &g, &mut m_c, &mut v_c, n, step);
                let prev = state.clone();
                state = both_orders("adamw", |order| {
                    let (mut p, mut m, mut v) = prev.clone();
                    let mut args = vec![out(&mut p), ptr(&g), out(&mut m), out(&mut v), i(n)];
                    args.extend(adamw_constants(step).map(Arg::F32));
                    go(&adamw_f32, LaunchConfig::linear(blocks, threads), order, &args);
                    (p, m, v)
                });
                let what = format!("adamw n {n}, step {t}, {blocks}×{threads}");
                assert_eq!(bits(&state.0), bits(&p_c), "{what}: p");
                assert_eq!(bits(&state.1), bits(&m_c), "{what}: m");
                assert_eq!(bits(&state.2), bits(&v_c), "{what}: v");
                reference::adamw_step(
                    &mut p_r,
                    &f64s(&g),
                    &mut m_r,
                    &mut v_r,
                    step.lr,
                    (step.beta1, step.beta2),
                    step.eps,
                    step.weight_decay,
                    t,
                    step.grad_scale,
                );
                assert_close(&format!("{what}: p against the reference"), &state.0, &p_r, 1e-6);
            }
        }
    }
}
