//! The GPU backend's attention on the emulated device against the f64 reference, at shapes the tiny
//! models do not reach: sequences longer than a key tile (32) and than a query tile (16), a shared
//! prefix segment before each sequence's own, GQA ratios, head sizes 32 to 128 — prefill rows
//! (the tiled attention_prefill_f32) and decode rows (attention_f32, split-K over caches longer than
//! 256 positions with attention_combine_f32), in both thread orders.
use sqlora_gpu::emulated::ThreadOrder;
use sqlora_gpu::{EmulatedGpu, GpuBackend};
use sqlora_kernel::backend::{AttnSeq, AttnShape, Backend};
use sqlora_kernel::bench::inputs::f64s;
use sqlora_kernel::reference;

mod common;
use common::values;

/// One sequence: `len` positions in all, the first `prefix` in a segment of their own, the last
/// `new` the rows asked for.
struct Case {
    len: usize,
    prefix: usize,
    new: usize,
}

fn check(cases: &[Case], shape: AttnShape, order: ThreadOrder) -> Vec<f32> {
    let be = GpuBackend::new(EmulatedGpu { order });
    let (qd, kvd) = (shape.n_heads * shape.head_dim, shape.n_kv_heads * shape.head_dim);
    let data: Vec<(Vec<f32>, Vec<f32>, Vec<f32>)> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| (values(c.len * qd, 3 * i as u64 + 1), values(c.len * kvd, 3 * i as u64 + 2), values(c.len * kvd, 3 * i as u64 + 3)))
        .collect();
    // Device: every sequence's new rows of q packed; its prefix and own K/V segments.
    let q_new: Vec<f32> = cases.iter().zip(&data).flat_map(|(c, (q, _, _))| q[(c.len - c.new) * qd..].to_vec()).collect();
    let q_dev = be.upload(&q_new);
    let segs: Vec<_> = cases
        .iter()
        .zip(&data)
        .map(|(c, (_, k, v))| {
            let cut = c.prefix * kvd;
            ((be.upload(&k[..cut.max(kvd)]), be.upload(&v[..cut.max(kvd)])), (be.upload(&k[cut..]), be.upload(&v[cut..])))
        })
        .collect();
    let mut row0 = 0;
    let seqs: Vec<AttnSeq<'_, _>> = cases
        .iter()
        .zip(&segs)
        .map(|(c, ((pk, pv), (k, v)))| {
            let mut segments = Vec::new();
            if c.prefix > 0 {
                segments.push((pk, pv, c.prefix));
            }
            segments.push((k, v, c.len - c.prefix));
            let s = AttnSeq { row0, n_new: c.new, segments };
            row0 += c.new;
            s
        })
        .collect();
    let mut out = be.zeros(row0 * qd);
    be.attention(&q_dev, &seqs, shape, &mut out);
    let got = be.download(&out);
    // The reference sees each whole sequence; its last `new` rows are the ones compared.
    let mut r = 0;
    for (c, (q, k, v)) in cases.iter().zip(&data) {
        let (want, _) = reference::attention_fwd(&f64s(q), &f64s(k), &f64s(v), &[(0, c.len)], shape);
        for (i, w) in want[(c.len - c.new) * qd..].iter().enumerate() {
            let g = got[r * qd + i] as f64;
            assert!(
                (g - w).abs() <= 2e-5 * (1.0 + w.abs()),
                "len {} prefix {} new {}: value {i}: {g} vs {w} ({shape:?})",
                c.len,
                c.prefix,
                c.new
            );
        }
        r += c.new;
    }
    got
}

fn both_orders(cases: &[Case], shape: AttnShape) {
    let fwd = check(cases, shape, ThreadOrder::Forward);
    let rev = check(cases, shape, ThreadOrder::Reverse);
    assert!(fwd.iter().zip(&rev).all(|(a, b)| a.to_bits() == b.to_bits()), "the thread orders disagree ({shape:?})");
}

#[test]
fn prefill_attention_over_tiles_and_segments_matches_the_reference() {
    // Query tiles of 16 + 16 + 5 rows over keys in tiles of 32 that cross the prefix's end; a sequence
    // with no prefix; a two-row one; GQA 3:1 with SmolLM2's head size.
    let cases = [Case { len: 100, prefix: 40, new: 37 }, Case { len: 70, prefix: 0, new: 70 }, Case { len: 9, prefix: 5, new: 2 }];
    both_orders(&cases, AttnShape { n_heads: 3, n_kv_heads: 1, head_dim: 64 });
    both_orders(&cases[1..], AttnShape { n_heads: 2, n_kv_heads: 2, head_dim: 128 });
    both_orders(&[Case { len: 40, prefix: 33, new: 7 }], AttnShape { n_heads: 4, n_kv_heads: 2, head_dim: 32 });
}

#[test]
fn decode_attention_over_long_caches_matches_the_reference() {
    // One new row per sequence behind caches longer than a key tile, with and without a prefix; the
    // longest (600 positions) makes the backend split every row into three (split-K, 256 positions
    // each: one split crosses the prefix's end, the last is partly past the shorter rows' ends and
    // wholly past the 45-position row's).
    let cases = [Case { len: 600, prefix: 300, new: 1 }, Case { len: 150, prefix: 100, new: 1 }, Case { len: 45, prefix: 0, new: 1 }];
    both_orders(&cases, AttnShape { n_heads: 3, n_kv_heads: 1, head_dim: 64 });
    both_orders(&cases[1..], AttnShape { n_heads: 4, n_kv_heads: 2, head_dim: 128 });
}
