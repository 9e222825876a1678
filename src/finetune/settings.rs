//! One fine-tuning setting: every hyper-parameter of a LoRA run, with defaults, read from a sweep
//! file (TOML) or from flags, and checked before anything is loaded. A run folder keeps its
//! settings as `settings.json`; resuming checks the folder's settings are the ones asked for.
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use sqlora_kernel::backend::Numerics;
use sqlora_kernel::lora::Proj;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// LoRA rank r.
    pub rank: usize,
    /// LoRA alpha; the update is scaled by alpha / r (alpha / √r with rslora).
    pub alpha: f64,
    pub rslora: bool,
    /// Dropout on the LoRA branch's input, as PEFT's lora_dropout.
    pub dropout: f64,
    /// Adapted projections: any of q,k,v,o,gate,up,down (or their _proj names), or "all".
    pub targets: Vec<String>,
    /// Peak learning rate.
    pub lr: f64,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Learning-rate schedule after warmup: "cosine", "linear" or "constant".
    pub schedule: String,
    /// Warmup as a fraction of the optimizer steps.
    pub warmup_ratio: f64,
    /// Clip the gradient's L2 norm to this (0: no clipping).
    pub max_grad_norm: f64,
    pub epochs: usize,
    /// Stop after this many optimizer steps (0: no limit); the schedule spans the steps actually run.
    pub max_steps: usize,
    /// Train on only the first N examples of the shuffled train set (0: all).
    pub max_examples: usize,
    /// Sequences per micro-batch.
    pub batch_size: usize,
    /// Micro-batches per optimizer step.
    pub grad_accum: usize,
    /// Longer examples (prompt + SQL, in tokens) are skipped and counted.
    pub max_len: usize,
    /// Train examples held out for the validation loss.
    pub val_examples: usize,
    /// Measure the validation loss every N steps (0: only at the end).
    pub val_every: usize,
    /// Write a checkpoint every N optimizer steps.
    pub checkpoint_every: usize,
    /// Seed of the shuffle, the held-out slice, the initialisation and dropout.
    pub seed: u64,
    /// The frozen weights' products (forward and input gradient): "exact" (f32 against the exactly
    /// decoded weights) or "int8" (activations and gradients rounded to 8 bits per block of 32,
    /// integer dot products: ≈ 2× faster products, docs/numerics.md has their agreement). A new run
    /// gets `DEFAULT_NUMERICS`; a settings file from before this setting was trained exactly.
    #[serde(default = "exact")]
    pub numerics: String,
}

fn exact() -> String {
    "exact".into()
}

/// The training numerics a new run gets when none is asked for: int8, since the end-to-end check
/// (docs/numerics.md#training-numerics) found its validation loss and whole-dev EX within noise of
/// the exact numerics' at about 1.5× the speed.
pub const DEFAULT_NUMERICS: &str = "int8";

impl Default for Settings {
    fn default() -> Self {
        Settings {
            rank: 16,
            alpha: 32.0,
            rslora: false,
            dropout: 0.0,
            targets: vec!["all".into()],
            lr: 2e-4,
            weight_decay: 0.0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            schedule: "cosine".into(),
            warmup_ratio: 0.03,
            max_grad_norm: 1.0,
            epochs: 1,
            max_steps: 0,
            max_examples: 0,
            batch_size: 8,
            grad_accum: 1,
            max_len: 1024,
            val_examples: 64,
            val_every: 100,
            checkpoint_every: 20,
            seed: 17,
            numerics: DEFAULT_NUMERICS.into(),
        }
    }
}

impl Settings {
    /// The target projections, in `Proj::ALL` order.
    pub fn target_projections(&self) -> Result<Vec<Proj>> {
        let mut out = Vec::new();
        for t in &self.targets {
            let t = t.trim();
            if t == "all" {
                out.extend(Proj::ALL);
                continue;
            }
            let full = if t.ends_with("_proj") { t.to_string() } else { format!("{t}_proj") };
            match Proj::from_hf_name(&full) {
                Some(p) => out.push(p),
                None => bail!("unknown LoRA target \"{t}\" (known: q, k, v, o, gate, up, down, or all)"),
            }
        }
        out.sort_unstable();
        out.dedup();
        if out.is_empty() {
            bail!("no LoRA targets given");
        }
        Ok(out)
    }

