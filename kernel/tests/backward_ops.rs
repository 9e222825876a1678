//! The training ops, llm.c style. Two kinds of checks:
//! - `*_reference_matches_finite_differences`: each f64 reference backward (`sqlora_kernel::reference`)
//!   against central finite differences of its f64 forward, for L = Σ dy·f(x) with a random dy;
//! - `*_matches_reference`: each backend op (f32), forward and backward, against the f64 reference,
//!   written once over any backend and run on every backend row (on the CPU: every ISA level this CPU
//!   has), with shapes that leave SIMD tails and partial panels.
use sqlora_kernel::backend::{
    AdamWStep, AttnSaved, AttnSeq, AttnShape, LoraGradMut, LoraRef, LoraShape, NormShape, Qkv, QkvMut, RopeShape, Rows, TrainBackend,
};
use sqlora_kernel::bench::cases::ENCODINGS;
use sqlora_kernel::bench::inputs::{down, f64s, matrix_of, rand, rel_err, up, FAST_TOL};
use sqlora_kernel::config::RopeStyle;
use sqlora_kernel::cpu::{CpuBackend, CpuMatrix};
use sqlora_kernel::formats::quant::GgmlType;
use sqlora_kernel::reference as rf;

mod common;

backend_tests!(
    gpu:
    elementwise_bwd_matches_reference,
    matmul_bwd_matches_reference_for_every_encoding,
    lora_fwd_bwd_matches_reference,
    attention_packed_and_bwd_match_reference,
    attention_packed_matches_inference_attention,
    cross_entropy_matches_reference,
    adamw_and_sum_squares_match_reference,
    rows_copy_gather_scatter_match_reference,
);

