//! The training attention kernels (gpu/kernels/attention_train.cu) on the emulator against the f64
//! reference (`reference::attention_fwd`, `reference::attention_bwd`): a packed batch of sequences of
//! 1, 5, 37 and 70 rows (one row, less than a tile, tiles of 16 query or key rows crossing spans of 32
//! keys or queries, several of them), GQA 3:1, 2:2 and 4:2, heads of 32, 64 and 128 dimensions. Every
//! launch runs in both thread orders, which must agree bit for bit (the kernels promise determinism:
//! no atomics, every sum in a fixed order).
//!
//! Tolerance: |got − want| ≤ 1e-5·(1 + |want|). The kernels sum in f32: a score is a dot product of
//! at most 128 products of values in [−2, 2) (times 1/√hd), P = e^(s − lse) carries the score's
//! absolute error (≈ √hd·ε·|terms| ≈ 1e-6) as a relative one, and dq, dk, dv are sums of at most 70·3
//! such terms whose f32 rounding is ≈ √n·ε relative; dS = P·(dP − dd) subtracts two dot products of
//! |value| ≲ 15, each good to ≈ 1e-6 absolute. Every error is thus a few 1e-6 of the values' scale
//! (which is O(1) here), well inside 1e-5 yet far below what a wrong mask, head or scale would give.
use sqlora_gpu::emulated::{LaunchConfig, ThreadOrder};
use sqlora_gpu::kernels::*;
use sqlora_kernel::backend::AttnShape;
use sqlora_kernel::bench::inputs::f64s;
use sqlora_kernel::reference;

mod common;
use common::{go, i, out, ptr, values};

/// Runs `launch` (one launch, returning what it wrote) in both orders: the results must be identical.
fn both_orders(what: &str, launch: impl Fn(ThreadOrder) -> Vec<Vec<f32>>) -> Vec<Vec<f32>> {
    let fwd = launch(ThreadOrder::Forward);
    let rev = launch(ThreadOrder::Reverse);
    for (a, b) in fwd.iter().zip(&rev) {
        assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()), "{what}: the thread orders disagree");
    }
    fwd
}

fn assert_close(what: &str, got: &[f32], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}");
    let mut worst = 0.0f64;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let err = (*g as f64 - w).abs() / (1.0 + w.abs());
        assert!(err <= tol, "{what}: [{i}] {g} vs {w} (relative error {err:.2e} > {tol:.0e})");
        worst = worst.max(err);
    }
    eprintln!("{what}: worst relative error {worst:.2e}");
}

/// The kernels' tiles (attention_train.cu's TrainAttnTile): 16 rows of a sequence each.
fn tiles(seqs: &[(usize, usize)]) -> Vec<i32> {
    let mut t = Vec::new();
    for &(row0, len) in seqs {
        for first in (0..len).step_by(16) {
            t.extend([row0 as i32, len as i32, first as i32, 16.min(len - first) as i32]);
        }
    }
    t
}

fn block(grid: [usize; 2]) -> LaunchConfig {
    LaunchConfig { grid: [grid[0] as u32, grid[1] as u32, 1], block: [128, 1, 1], shared_bytes: 0 }
}