    /// Every setting that cannot work, named.
    pub fn check(&self) -> Result<()> {
        self.target_projections()?;
        let pos = |name: &str, v: usize| if v == 0 { bail!("{name} must be at least 1") } else { Ok(()) };
        pos("rank", self.rank)?;
        pos("epochs", self.epochs)?;
        pos("batch_size", self.batch_size)?;
        pos("grad_accum", self.grad_accum)?;
        pos("checkpoint_every", self.checkpoint_every)?;
        if self.max_len < 8 {
            bail!("max_len {} is too short for a prompt and its SQL", self.max_len);
        }
        let finite_pos =
            |name: &str, v: f64| if !(v.is_finite() && v > 0.0) { bail!("{name} must be a positive number, got {v}") } else { Ok(()) };
        finite_pos("lr", self.lr)?;
        finite_pos("alpha", self.alpha)?;
        finite_pos("eps", self.eps)?;
        if !(0.0..1.0).contains(&self.dropout) {
            bail!("dropout must be in [0, 1), got {}", self.dropout);
        }
        for (name, v) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&v) {
                bail!("{name} must be in [0, 1), got {v}");
            }
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            bail!("weight_decay must be ≥ 0, got {}", self.weight_decay);
        }
        if !(0.0..1.0).contains(&self.warmup_ratio) {
            bail!("warmup_ratio must be in [0, 1), got {}", self.warmup_ratio);
        }
        if !(self.max_grad_norm >= 0.0 && self.max_grad_norm.is_finite()) {
            bail!("max_grad_norm must be ≥ 0 (0 turns clipping off), got {}", self.max_grad_norm);
        }
        if !["cosine", "linear", "constant"].contains(&self.schedule.as_str()) {
            bail!("unknown schedule \"{}\" (cosine, linear or constant)", self.schedule);
        }
        self.backend_numerics()?;
        Ok(())
    }

    /// The backend numerics `numerics` names.
    pub fn backend_numerics(&self) -> Result<Numerics> {
        match self.numerics.as_str() {
            "exact" => Ok(Numerics::Exact),
            "int8" => Ok(Numerics::Int8),
            other => bail!("unknown numerics \"{other}\" (exact or int8)"),
        }
    }

    /// The LoRA scale s: alpha / r, or alpha / √r with rsLoRA.
    pub fn scale(&self) -> f64 {
        if self.rslora {
            self.alpha / (self.rank as f64).sqrt()
        } else {
            self.alpha / self.rank as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_are_named() {
        let err = |f: &dyn Fn(&mut Settings)| {
            let mut s = Settings::default();
            f(&mut s);
            s.check().unwrap_err().to_string()
        };
        assert!(err(&|s| s.targets = vec!["q".into(), "attn".into()]).contains("unknown LoRA target \"attn\""));
        assert!(err(&|s| s.rank = 0).contains("rank must be at least 1"));
        assert!(err(&|s| s.lr = -1e-4).contains("lr must be a positive number"));
        assert!(err(&|s| s.dropout = 1.0).contains("dropout"));
        assert!(err(&|s| s.schedule = "step".into()).contains("unknown schedule"));
        assert!(err(&|s| s.numerics = "bf16".into()).contains("unknown numerics \"bf16\""));
        Settings::default().check().unwrap();
        let s = Settings { targets: vec!["q".into(), "v_proj".into(), "q".into()], ..Settings::default() };
        assert_eq!(s.target_projections().unwrap(), vec![Proj::Q, Proj::V]);
    }

    /// A run folder from before the numerics setting was trained exactly: its settings read as exact
    /// (so resuming it keeps its numerics), and the setting round-trips.
    #[test]
    fn settings_without_numerics_read_as_exact() {
        let mut old = serde_json::to_value(Settings::default()).unwrap();
        old.as_object_mut().unwrap().remove("numerics");
        let s: Settings = serde_json::from_value(old).unwrap();
        assert_eq!(s.numerics, "exact");
        assert_eq!(s.backend_numerics().unwrap(), Numerics::Exact);
        let int8 = Settings { numerics: "int8".into(), ..Settings::default() };
        let back: Settings = serde_json::from_str(&serde_json::to_string(&int8).unwrap()).unwrap();
        assert_eq!(back.backend_numerics().unwrap(), Numerics::Int8);
    }
}