fn dotf(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

const FD_STEP: f64 = 1e-5;
/// Central differences in f64 with step 1e-5 are accurate to ~1e-10 relative on these smooth ops.
const FD_TOL: f64 = 1e-7;

/// Central finite differences of the scalar `loss` at x, one coordinate at a time.
fn numeric_grad(x: &[f64], loss: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let mut xp = x.to_vec();
    (0..x.len())
        .map(|i| {
            xp[i] = x[i] + FD_STEP;
            let lp = loss(&xp);
            xp[i] = x[i] - FD_STEP;
            let lm = loss(&xp);
            xp[i] = x[i];
            (lp - lm) / (2.0 * FD_STEP)
        })
        .collect()
}

fn check_fd(what: &str, analytic: &[f64], x: &[f64], loss: impl Fn(&[f64]) -> f64) {
    let num = numeric_grad(x, loss);
    let e = rel_err(analytic, &num);
    eprintln!("finite differences {what}: max rel err {e:.2e}");
    assert!(e < FD_TOL, "{what}: analytic gradient off finite differences by {e:.2e}");
}

#[test]
fn rmsnorm_reference_matches_finite_differences() {
    let (m, n, eps) = (3, 7, 1e-5);
    let (x, w, dy) = (rand(m * n, 1), rand(n, 2), rand(m * n, 3));
    let (dx, dw) = rf::rmsnorm_bwd(&dy, &x, &w, n, eps);
    check_fd("rmsnorm dx", &dx, &x, |x| dotf(&dy, &rf::rmsnorm_fwd(x, &w, n, eps)));
    check_fd("rmsnorm dw", &dw, &w, |w| dotf(&dy, &rf::rmsnorm_fwd(&x, w, n, eps)));
}

#[test]
fn rope_reference_matches_finite_differences() {
    let (m, heads, hd) = (3, 2, 8);
    let pos = [0u32, 5, 37];
    for style in [RopeStyle::Interleaved, RopeStyle::Half] {
        let (x, dy) = (rand(m * heads * hd, 4), rand(m * heads * hd, 5));
        let mut dx = dy.clone();
        rf::rope_bwd(&mut dx, heads, hd, &pos, 10000.0, style);
        check_fd(&format!("rope {style:?}"), &dx, &x, |x| {
            let mut y = x.to_vec();
            rf::rope_fwd(&mut y, heads, hd, &pos, 10000.0, style);
            dotf(&dy, &y)
        });
    }
}

#[test]
fn swiglu_reference_matches_finite_differences() {
    let n = 20;
    let gate: Vec<f64> = rand(n, 6).iter().map(|v| v * 6.0).collect();
    let (up, dy) = (rand(n, 7), rand(n, 8));
    let (dg, du) = rf::swiglu_bwd(&dy, &gate, &up);
    check_fd("swiglu d gate", &dg, &gate, |g| dotf(&dy, &rf::swiglu_fwd(g, &up)));
    check_fd("swiglu d up", &du, &up, |u| dotf(&dy, &rf::swiglu_fwd(&gate, u)));
}

#[test]
fn matmul_and_lora_references_match_finite_differences() {
    let (m, din, dout, r, s) = (3, 6, 5, 2, 1.7);
    let (x, w, dy) = (rand(m * din, 9), rand(dout * din, 10), rand(m * dout, 11));
    let dx = rf::matmul_bwd(&dy, m, &w, dout, din);
    check_fd("matmul dx", &dx, &x, |x| dotf(&dy, &rf::matmul_fwd(x, m, &w, dout, din)));
    let (a, b) = (rand(r * din, 12), rand(dout * r, 13));
    let (da, db, dxl) = rf::lora_bwd(&dy, &x, m, &a, &b, r, din, dout, s);
    let y = |x: &[f64], a: &[f64], b: &[f64]| dotf(&dy, &rf::lora_fwd(x, m, a, b, r, din, dout, s).0);
    check_fd("lora dA", &da, &a, |a| y(&x, a, &b));
    check_fd("lora dB", &db, &b, |b| y(&x, &a, b));
    check_fd("lora dx", &dxl, &x, |x| y(x, &a, &b));
}

#[test]
fn attention_reference_matches_finite_differences() {
    let s = AttnShape { n_heads: 4, n_kv_heads: 2, head_dim: 4 };
    let seqs = [(0, 5), (5, 3)];
    let rows = 8;
    let (q, k, v) = (rand(rows * 16, 14), rand(rows * 8, 15), rand(rows * 8, 16));
    let dy = rand(rows * 16, 17);
    let (dq, dk, dv) = rf::attention_bwd(&dy, &q, &k, &v, &seqs, s);
    let f = |q: &[f64], k: &[f64], v: &[f64]| dotf(&dy, &rf::attention_fwd(q, k, v, &seqs, s).0);
    check_fd("attention dq", &dq, &q, |q| f(q, &k, &v));
    check_fd("attention dk", &dk, &k, |k| f(&q, k, &v));
    check_fd("attention dv", &dv, &v, |v| f(&q, &k, v));
}

#[test]
fn cross_entropy_reference_matches_finite_differences() {
    let (vocab, n) = (37, 8);
    let hidden: Vec<f64> = rand(3 * n, 18).iter().map(|v| v * 2.0).collect();
    let w = rand(vocab * n, 19);
    let (targets, weights) = ([3u32, 36, 0], [0.25, 0.5, 1.0]);
    let (_, dh) = rf::cross_entropy(&hidden, &targets, &weights, &w, vocab, n);
    check_fd("cross-entropy dhidden", &dh, &hidden, |h| rf::cross_entropy(h, &targets, &weights, &w, vocab, n).0);
}

fn check_fast(what: &str, backend: &str, got: &[f64], want: &[f64], tol: f64) {
    let e = rel_err(got, want);
    eprintln!("{backend} {what}: max rel err {e:.2e}");
    assert!(e < tol, "{backend} {what}: {e:.2e} off the f64 reference");
}

fn elementwise_bwd_matches_reference<B: TrainBackend>(be: &B) {
    let isa = &be.name();
    // RMSNorm, rows with SIMD tails.
    for n in [7, 64, 100, 576] {
        let m = 5;
        let (x, w, dy) = (rand(m * n, 20), rand(n, 21), rand(m * n, 22));
        let (dx_ref, dw_ref) = rf::rmsnorm_bwd(&dy, &x, &w, n, 1e-5);
        let mut dx = be.zeros(m * n);
        let mut dw = be.upload(&vec![0.5f32; n]);
        be.rmsnorm_bwd(&up(be, &dy), &up(be, &x), &up(be, &w), NormShape { rows: Rows { m, n }, eps: 1e-5 }, &mut dx, Some(&mut dw));
        check_fast(&format!("rmsnorm dx n={n}"), isa, &down(be, &dx), &dx_ref, FAST_TOL);
        let dw_want: Vec<f64> = dw_ref.iter().map(|v| v + 0.5).collect();
        check_fast(&format!("rmsnorm dw (accumulated) n={n}"), isa, &down(be, &dw), &dw_want, FAST_TOL);
    }
    // RoPE: the backward of the backend's own forward is the identity, and matches the reference.
    let (m, heads, hd) = (4, 3, 64);
    let pos = [0u32, 1, 77, 300];
    for style in [RopeStyle::Interleaved, RopeStyle::Half] {
        let shape = RopeShape { m, n_heads: heads, head_dim: hd, theta: 10000.0, style };
        let dy = rand(m * heads * hd, 23);
        let mut dx_ref = dy.clone();
        rf::rope_bwd(&mut dx_ref, heads, hd, &pos, 10000.0, style);
        let mut d = up(be, &dy);
        be.rope_bwd(&mut d, &pos, shape);
        check_fast(&format!("rope bwd {style:?}"), isa, &down(be, &d), &dx_ref, 1e-5);
        be.rope(&mut d, &pos, shape);
        check_fast(&format!("rope fwd∘bwd {style:?}"), isa, &down(be, &d), &dy, 1e-6);
    }
    // SwiGLU over a range of gates, past where exp(−g) overflows, with a tail.
    let n = 1003;
    let gate: Vec<f64> = (0..n).map(|i| (i as f64 - 500.0) * 0.21).collect();
    let (upv, dy) = (rand(n, 24), rand(n, 25));
    let (dg_ref, du_ref) = rf::swiglu_bwd(&dy, &gate, &upv);
    let (mut dg, mut du) = (be.zeros(n), be.zeros(n));
    be.swiglu_bwd(&up(be, &dy), &up(be, &gate), &up(be, &upv), n, &mut dg, &mut du);
    check_fast("swiglu d gate", isa, &down(be, &dg), &dg_ref, 1e-6);
    check_fast("swiglu d up", isa, &down(be, &du), &du_ref, 1e-6);
}

/// dX = dY·W for every encoding the engine reads (dense f32/f16/bf16, the 4- and 8-bit panels, the
/// K-quants it dequantizes), rows that leave a partial panel and several weight chunks, row counts
/// that leave partial tiles.
fn matmul_bwd_matches_reference_for_every_encoding<B: TrainBackend>(be: &B) {
    let isa = &be.name();
    for ty in ENCODINGS {
        let (rows, cols) = if ty.block_size() == 256 { (300, 256) } else { (300, 96) };
        let (mat, w) = matrix_of(be, ty, rows, cols, 26);
        for m in [1, 9, 20] {
            let dy = up(be, &rand(m * rows, 27));
            let want = rf::matmul_bwd(&down(be, &dy), m, &f64s(&w), rows, cols);
            let mut dx = be.upload(&vec![f32::NAN; m * cols]);
            be.matmul_bwd(&dy, m, &mat, &mut dx, false);
            check_fast(&format!("matmul_bwd {} m={m}", ty.name()), isa, &down(be, &dx), &want, FAST_TOL);
            // accumulate: dx += dY·W again.
            be.matmul_bwd(&dy, m, &mat, &mut dx, true);
            let twice: Vec<f64> = want.iter().map(|v| 2.0 * v).collect();
            check_fast(&format!("matmul_bwd {} m={m} accumulated", ty.name()), isa, &down(be, &dx), &twice, FAST_TOL);
        }
    }
}

/// The CPU keeps the 4- and 8-bit encodings it multiplies directly as packed panels, and decodes the
/// rest to dense rows.
#[test]
fn cpu_keeps_4_and_8_bit_weights_packed() {
    for ty in ENCODINGS {
        let (mat, _) = matrix_of(&CpuBackend::default(), ty, 300, 256, 26);
        assert_eq!(
            matches!(mat, CpuMatrix::Quant(_)),
            matches!(ty, GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q8_0 | GgmlType::Q4K),
            "{ty:?}"
        );
    }
}

fn lora_fwd_bwd_matches_reference<B: TrainBackend>(be: &B) {
    let isa = &be.name();
    let (m, din, dout, r, s) = (11, 100, 70, 4, 2.0);
    let shape = LoraShape { r, din, dout, scale: s as f32 };
    let (x, a, b, dy) = (rand(m * din, 28), rand(r * din, 29), rand(dout * r, 30), rand(m * dout, 31));
    let (y_ref, xa_ref) = rf::lora_fwd(&x, m, &a, &b, r, din, dout, s);
    let (da_ref, db_ref, dx_ref) = rf::lora_bwd(&dy, &x, m, &a, &b, r, din, dout, s);
    let (xt, at, bt) = (up(be, &x), up(be, &a), up(be, &b));
    let l = || LoraRef { a: &at, b: &bt, shape };
    let mut xa = be.zeros(m * r);
    let mut y = be.upload(&vec![1f32; m * dout]);
    be.lora(&xt, m, l(), &mut xa, &mut y);
    check_fast("lora xa = x·Aᵀ", isa, &down(be, &xa), &xa_ref, FAST_TOL);
    let y_want: Vec<f64> = y_ref.iter().map(|v| v + 1.0).collect();
    check_fast("lora y += s·xa·Bᵀ", isa, &down(be, &y), &y_want, FAST_TOL);
    let (mut da, mut db, mut dx) = (be.zeros(r * din), be.zeros(dout * r), be.zeros(m * din));
    be.lora_bwd(&up(be, &dy), &xt, &xa, m, l(), LoraGradMut { a: &mut da, b: &mut db, x: &mut dx });
    check_fast("lora dA", isa, &down(be, &da), &da_ref, FAST_TOL);
    check_fast("lora dB", isa, &down(be, &db), &db_ref, FAST_TOL);
    check_fast("lora dx", isa, &down(be, &dx), &dx_ref, FAST_TOL);
}

fn attention_packed_and_bwd_match_reference<B: TrainBackend>(be: &B) {
    let isa = &be.name();
    for hd in [16, 24, 64] {
        let s = AttnShape { n_heads: 6, n_kv_heads: 2, head_dim: hd };
        // The last sequence spans several of the CPU kernel's 64-row causal blocks (and a partial one).
        let seqs = [(0, 37), (37, 1), (38, 20), (58, 150)];
        let rows = 208;
        let (qd, kvd) = (6 * hd, 2 * hd);
        let (q, k, v, dy) = (rand(rows * qd, 32), rand(rows * kvd, 33), rand(rows * kvd, 34), rand(rows * qd, 35));
        let (out_ref, lse_ref) = rf::attention_fwd(&q, &k, &v, &seqs, s);
        let (dq_ref, dk_ref, dv_ref) = rf::attention_bwd(&dy, &q, &k, &v, &seqs, s);
        let (qt, kt, vt) = (up(be, &q), up(be, &k), up(be, &v));
        let (mut out, mut lse) = (be.zeros(rows * qd), be.zeros(rows * 6));
        be.attention_packed(Qkv { q: &qt, k: &kt, v: &vt }, &seqs, s, &mut out, &mut lse);
        check_fast(&format!("attention out hd={hd}"), isa, &down(be, &out), &out_ref, FAST_TOL);
        check_fast(&format!("attention lse hd={hd}"), isa, &down(be, &lse), &lse_ref, FAST_TOL);
        let nan = |n: usize| be.upload(&vec![f32::NAN; n]);
        let (mut dq, mut dk, mut dv) = (nan(rows * qd), nan(rows * kvd), nan(rows * kvd));
        let grads = QkvMut { q: &mut dq, k: &mut dk, v: &mut dv };
        be.attention_packed_bwd(&up(be, &dy), Qkv { q: &qt, k: &kt, v: &vt }, AttnSaved { out: &out, lse: &lse }, &seqs, s, grads);
        check_fast(&format!("attention dq hd={hd}"), isa, &down(be, &dq), &dq_ref, FAST_TOL);
        check_fast(&format!("attention dk hd={hd}"), isa, &down(be, &dk), &dk_ref, FAST_TOL);
        check_fast(&format!("attention dv hd={hd}"), isa, &down(be, &dv), &dv_ref, FAST_TOL);
    }
}

/// The training forward gives the inference kernel's output (one sequence, no cache prefix).
fn attention_packed_matches_inference_attention<B: TrainBackend>(be: &B) {
    let s = AttnShape { n_heads: 4, n_kv_heads: 2, head_dim: 64 };
    let rows = 45;
    let (q, k, v) = (up(be, &rand(rows * 256, 36)), up(be, &rand(rows * 128, 37)), up(be, &rand(rows * 128, 38)));
    let (mut out, mut lse) = (be.zeros(rows * 256), be.zeros(rows * 4));
    be.attention_packed(Qkv { q: &q, k: &k, v: &v }, &[(0, rows)], s, &mut out, &mut lse);
    let mut inf = be.zeros(rows * 256);
    be.attention(&q, &[AttnSeq { row0: 0, n_new: rows, segments: vec![(&k, &v, rows)] }], s, &mut inf);
    check_fast("attention_packed vs attention", &be.name(), &down(be, &out), &down(be, &inf), 1e-5);
}

/// The fused head + cross-entropy against the reference's full logits, with a vocabulary of several
/// chunks (the last partial), a dense and a quantized head, and per-row weights.
fn cross_entropy_matches_reference<B: TrainBackend>(be: &B) {
    let isa = &be.name();
    let (vocab, n, r) = (4500, 64, 7);
    for ty in [GgmlType::F32, GgmlType::Q8_0, GgmlType::Q4_1] {
        let (head, w) = matrix_of(be, ty, vocab, n, 39);
        // Hidden states large enough that the softmax is peaked and its max moves across chunks.
        let hidden: Vec<f64> = rand(r * n, 40).iter().map(|v| v * 8.0).collect();
        let targets = [0u32, 1, 2047, 2048, 4095, 4499, 3000];
        let weights = [0.1f32, 0.2, 0.3, 0.4, 0.5, 0.6, 1.0];
        let (loss_ref, dh_ref) = rf::cross_entropy(&hidden, &targets, &f64s(&weights), &f64s(&w), vocab, n);
        let mut dh = be.upload(&vec![f32::NAN; r * n]);
        let loss = be.cross_entropy(&up(be, &hidden), &targets, &weights, &head, &mut dh);
        let e = (loss - loss_ref).abs() / loss_ref.abs();
        eprintln!("{isa} cross-entropy {}: loss {loss} vs {loss_ref} (rel {e:.2e})", ty.name());
        assert!(e < 1e-5, "{isa} {}: loss {loss} vs {loss_ref}", ty.name());
        check_fast(&format!("cross-entropy dhidden {}", ty.name()), isa, &down(be, &dh), &dh_ref, FAST_TOL);
    }
}

/// AdamW (several steps, so the bias corrections and moments matter) and the sum of squares.
fn adamw_and_sum_squares_match_reference<B: TrainBackend>(be: &B) {
    let isa = &be.name();
    let n = 10_001;
    let p0 = rand(n, 41);
    let (mut p, mut m, mut v) = (p0.clone(), vec![0.0; n], vec![0.0; n]);
    let (mut pt, mut mt, mut vt) = (up(be, &p0), be.zeros(n), be.zeros(n));
    for t in 1..=5u32 {
        let g: Vec<f64> = rand(n, 42 + t as u64).iter().map(|x| x * 0.01).collect();
        let (lr, scale) = (1e-3 * t as f64, 0.7);
        rf::adamw_step(&mut p, &g, &mut m, &mut v, lr, (0.9, 0.999), 1e-8, 0.1, t, scale);
        let step = AdamWStep { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.1, t, grad_scale: scale };
        be.adamw(&mut pt, &up(be, &g), &mut mt, &mut vt, n, step);
    }
    let pf = down(be, &pt);
    let dp: Vec<f64> = p.iter().zip(&p0).map(|(a, b)| a - b).collect();
    let dpf: Vec<f64> = pf.iter().zip(&p0).map(|(a, b)| ((a - b) as f32) as f64).collect();
    check_fast("adamw update (p − p0)", isa, &dpf, &dp, 1e-3);
    check_fast("adamw p", isa, &pf, &p, 1e-6);
    check_fast("adamw v", isa, &down(be, &vt), &v, 1e-5);
    let want: f64 = p0.iter().map(|x| x * x).sum();
    let got = be.sum_squares(&up(be, &p0), n);
    assert!((got - want).abs() < 1e-5 * want, "{isa} sum_squares {got} vs {want}");
}

/// The data-movement ops the training step uses to stay on the backend: copy, gather and its inverse
/// scatter, against plain index arithmetic.
fn rows_copy_gather_scatter_match_reference<B: TrainBackend>(be: &B) {
    let (m, n) = (9, 5);
    let x: Vec<f64> = (0..m * n).map(|i| i as f64).collect();
    let xt = up(be, &x);
    let mut c = be.zeros(m * n + 3);
    be.copy(&xt, &mut c, m * n);
    assert_eq!(down(be, &c)[..m * n], x[..]);
    let mut kv = be.upload(&vec![-1f32; 4 * n]);
    be.copy_rows(&xt, 6, &mut kv, 1, Rows { m: 2, n });
    let kv = down(be, &kv);
    assert_eq!(kv[n..3 * n], x[6 * n..8 * n]);
    assert!(kv[..n].iter().chain(&kv[3 * n..]).all(|&v| v == -1.0));
    let rows = [7usize, 0, 3];
    let mut g = be.zeros(rows.len() * n);
    be.gather_rows(&xt, &rows, n, &mut g);
    let g_host = down(be, &g);
    for (i, &r) in rows.iter().enumerate() {
        assert_eq!(g_host[i * n..(i + 1) * n], x[r * n..(r + 1) * n]);
    }
    let mut back = be.zeros(m * n);
    be.scatter_rows(&g, &rows, n, &mut back);
    let back = down(be, &back);
    for r in 0..m {
        let want: Vec<f64> = if rows.contains(&r) { x[r * n..(r + 1) * n].to_vec() } else { vec![0.0; n] };
        assert_eq!(back[r * n..(r + 1) * n], want[..], "row {r}");
    }
}
