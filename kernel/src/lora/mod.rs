//! LoRA adapters on the host: y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ with s = α/r (α/√r with rsLoRA), for any subset of
//! a Llama layer's seven projections. An `Adapter` always holds PEFT's (Hugging Face's) layout; the
//! model uploads it to a backend (`Model::lora_params`, `Model::set_adapter`).
//!
//! - `peft`: PEFT's format (adapter_config.json + adapter_model.safetensors), read and written;
//! - `gguf`: llama.cpp's GGUF LoRA, read and written;
//! - `merge`: W + s·B·A into a dense Hugging Face model;
//! - `layout`: the one place that converts lora_B's q/k rows between PEFT's and the engine's order.
mod gguf;
mod layout;
mod merge;
mod peft;

pub use gguf::{load_gguf, save_gguf, save_gguf_as};
pub use layout::{b_from_engine, b_to_engine, permute_rows, rows_permuted};
pub use merge::{merge_hf, merge_into};
pub use peft::peft_name;

use crate::config::Config;
use crate::rng::Rng;
use crate::Error;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// How a file stores an adapter's weights: F32 (the trainer's own values) or F16 (half the size,
/// what llama.cpp's converter writes by default; peft and llama.cpp load either).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Storage {
    #[default]
    F32,
    F16,
}

impl Storage {
    /// The little-endian bytes of `v` in this storage.
    pub fn bytes(self, v: &[f32]) -> Vec<u8> {
        match self {
            Storage::F32 => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Storage::F16 => v.iter().flat_map(|x| half::f16::from_f32(*x).to_le_bytes()).collect(),
        }
    }
}

/// The seven projections of a Llama layer that an adapter may target, in PEFT's usual order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proj {
    Q,
    K,
    V,
    O,
    Gate,
    Up,
    Down,
}

impl Proj {
    pub const ALL: [Proj; 7] = [Proj::Q, Proj::K, Proj::V, Proj::O, Proj::Gate, Proj::Up, Proj::Down];

    /// Its position in `ALL` (checkpoint tensor names and per-layer arrays use it).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The PEFT / Hugging Face module name ("q_proj", …).
    pub fn hf_name(self) -> &'static str {
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"][self.index()]
    }

    /// llama.cpp's tensor name (`blk.{i}.{name}.weight`).
    pub fn gguf_name(self) -> &'static str {
        ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"][self.index()]
    }

    pub fn from_hf_name(name: &str) -> Option<Proj> {
        Proj::ALL.into_iter().find(|p| p.hf_name() == name)
    }

    pub fn from_gguf_name(name: &str) -> Option<Proj> {
        Proj::ALL.into_iter().find(|p| p.gguf_name() == name)
    }

    /// The Hugging Face block that holds it: "self_attn" or "mlp".
    pub fn block(self) -> &'static str {
        if self.index() < 4 {
            "self_attn"
        } else {
            "mlp"
        }
    }

    /// Whether RoPE rotates its output (q and k): the projections whose rows a GGUF llama permutes.
    pub fn is_rotated(self) -> bool {
        matches!(self, Proj::Q | Proj::K)
    }

    /// (input, output) features in `cfg`'s model.
    pub fn dims(self, c: &Config) -> (usize, usize) {
        match self {
            Proj::Q => (c.hidden, c.q_dim()),
            Proj::K | Proj::V => (c.hidden, c.kv_dim()),
            Proj::O => (c.q_dim(), c.hidden),
            Proj::Gate | Proj::Up => (c.hidden, c.intermediate),
            Proj::Down => (c.intermediate, c.hidden),
        }
    }
}

impl std::fmt::Display for Proj {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.hf_name())
    }
}

/// One adapted projection's weights: A (r × din) and B (dout × r), row-major, unscaled, Hugging Face
/// row order.
#[derive(Debug, Clone, PartialEq)]
pub struct LoraWeights {
    pub a: Vec<f32>,
    pub b: Vec<f32>,
    pub din: usize,
    pub dout: usize,
}

/// A host-side adapter: the weights of each adapted (layer, projection).
#[derive(Debug, Clone)]
pub struct Adapter {
    pub dir: PathBuf,
    pub r: usize,
    pub alpha: f64,
    /// rsLoRA scaling (α/√r instead of α/r).
    pub rslora: bool,
    /// `scale_of(r, alpha, rslora)`.
    pub scale: f32,
    pub modules: BTreeMap<(usize, Proj), LoraWeights>,
}

pub(crate) fn bad(path: &Path, msg: impl Into<String>) -> Error {
    Error::BadFile { path: path.to_path_buf(), msg: msg.into() }
}

impl Adapter {
    /// Reads a PEFT adapter directory (adapter_config.json + adapter_model.safetensors).
    pub fn load(dir: impl AsRef<Path>) -> crate::Result<Self> {
        peft::load(dir.as_ref())
    }

