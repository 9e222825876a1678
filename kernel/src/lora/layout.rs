//! Row order of lora_B for q and k. llama.cpp's converter permutes the q/k rows of a llama model (per
//! head, Hugging Face's half-split RoPE pairs (j, j + d/2) become adjacent pairs (2j, 2j + 1)), and the
//! engine then rotates adjacent pairs (`RopeStyle::Interleaved`); a Hugging Face directory (either
//! architecture) and a qwen2 GGUF keep HF's order and `RopeStyle::Half`. An `Adapter` always holds HF's
//! order; these functions are the one place that converts.
use super::Proj;
use crate::config::{Config, RopeStyle};

/// Whether the engine holds the q/k rows of this model in llama.cpp's GGUF order (the rope style is
/// the key).
pub fn rows_permuted(cfg: &Config) -> bool {
    cfg.rope_style == RopeStyle::Interleaved
}

/// Whether llama.cpp's GGUF of this architecture holds q/k rows permuted (its converter does so for
/// llama, whether our copy of the model is a GGUF or a Hugging Face directory; not for qwen2).
pub(super) fn gguf_permutes(cfg: &Config) -> bool {
    cfg.arch == crate::config::Arch::Llama
}

/// Reorders the rows of a row-major [rows × cols] matrix whose rows are heads of `head_dim`:
/// `to_gguf` maps HF row h·d + s·d/2 + j to h·d + 2j + s (s ∈ {0, 1}), as llama.cpp's converter;
/// otherwise the inverse.
pub fn permute_rows(m: &[f32], cols: usize, head_dim: usize, to_gguf: bool) -> Vec<f32> {
    assert!(cols > 0 && head_dim.is_multiple_of(2) && m.len().is_multiple_of(cols * head_dim), "permute_rows: shape");
    let rows = m.len() / cols;
    let half = head_dim / 2;
    let mut out = vec![0f32; m.len()];
    for h0 in (0..rows).step_by(head_dim) {
        for s in 0..2 {
            for j in 0..half {
                let (hf, gg) = (h0 + s * half + j, h0 + 2 * j + s);
                let (from, to) = if to_gguf { (hf, gg) } else { (gg, hf) };
                out[to * cols..(to + 1) * cols].copy_from_slice(&m[from * cols..(from + 1) * cols]);
            }
        }
    }
    out
}

/// lora_B (dout × r) of projection `p` in the engine's row order for `cfg` (permuted for q/k when
/// `rows_permuted`, else as is).
pub fn b_to_engine(cfg: &Config, p: Proj, b: &[f32], r: usize) -> Vec<f32> {
    if p.is_rotated() && rows_permuted(cfg) {
        permute_rows(b, r, cfg.head_dim, true)
    } else {
        b.to_vec()
    }
}

/// The inverse of `b_to_engine`: lora_B back in Hugging Face / PEFT row order.
pub fn b_from_engine(cfg: &Config, p: Proj, b: &[f32], r: usize) -> Vec<f32> {
    if p.is_rotated() && rows_permuted(cfg) {
        permute_rows(b, r, cfg.head_dim, false)
    } else {
        b.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::tiny_cfg;
    use super::*;

    #[test]
    fn permute_then_unpermute_is_identity() {
        let m: Vec<f32> = (0..8 * 3 * 5).map(|x| x as f32).collect();
        for hd in [4, 8] {
            let p = permute_rows(&m, 5, hd, true);
            assert_ne!(p, m, "head_dim {hd} permutes something");
            assert_eq!(permute_rows(&p, 5, hd, false), m);
        }
        // llama.cpp's reshape(n_head, 2, d/2, cols).swapaxes(1, 2): one head of 4 rows → 0, 2, 1, 3.
        let one: Vec<f32> = (0..4).map(|x| x as f32).collect();
        assert_eq!(permute_rows(&one, 1, 4, true), vec![0.0, 2.0, 1.0, 3.0]);
    }

    #[test]
    fn engine_layout_permutes_only_qk_of_interleaved_models() {
        let b: Vec<f32> = (0..16 * 3).map(|x| x as f32).collect();
        let gguf = tiny_cfg(RopeStyle::Interleaved);
        let hf = tiny_cfg(RopeStyle::Half);
        assert_ne!(b_to_engine(&gguf, Proj::Q, &b, 3), b);
        assert_eq!(b_from_engine(&gguf, Proj::Q, &b_to_engine(&gguf, Proj::Q, &b, 3), 3), b);
        assert_eq!(b_to_engine(&gguf, Proj::V, &b, 3), b);
        assert_eq!(b_to_engine(&hf, Proj::Q, &b, 3), b);
    }
}
