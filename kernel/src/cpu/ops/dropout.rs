//! Inverted dropout on the LoRA branch's input; its own backward (the same mask, regenerated).
use rayon::prelude::*;

/// Inverted dropout (`TrainBackend::dropout`), in parallel chunks; element i's mask depends on i only.
pub fn dropout(x: &[f32], p: f32, seed: u64, out: &mut [f32]) {
    const CHUNK: usize = 1 << 14;
    let scale = 1.0 / (1.0 - p);
    out.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK)).enumerate().for_each(|(c, (o, xs))| {
        for (j, (o, &v)) in o.iter_mut().zip(xs).enumerate() {
            *o = if crate::rng::dropout_keeps(seed, (c * CHUNK + j) as u64, p) { v * scale } else { 0.0 };
        }
    });
}
