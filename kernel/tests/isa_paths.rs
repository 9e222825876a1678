//! Every vector kernel on every ISA level this CPU has, against plain f64 references: dot products,
//! the softmax exponential, SwiGLU, RMSNorm, RoPE (both pairings), causal grouped-query attention (the
//! per-row decode path and the block path, over two cache segments), and the 8-bit quantizer. The
//! matrix products are in matmul_reference.rs; the model on each level in tiny_reference.rs and the
//! SmolLM2 tests (CI runs them with SQLORA_ISA set to each level).
use sqlora_kernel::backend::{AttnSeq, AttnShape, Backend, NormShape, RopeShape, Rows};
use sqlora_kernel::config::RopeStyle;
use sqlora_kernel::cpu::{int8, ops::swiglu::swiglu_chunk, vector};

mod common;

fn wave(n: usize, seed: usize) -> Vec<f32> {
    (0..n).map(|i| (((i * 7919 + seed * 104_729) % 2003) as f32 - 1001.0) / 400.0).collect()
}

#[test]
fn vector_kernels_match_f64_reference_on_every_isa() {
    common::for_each_isa(|isa| {
        // dot, with lengths that leave every kind of tail.
        for n in [1, 15, 16, 17, 31, 32, 33, 64, 100, 576] {
            let (a, b) = (wave(n, 1), wave(n, 2));
            let want: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            let mag: f64 = a.iter().zip(&b).map(|(x, y)| (*x as f64 * *y as f64).abs()).sum();
            let got = vector::dot(&a, &b) as f64;
            assert!((got - want).abs() <= 1e-6 * (1.0 + mag), "{isa} dot n={n}: {got} vs {want}");
        }
        // exp(v − max) and its sum, over lengths with tails.
        for n in [1, 7, 16, 33, 500] {
            let mut v: Vec<f32> = (0..n).map(|i| -(i as f32) * 0.37 + 1.5).collect();
            let want: Vec<f64> = v.iter().map(|x| (*x as f64 - 1.5).exp()).collect();
            let sum = vector::exp_sub_sum(&mut v, 1.5) as f64;
            for (g, w) in v.iter().zip(&want) {
                assert!((*g as f64 - w).abs() <= 3e-7 * w + 1e-38, "{isa} exp: {g} vs {w}");
            }
            let ws: f64 = want.iter().sum();
            assert!((sum - ws).abs() <= 1e-6 * ws, "{isa} exp sum {sum} vs {ws}");
        }
        // SwiGLU including where exp(−g) overflows.
        let gate: Vec<f32> = (0..999).map(|i| (i as f32 - 500.0) * 0.21).collect();
        let up = wave(999, 3);
        let mut out = vec![0f32; 999];
        swiglu_chunk(&gate, &up, &mut out);
        for ((o, g), u) in out.iter().zip(&gate).zip(&up) {
            let want = *g as f64 / (1.0 + (-*g as f64).exp()) * *u as f64;
            assert!((*o as f64 - want).abs() <= 5e-7 * want.abs() + 1e-30, "{isa} swiglu g={g}: {o} vs {want}");
        }
    });
}

backend_tests!(rmsnorm_and_rope_match_f64_reference, attention_matches_f64_reference);

fn rmsnorm_and_rope_match_f64_reference<B: Backend>(be: &B) {
    let isa = be.name();
    {
        let (m, n) = (3, 576);
        let x = wave(m * n, 4);
        let w = wave(n, 5);
        let mut out = be.zeros(m * n);
        be.rmsnorm(&be.upload(&x), &be.upload(&w), NormShape { rows: Rows { m, n }, eps: 1e-5 }, &mut out);
        let out = be.download(&out);
        for r in 0..m {
            let xr = &x[r * n..(r + 1) * n];
            let inv = 1.0 / (xr.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / n as f64 + 1e-5).sqrt();
            for j in 0..n {
                let want = xr[j] as f64 * inv * w[j] as f64;
                assert!((out[r * n + j] as f64 - want).abs() <= 2e-6 * (1.0 + want.abs()), "{isa} rmsnorm");
            }
        }
        let (heads, hd) = (3, 64);
        for style in [RopeStyle::Interleaved, RopeStyle::Half] {
            let x0 = wave(m * heads * hd, 6);
            let mut x = be.upload(&x0);
            let pos = [0u32, 7, 300];
            be.rope(&mut x, &pos, RopeShape { m, n_heads: heads, head_dim: hd, theta: 10000.0, style });
            let x = be.download(&x);
            for (r, &p) in pos.iter().enumerate() {
                for h in 0..heads {
                    for i in 0..hd / 2 {
                        let (a, b) = match style {
                            RopeStyle::Interleaved => (2 * i, 2 * i + 1),
                            RopeStyle::Half => (i, i + hd / 2),
                        };
                        let f = 1.0 / 10000f64.powf(2.0 * i as f64 / hd as f64);
                        let (c, s) = ((p as f64 * f).cos(), (p as f64 * f).sin());
                        let base = (r * heads + h) * hd;
                        let (u, v) = (x0[base + a] as f64, x0[base + b] as f64);
                        for (got, want) in [(x[base + a], u * c - v * s), (x[base + b], u * s + v * c)] {
                            assert!((got as f64 - want).abs() <= 1e-4 * (1.0 + want.abs()), "{isa} rope {style:?}: {got} vs {want}");
                        }
                    }
                }
            }
        }
    }
}