/// Forward and backward at one shape over the packed sequences `seqs` (every row in one).
fn check(seqs: &[(usize, usize)], s: AttnShape) {
    let rows: usize = seqs.iter().map(|&(_, len)| len).sum();
    let (nh, nkv, hd) = (s.n_heads, s.n_kv_heads, s.head_dim);
    let (qd, kvd) = (nh * hd, nkv * hd);
    let (q, k, v, dout) = (values(rows * qd, 11), values(rows * kvd, 12), values(rows * kvd, 13), values(rows * qd, 14));
    let tiles = tiles(seqs);
    let n_tiles = tiles.len() / 4;
    let label = format!("{seqs:?} {s:?}");

    // The forward: out and lse, written over NaN (every row is in a sequence).
    let fwd = both_orders(&format!("attention_packed_f32 {label}"), |order| {
        let (mut o, mut lse) = (vec![f32::NAN; rows * qd], vec![f32::NAN; rows * nh]);
        let args = [ptr(&q), ptr(&k), ptr(&v), ptr(&tiles), out(&mut o), out(&mut lse), i(nh), i(nkv), i(hd)];
        go(&attention_packed_f32, block([n_tiles, nh]), order, &args);
        vec![o, lse]
    });
    let (o, lse) = (&fwd[0], &fwd[1]);
    let (want_o, want_lse) = reference::attention_fwd(&f64s(&q), &f64s(&k), &f64s(&v), seqs, s);
    assert_close(&format!("out {label}"), o, &want_o, 1e-5);
    assert_close(&format!("lse {label}"), lse, &want_lse, 1e-5);

    // The backward from the forward's out and lse, as the engine runs it.
    let dd = both_orders(&format!("attention_packed_bwd_dot_f32 {label}"), |order| {
        let mut dd = vec![f32::NAN; rows * nh];
        let args = [ptr(&dout), ptr(o), out(&mut dd), i(rows), i(nh), i(hd)];
        go(&attention_packed_bwd_dot_f32, LaunchConfig::linear((rows * nh).div_ceil(4) as u32, 128), order, &args);
        vec![dd]
    });
    let dd = &dd[0];
    let want_dd: Vec<f64> = (0..rows * nh).map(|w| (0..hd).map(|d| dout[w * hd + d] as f64 * o[w * hd + d] as f64).sum()).collect();
    assert_close(&format!("dd {label}"), dd, &want_dd, 1e-5);
    let dq = both_orders(&format!("attention_packed_bwd_dq_f32 {label}"), |order| {
        let mut dq = vec![f32::NAN; rows * qd];
        let args = [ptr(&q), ptr(&k), ptr(&v), ptr(&dout), ptr(lse), ptr(dd), ptr(&tiles), out(&mut dq), i(nh), i(nkv), i(hd)];
        go(&attention_packed_bwd_dq_f32, block([n_tiles, nh]), order, &args);
        vec![dq]
    });
    let dkv = both_orders(&format!("attention_packed_bwd_dkv_f32 {label}"), |order| {
        let (mut dk, mut dv) = (vec![f32::NAN; rows * kvd], vec![f32::NAN; rows * kvd]);
        let args =
            [ptr(&q), ptr(&k), ptr(&v), ptr(&dout), ptr(lse), ptr(dd), ptr(&tiles), out(&mut dk), out(&mut dv), i(nh), i(nkv), i(hd)];
        go(&attention_packed_bwd_dkv_f32, block([n_tiles, nkv]), order, &args);
        vec![dk, dv]
    });
    let (want_dq, want_dk, want_dv) = reference::attention_bwd(&f64s(&dout), &f64s(&q), &f64s(&k), &f64s(&v), seqs, s);
    assert_close(&format!("dq {label}"), &dq[0], &want_dq, 1e-5);
    assert_close(&format!("dk {label}"), &dkv[0], &want_dk, 1e-5);
    assert_close(&format!("dv {label}"), &dkv[1], &want_dv, 1e-5);
}

/// Sequences of the given lengths packed one after another: (row0, len).
fn packed(lens: &[usize]) -> Vec<(usize, usize)> {
    let mut row0 = 0;
    lens.iter()
        .map(|&len| {
            let s = (row0, len);
            row0 += len;
            s
        })
        .collect()
}

#[test]
fn training_attention_gqa_3_to_1_head_dim_64_matches_the_reference() {
    check(&packed(&[5, 70, 1, 37]), AttnShape { n_heads: 3, n_kv_heads: 1, head_dim: 64 });
}

#[test]
fn training_attention_2_to_2_head_dim_128_matches_the_reference() {
    check(&packed(&[37, 1, 70, 5]), AttnShape { n_heads: 2, n_kv_heads: 2, head_dim: 128 });
}

#[test]
fn training_attention_gqa_4_to_2_head_dim_32_matches_the_reference() {
    check(&packed(&[1, 5, 37, 70]), AttnShape { n_heads: 4, n_kv_heads: 2, head_dim: 32 });
}

#[test]
fn training_attention_of_a_single_one_row_sequence_is_its_value() {
    // One row sees only itself: out = v, lse = its score, dq = dk = 0 (P = 1 whatever the score), dv = dout.
    check(&[(0, 1)], AttnShape { n_heads: 2, n_kv_heads: 1, head_dim: 48 });
}
