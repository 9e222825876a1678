//! Training building blocks over `B: Backend`: AdamW over the LoRA weights, learning-rate schedules
//! and gradient clipping, each as PyTorch / transformers define it (checked against them on the tiny
//! fixtures, kernel/tests/train_reference.rs). The trainer loop (data, accumulation, checkpoints)
//! builds on these.
use crate::backend::{AdamWStep, TrainBackend};
use crate::model::{Dropout, LoraParams, Model, TrainSeq};
use crate::Result;

/// torch.optim.AdamW's settings.
#[derive(Debug, Clone, Copy)]
pub struct AdamW {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamW {
    /// PyTorch's defaults.
    fn default() -> Self {
        AdamW { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 }
    }
}

/// The learning rate's factor per optimizer step, as transformers' schedulers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    Constant,
    /// `get_linear_schedule_with_warmup`: s / warmup, then linearly to 0 at `total`.
    Linear {
        warmup: usize,
        total: usize,
    },
    /// `get_cosine_schedule_with_warmup` (half a cosine wave): s / warmup, then ½(1 + cos(π·progress)).
    Cosine {
        warmup: usize,
        total: usize,
    },
}

impl Schedule {
    /// The factor of step `s` (0 for the first optimizer step).
    pub fn factor(&self, s: usize) -> f64 {
        let (warmup, total) = match *self {
            Schedule::Constant => return 1.0,
            Schedule::Linear { warmup, total } | Schedule::Cosine { warmup, total } => (warmup, total),
        };
        if s < warmup {
            return s as f64 / warmup.max(1) as f64;
        }
        let progress = (s - warmup) as f64 / (total.saturating_sub(warmup)).max(1) as f64;
        match self {
            Schedule::Linear { .. } => (1.0 - progress).max(0.0),
            _ => (0.5 * (1.0 + (std::f64::consts::PI * progress).cos())).max(0.0),
        }
    }
}

/// The factor `torch.nn.utils.clip_grad_norm_` multiplies every gradient by: max_norm / (norm + 1e-6),
/// at most 1.
pub fn clip_factor(norm: f64, max_norm: f64) -> f64 {
    (max_norm / (norm + 1e-6)).min(1.0)
}

/// The global L2 norm over every gradient.
pub fn grad_norm<B: TrainBackend>(b: &B, grads: &LoraParams<B>) -> f64 {
    grads.modules.values().map(|g| b.sum_squares(&g.a, b.len(&g.a)) + b.sum_squares(&g.b, b.len(&g.b))).sum::<f64>().sqrt()
}

/// AdamW's moments for every LoRA weight, and its step count.
pub struct Optimizer<B: TrainBackend> {
    pub cfg: AdamW,
    pub m: LoraParams<B>,
    pub v: LoraParams<B>,
    /// Optimizer steps taken.
    pub t: u32,
}

impl<B: TrainBackend> Optimizer<B> {
    pub fn new(model: &Model<B>, params: &LoraParams<B>, cfg: AdamW) -> Self {
        Optimizer { cfg, m: model.lora_zeros(params), v: model.lora_zeros(params), t: 0 }
    }

    /// One step at learning rate `lr` with every gradient multiplied by `grad_scale` (clipping).
    pub fn step(&mut self, b: &B, params: &mut LoraParams<B>, grads: &LoraParams<B>, lr: f64, grad_scale: f64) {
        self.t += 1;
        let c = &self.cfg;
        let step = AdamWStep { lr, beta1: c.beta1, beta2: c.beta2, eps: c.eps, weight_decay: c.weight_decay, t: self.t, grad_scale };
        for (key, p) in params.modules.iter_mut() {
            let (g, m, v) = (&grads.modules[key], self.m.modules.get_mut(key).unwrap(), self.v.modules.get_mut(key).unwrap());
            let (na, nb) = (b.len(&p.a), b.len(&p.b));
            b.adamw(&mut p.a, &g.a, &mut m.a, &mut v.a, na, step);
            b.adamw(&mut p.b, &g.b, &mut m.b, &mut v.b, nb, step);
        }
    }
}

/// What one optimizer step did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// Mean over the micro-batches of each one's mean cross-entropy per target token.
    pub loss: f64,
    /// The L2 norm of the averaged gradient, before clipping.
    pub grad_norm: f64,
    pub lr: f64,
    /// Tokens run through the model (prompt and answer).
    pub tokens: usize,
    /// Tokens that carried a loss.
    pub target_tokens: usize,
}

/// One optimizer step over `micro_batches` (gradient accumulation): each micro-batch's mean loss and
/// gradient, averaged over the micro-batches (as transformers' Trainer does), clipped to
/// `max_grad_norm` (if any) and applied by AdamW at learning rate `lr`. With `params.dropout` set,
/// micro-batch k's masks derive from its seed and k.
pub fn train_step<B: TrainBackend>(
    model: &Model<B>,
    params: &mut LoraParams<B>,
    opt: &mut Optimizer<B>,
    micro_batches: &[Vec<TrainSeq<'_>>],
    lr: f64,
    max_grad_norm: Option<f64>,
) -> Result<StepStats> {
    let b = &model.backend;
    let mut grads = model.lora_zeros(params);
    let (mut loss, mut tokens, mut target_tokens) = (0.0, 0, 0);
    // Each micro-batch draws its own dropout masks from the step's seed.
    let dropout = params.dropout;
    for (k, mb) in micro_batches.iter().enumerate() {
        params.dropout = dropout.map(|d| Dropout { p: d.p, seed: d.seed.wrapping_add((k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)) });
        let l = model.loss_and_grads(mb, params, &mut grads);
        params.dropout = dropout;
        loss += l?;
        for s in mb {
            tokens += s.tokens.len();
            target_tokens += s.target.iter().skip(1).filter(|&&t| t).count();
        }
    }
    let k = micro_batches.len().max(1) as f64;
    let grad_norm = grad_norm(b, &grads) / k;
    let clip = max_grad_norm.map_or(1.0, |mx| clip_factor(grad_norm, mx));
    opt.step(b, params, &grads, lr, clip / k);
    Ok(StepStats { loss: loss / k, grad_norm, lr, tokens, target_tokens })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// transformers' values: linear (warmup 3, total 10) 0, 1/3, 2/3, 1, 6/7 … 0; cosine (warmup 2,
    /// total 10) 1 at the end of warmup, ½ halfway through the decay, 0 at the end; clipping as torch.
    #[test]
    fn schedules_and_clipping_match_transformers() {
        let lin = Schedule::Linear { warmup: 3, total: 10 };
        let want = [0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0, 6.0 / 7.0, 5.0 / 7.0];
        for (s, w) in want.iter().enumerate() {
            assert!((lin.factor(s) - w).abs() < 1e-15, "linear step {s}");
        }
        assert_eq!(lin.factor(10), 0.0);
        assert_eq!(lin.factor(12), 0.0);
        let cos = Schedule::Cosine { warmup: 2, total: 10 };
        assert_eq!(cos.factor(1), 0.5);
        assert!((cos.factor(2) - 1.0).abs() < 1e-15);
        assert!((cos.factor(6) - 0.5).abs() < 1e-15);
        assert!(cos.factor(10).abs() < 1e-15);
        assert_eq!(Schedule::Constant.factor(7), 1.0);
        assert_eq!(clip_factor(0.1, 1.0), 1.0);
        assert!((clip_factor(4.0, 1.0) - 1.0 / (4.0 + 1e-6)).abs() < 1e-15);
    }
}