    /// PEFT's initialization (`init_lora_weights=True`) for every layer of `cfg` and each projection
    /// of `targets`: A (r × in) from torch's `kaiming_uniform_(a=√5)`, i.e. uniform(−1/√in, 1/√in), B
    /// zero. Deterministic in `seed`: A's values are drawn layer by layer, projections in `Proj::ALL`
    /// order, row-major, from `Rng::new(seed)`.
    pub fn init_peft(cfg: &Config, r: usize, alpha: f64, rslora: bool, targets: &[Proj], seed: u64) -> Adapter {
        let targets: BTreeSet<Proj> = targets.iter().copied().collect();
        let mut rng = Rng::new(seed);
        let mut modules = BTreeMap::new();
        for li in 0..cfg.n_layers {
            for &p in &targets {
                let (din, dout) = p.dims(cfg);
                let bound = 1.0 / (din as f32).sqrt();
                let a: Vec<f32> = (0..r * din).map(|_| rng.uniform(-bound, bound)).collect();
                modules.insert((li, p), LoraWeights { a, b: vec![0f32; dout * r], din, dout });
            }
        }
        Adapter { dir: PathBuf::new(), r, alpha, rslora, scale: scale_of(r, alpha, rslora), modules }
    }

    /// The adapted projections' names, in `Proj::ALL` order.
    pub fn targets(&self) -> Vec<&'static str> {
        let set: BTreeSet<Proj> = self.modules.keys().map(|&(_, p)| p).collect();
        set.into_iter().map(Proj::hf_name).collect()
    }

    /// The adapted layers, ascending.
    pub fn layers(&self) -> Vec<usize> {
        let set: BTreeSet<usize> = self.modules.keys().map(|&(l, _)| l).collect();
        set.into_iter().collect()
    }

    /// The one shape check: every module sits on a layer of `cfg`'s model with that projection's
    /// shape, and A and B hold r·din and dout·r values. The error names the adapter's folder.
    pub fn check_fits(&self, cfg: &Config) -> crate::Result<()> {
        for (&(li, p), w) in &self.modules {
            if li >= cfg.n_layers || p.dims(cfg) != (w.din, w.dout) {
                return Err(Error::BadInput(format!(
                    "{}: layer {li} {p} is {}→{}, the model has {} layers and {:?}",
                    self.dir.display(),
                    w.din,
                    w.dout,
                    cfg.n_layers,
                    p.dims(cfg)
                )));
            }
            if w.a.len() != self.r * w.din || w.b.len() != w.dout * self.r {
                return Err(Error::BadInput(format!("{}: layer {li} {p}: A/B sizes do not fit r = {}", self.dir.display(), self.r)));
            }
        }
        Ok(())
    }
}

/// s = α/r, or α/√r with rsLoRA.
pub fn scale_of(r: usize, alpha: f64, rslora: bool) -> f32 {
    (if rslora { alpha / (r as f64).sqrt() } else { alpha / r as f64 }) as f32
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::RopeStyle;

    pub(crate) fn tiny_cfg(style: RopeStyle) -> Config {
        Config {
            arch: crate::config::Arch::Llama,
            hidden: 16,
            n_layers: 2,
            n_heads: 4,
            n_kv_heads: 2,
            head_dim: 4,
            intermediate: 24,
            vocab: 32,
            rms_eps: 1e-5,
            rope_theta: 10000.0,
            rope_style: style,
            context: 64,
            tied: true,
            qkv_bias: false,
        }
    }

    /// An adapter on every projection of `cfg` with random, non-zero B.
    pub(crate) fn random_adapter(cfg: &Config, seed: u64) -> Adapter {
        let mut a = Adapter::init_peft(cfg, 4, 16.0, true, &Proj::ALL, seed);
        let mut rng = Rng::new(seed + 1);
        for w in a.modules.values_mut() {
            w.b.iter_mut().for_each(|x| *x = rng.uniform(-1.0, 1.0));
        }
        a
    }

    #[test]
    fn init_peft_is_kaiming_uniform_a_and_zero_b_and_deterministic() {
        let cfg = tiny_cfg(RopeStyle::Half);
        let targets = [Proj::Q, Proj::V, Proj::Down];
        let a = Adapter::init_peft(&cfg, 4, 8.0, false, &targets, 7);
        assert_eq!(a.modules.len(), 6);
        assert_eq!(a.targets(), vec!["q_proj", "v_proj", "down_proj"]);
        assert_eq!(a.scale, 2.0);
        for (&(_, p), w) in &a.modules {
            assert_eq!((w.din, w.dout), p.dims(&cfg));
            let bound = 1.0 / (w.din as f32).sqrt();
            assert!(w.a.iter().all(|x| x.abs() <= bound) && w.a.iter().any(|x| x.abs() > bound / 2.0));
            assert!(w.b.iter().all(|&x| x == 0.0));
        }
        let again = Adapter::init_peft(&cfg, 4, 8.0, false, &targets, 7);
        assert_eq!(a.modules, again.modules);
        let other = Adapter::init_peft(&cfg, 4, 8.0, false, &targets, 8);
        assert_ne!(a.modules, other.modules);
        assert_eq!(Adapter::init_peft(&cfg, 4, 8.0, true, &[Proj::Q], 7).scale, 4.0);
        a.check_fits(&cfg).unwrap();
        let mut other_model = cfg.clone();
        other_model.intermediate = 32;
        assert!(a.check_fits(&other_model).unwrap_err().to_string().contains("down_proj"));
    }

    #[test]
    fn proj_names_round_trip() {
        for p in Proj::ALL {
            assert_eq!(Proj::from_hf_name(p.hf_name()), Some(p));
            assert_eq!(Proj::from_gguf_name(p.gguf_name()), Some(p));
            assert_eq!(Proj::ALL[p.index()], p);
        }
        assert_eq!(Proj::ALL.iter().filter(|p| p.is_rotated()).count(), 2);
    }
}