/// Causal GQA over a prefix segment and a sequence's own segment, for n_new = 1 and 3 (the per-row
/// decode kernel) and 40 (query blocks), against a plain softmax in f64.
fn attention_matches_f64_reference<B: Backend>(be: &B) {
    let isa = be.name();
    let shape = AttnShape { n_heads: 6, n_kv_heads: 2, head_dim: 64 };
    let (qrow, kvrow) = (shape.n_heads * shape.head_dim, shape.n_kv_heads * shape.head_dim);
    let prefix = 37;
    {
        for n_new in [1usize, 3, 40] {
            let own = 5 + n_new;
            let total = prefix + own;
            let (k0, v0) = (wave(prefix * kvrow, 7), wave(prefix * kvrow, 8));
            let (k1, v1) = (wave(own * kvrow, 9), wave(own * kvrow, 10));
            let q = wave(n_new * qrow, 11);
            let (tk0, tv0, tk1, tv1) = (be.upload(&k0), be.upload(&v0), be.upload(&k1), be.upload(&v1));
            let seqs = [AttnSeq { row0: 0, n_new, segments: vec![(&tk0, &tv0, prefix), (&tk1, &tv1, own)] }];
            let mut out = be.zeros(n_new * qrow);
            be.attention(&be.upload(&q), &seqs, shape, &mut out);
            let out = be.download(&out);
            let kv = |t: usize, which: u8, g: usize, d: usize| -> f64 {
                let (a, b) = if which == 0 { (&k0, &k1) } else { (&v0, &v1) };
                (if t < prefix { a[t * kvrow + g * 64 + d] } else { b[(t - prefix) * kvrow + g * 64 + d] }) as f64
            };
            for j in 0..n_new {
                let visible = total - n_new + j + 1;
                for h in 0..shape.n_heads {
                    let g = h / 3;
                    let s: Vec<f64> = (0..visible)
                        .map(|t| (0..64).map(|d| q[j * qrow + h * 64 + d] as f64 * kv(t, 0, g, d)).sum::<f64>() / 8.0)
                        .collect();
                    let mx = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = s.iter().map(|x| (x - mx).exp()).collect();
                    let z: f64 = e.iter().sum();
                    for d in 0..64 {
                        let want: f64 = (0..visible).map(|t| e[t] / z * kv(t, 1, g, d)).sum();
                        let got = out[j * qrow + h * 64 + d] as f64;
                        assert!(
                            (got - want).abs() <= 2e-5 * (1.0 + want.abs()),
                            "{isa} attention n_new={n_new} ({j},{h},{d}): {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}

/// The 8-bit quantizer equals C's roundf semantics (halves away from zero) on every ISA.
#[test]
fn int8_quantizer_matches_roundf_on_every_isa() {
    let mut x = wave(32 * 40, 12);
    // A block whose max is 127 makes d = 1, so these values sit exactly on halves; and one all-zero block.
    for (t, v) in x[..32].iter_mut().enumerate() {
        *v = if t == 0 { 127.0 } else { t as f32 - 16.5 };
    }
    x[32..64].iter_mut().for_each(|v| *v = 0.0);
    common::for_each_isa(|isa| {
        let q = int8::quantize_rows(&x, 40, 32);
        for (b, xb) in x.chunks_exact(32).enumerate() {
            let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
            let d = amax / 127.0;
            let id = if d > 0.0 { 1.0 / d } else { 0.0 };
            let want: Vec<i8> = xb.iter().map(|v| (v * id).round() as i8).collect();
            assert_eq!(&q.q[b * 32..(b + 1) * 32], &want[..], "{isa} block {b}");
            assert_eq!(q.d[b], d, "{isa} block {b} scale");
            assert_eq!(q.s[b], d * want.iter().map(|&v| v as i32).sum::<i32>() as f32, "{isa} block {b} sum");
        }
    });
}
