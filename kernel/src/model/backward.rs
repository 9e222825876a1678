//! One training step's forward and backward over `B: Backend`: the loss of a packed batch (only the
//! positions that carry a loss are scored, through the fused head + cross-entropy) and the gradient
//! of every LoRA weight. The base stays frozen; activation gradients flow through every layer.
use super::{Model, DOWN, GATE, K, O, Q, UP, V};
use crate::backend::{AttnShape, Backend, LoraShape};
use crate::lora::Adapter;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Trainable LoRA weights on the backend: per (layer, projection index in `lora::TARGETS`), A
/// (r × din) and B (dout × r), unscaled (the scale is applied by `lora_fwd`).
pub struct LoraParams<B: Backend> {
    pub r: usize,
    pub scale: f32,
    pub modules: BTreeMap<(usize, usize), LoraPair<B>>,
    /// Dropout on each LoRA branch's input (PEFT's lora_dropout) in the next forward and backward;
    /// None at evaluation.
    pub dropout: Option<Dropout>,
}

/// Inverted dropout with drop probability `p`; the masks derive from `seed`, the layer, the
/// projection and the element index (`Backend::dropout`), so a step is reproducible from its seed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dropout {
    pub p: f32,
    pub seed: u64,
}

impl Dropout {
    /// The mask seed of projection `t` of layer `li`.
    pub fn seed_for(&self, li: usize, t: usize) -> u64 {
        self.seed ^ ((li * 7 + t + 1) as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)
    }
}

pub struct LoraPair<B: Backend> {
    pub a: B::Tensor,
    pub b: B::Tensor,
    pub shape: LoraShape,
}

/// One sequence of a training batch: its tokens, and per token whether it is a target (predicted
/// from the position before it; the first token never is).
pub struct TrainSeq<'a> {
    pub tokens: &'a [u32],
    pub target: &'a [bool],
}

/// What the forward keeps per layer for the backward. The normed inputs and the SwiGLU output are
/// recomputed in the backward instead (cheap elementwise ops; a third of the per-token state).
struct Saved<B: Backend> {
    x_in: B::Tensor,
    q: B::Tensor,
    k: B::Tensor,
    v: B::Tensor,
    att: B::Tensor,
    lse: B::Tensor,
    x_mid: B::Tensor,
    gate: B::Tensor,
    up: B::Tensor,
    /// x·Aᵀ per adapted projection.
    h: [Option<B::Tensor>; 7],
}

impl<B: Backend> Model<B> {
    /// The adapter's weights as trainable tensors, checked against the model's shapes.
    pub fn lora_params(&self, a: &Adapter) -> Result<LoraParams<B>> {
        let b = &self.backend;
        let mut modules = BTreeMap::new();
        for (&(li, t), (am, bm, din, dout)) in &a.modules {
            if li >= self.cfg.n_layers || self.proj_dims(t) != (*din, *dout) {
                return Err(Error::BadInput(format!(
                    "{}: layer {li} {} is {din}→{dout}, the model has {} layers and {:?}",
                    a.dir.display(),
                    crate::lora::TARGETS[t],
                    self.cfg.n_layers,
                    self.proj_dims(t)
                )));
            }
            let shape = LoraShape { r: a.r, din: *din, dout: *dout, scale: a.scale };
            let bm = crate::lora::b_to_engine(&self.cfg, t, bm, a.r);
            modules.insert((li, t), LoraPair { a: b.upload(am), b: b.upload(&bm), shape });
        }
        Ok(LoraParams { r: a.r, scale: a.scale, modules, dropout: None })
    }

    /// The inverse of `lora_params`: the trained weights downloaded into a host `Adapter` in PEFT's
    /// (Hugging Face's) layout, q/k rows of lora_B restored to HF order; `dir` is recorded as its
    /// directory (nothing is written). The scale follows from `alpha` and `rslora`.
    pub fn adapter_from_params(&self, p: &LoraParams<B>, alpha: f64, rslora: bool, dir: PathBuf) -> Adapter {
        let b = &self.backend;
        let modules = p
            .modules
            .iter()
            .map(|(&(li, t), m)| {
                let bm = crate::lora::b_from_engine(&self.cfg, t, &b.download(&m.b), p.r);
                ((li, t), (b.download(&m.a), bm, m.shape.din, m.shape.dout))
            })
            .collect();
        Adapter { dir, r: p.r, alpha, rslora, scale: crate::lora::scale_of(p.r, alpha, rslora), modules }
    }

    /// Zeroed gradients of the same shapes as `p`.
    pub fn lora_zeros(&self, p: &LoraParams<B>) -> LoraParams<B> {
        let b = &self.backend;
        let modules = p
            .modules
            .iter()
            .map(|(&key, m)| (key, LoraPair { a: b.zeros(b.len(&m.a)), b: b.zeros(b.len(&m.b)), shape: m.shape }))
            .collect();
        LoraParams { r: p.r, scale: p.scale, modules, dropout: None }
    }

    /// The mean cross-entropy over every target token of the batch, and its gradient with respect to
    /// every LoRA weight of `p`, added into `grads` (so micro-batches accumulate; scale by their count).
    pub fn loss_and_grads(&self, batch: &[TrainSeq<'_>], p: &LoraParams<B>, grads: &mut LoraParams<B>) -> Result<f64> {
        self.backend.run(|| self.loss_and_grads_here(batch, p, grads))
    }

    /// y = x·Wᵀ (+ s·(x·Aᵀ)·Bᵀ, saving x·Aᵀ in `h`).
    #[allow(clippy::too_many_arguments)]
    fn linear_train(&self, li: usize, t: usize, x: &B::Tensor, m: usize, w: &B::Matrix, p: &LoraParams<B>, h: &mut [Option<B::Tensor>; 7], y: &mut B::Tensor) {
        let b = &self.backend;
        b.matmul(x, m, w, y);
        if let Some(l) = p.modules.get(&(li, t)) {
            let mut hh = b.zeros(m * l.shape.r);
            match p.dropout {
                Some(d) => {
                    let mut xd = b.zeros(m * l.shape.din);
                    b.dropout(x, m * l.shape.din, d.p, d.seed_for(li, t), &mut xd);
                    b.lora_fwd(&xd, m, &l.a, &l.b, l.shape, &mut hh, y);
                }
                None => b.lora_fwd(x, m, &l.a, &l.b, l.shape, &mut hh, y),
            }
            h[t] = Some(hh);
        }
    }

    /// The backward of `linear_train`: dx (+)= dy·W (+ the LoRA term's share), LoRA gradients added.
    #[allow(clippy::too_many_arguments)]
    fn linear_bwd(&self, li: usize, t: usize, dy: &B::Tensor, x: &B::Tensor, m: usize, w: &B::Matrix, p: &LoraParams<B>, h: &[Option<B::Tensor>; 7], grads: &mut LoraParams<B>, dx: &mut B::Tensor, accumulate: bool) {
        let b = &self.backend;
        b.matmul_bwd(dy, m, w, dx, accumulate);
        if let (Some(l), Some(hh)) = (p.modules.get(&(li, t)), &h[t]) {
            let g = grads.modules.get_mut(&(li, t)).expect("gradients for every LoRA module");
            match p.dropout {
                // The branch saw x·mask/(1−p): its A gradient uses that input (regenerated from the
                // seed), and its share of dx goes back through the same mask.
                Some(d) => {
                    let n = m * l.shape.din;
                    let (mut xd, mut dxd, mut dxm) = (b.zeros(n), b.zeros(n), b.zeros(n));
                    b.dropout(x, n, d.p, d.seed_for(li, t), &mut xd);
                    b.lora_bwd(dy, &xd, hh, m, &l.a, &l.b, l.shape, &mut g.a, &mut g.b, &mut dxd);
                    b.dropout(&dxd, n, d.p, d.seed_for(li, t), &mut dxm);
                    b.add(dx, &dxm, n);
                }
                None => b.lora_bwd(dy, x, hh, m, &l.a, &l.b, l.shape, &mut g.a, &mut g.b, dx),
            }
        }
    }

    fn loss_and_grads_here(&self, batch: &[TrainSeq<'_>], p: &LoraParams<B>, grads: &mut LoraParams<B>) -> Result<f64> {
        let cfg = &self.cfg;
        let b = &self.backend;
        let (h, qd, kvd, ff) = (cfg.hidden, cfg.q_dim(), cfg.kv_dim(), cfg.intermediate);
        let mut ids = Vec::new();
        let mut positions = Vec::new();
        let mut seqs = Vec::with_capacity(batch.len());
        // Row whose logits predict each target, and the target.
        let mut rows = Vec::new();
        let mut targets = Vec::new();
        for s in batch {
            if s.tokens.is_empty() || s.tokens.len() != s.target.len() {
                return Err(Error::BadInput("a training sequence is empty or its target mask has another length".into()));
            }
            if s.tokens.len() > cfg.context {
                return Err(Error::BadInput(format!("a training sequence of {} tokens exceeds the context of {}", s.tokens.len(), cfg.context)));
            }
            if let Some(&bad) = s.tokens.iter().find(|&&t| t as usize >= cfg.vocab) {
                return Err(Error::BadInput(format!("token id {bad} is outside the vocabulary of {}", cfg.vocab)));
            }
            let r0 = ids.len();
            for (t, &is_target) in s.target.iter().enumerate() {
                if is_target && t > 0 {
                    rows.push(r0 + t - 1);
                    targets.push(s.tokens[t]);
                }
            }
            seqs.push((r0, s.tokens.len()));
            ids.extend_from_slice(s.tokens);
            positions.extend((0..s.tokens.len()).map(|p| p as u32));
        }
        if targets.is_empty() {
            return Err(Error::BadInput("the batch has no target tokens".into()));
        }
        let m = ids.len();
        let shape = AttnShape { n_heads: cfg.n_heads, n_kv_heads: cfg.n_kv_heads, head_dim: cfg.head_dim };
        let mut x = b.zeros(m * h);
        b.embed(&self.embed, &ids, &mut x);
        let mut saved: Vec<Saved<B>> = Vec::with_capacity(self.layers.len());
        let mut o = b.zeros(m * h);
        let (mut xn, mut act) = (b.zeros(m * h), b.zeros(m * ff));
        for (li, l) in self.layers.iter().enumerate() {
            let mut hs: [Option<B::Tensor>; 7] = Default::default();
            b.rmsnorm(&x, &l.attn_norm, m, h, cfg.rms_eps, &mut xn);
            let (mut q, mut k, mut v) = (b.zeros(m * qd), b.zeros(m * kvd), b.zeros(m * kvd));
            self.linear_train(li, Q, &xn, m, &l.wq, p, &mut hs, &mut q);
            self.linear_train(li, K, &xn, m, &l.wk, p, &mut hs, &mut k);
            self.linear_train(li, V, &xn, m, &l.wv, p, &mut hs, &mut v);
            self.bias_rope(l, m, &positions, &mut q, &mut k, &mut v);
            let (mut att, mut lse) = (b.zeros(m * qd), b.zeros(m * cfg.n_heads));
            b.attention_train(&q, &k, &v, &seqs, shape, &mut att, &mut lse);
            self.linear_train(li, O, &att, m, &l.wo, p, &mut hs, &mut o);
            let mut x_mid = b.upload(&b.download(&x));
            b.add(&mut x_mid, &o, m * h);
            b.rmsnorm(&x_mid, &l.ffn_norm, m, h, cfg.rms_eps, &mut xn);
            let (mut gate, mut up) = (b.zeros(m * ff), b.zeros(m * ff));
            self.linear_train(li, GATE, &xn, m, &l.w_gate, p, &mut hs, &mut gate);
            self.linear_train(li, UP, &xn, m, &l.w_up, p, &mut hs, &mut up);
            b.swiglu(&gate, &up, m * ff, &mut act);
            self.linear_train(li, DOWN, &act, m, &l.w_down, p, &mut hs, &mut o);
            let mut x_out = b.upload(&b.download(&x_mid));
            b.add(&mut x_out, &o, m * h);
            saved.push(Saved { x_in: std::mem::replace(&mut x, x_out), q, k, v, att, lse, x_mid, gate, up, h: hs });
        }
        // The head, only on the rows that predict a target.
        let r = rows.len();
        let mut sel = b.zeros(r * h);
        b.gather_rows(&x, &rows, h, &mut sel);
        let mut seln = b.zeros(r * h);
        b.rmsnorm(&sel, &self.out_norm, r, h, cfg.rms_eps, &mut seln);
        let weights = vec![1.0 / r as f32; r];
        let mut dseln = b.zeros(r * h);
        let loss = b.cross_entropy_fwd_bwd(&seln, &targets, &weights, self.head.as_ref().unwrap_or(&self.embed), &mut dseln);
        let mut dsel = b.zeros(r * h);
        b.rmsnorm_bwd(&dseln, &sel, &self.out_norm, r, h, cfg.rms_eps, &mut dsel, None);
        // Scatter into the residual stream's gradient (each row predicts at most one target).
        let dsel_h = b.download(&dsel);
        let mut dx_h = vec![0f32; m * h];
        for (i, &row) in rows.iter().enumerate() {
            dx_h[row * h..(row + 1) * h].copy_from_slice(&dsel_h[i * h..(i + 1) * h]);
        }
        let mut dx = b.upload(&dx_h);
        let mut dtmp = b.zeros(m * h);
        let (mut dxn, mut dff, mut dgate, mut dup) = (b.zeros(m * h), b.zeros(m * ff), b.zeros(m * ff), b.zeros(m * ff));
        let (mut datt, mut dq, mut dk, mut dv) = (b.zeros(m * qd), b.zeros(m * qd), b.zeros(m * kvd), b.zeros(m * kvd));
        for (li, (l, s)) in self.layers.iter().zip(&saved).enumerate().rev() {
            // MLP: x_out = x_mid + down(swiglu(gate(xn2), up(xn2))), xn2 = rmsnorm(x_mid).
            b.swiglu(&s.gate, &s.up, m * ff, &mut act);
            self.linear_bwd(li, DOWN, &dx, &act, m, &l.w_down, p, &s.h, grads, &mut dff, false);
            b.swiglu_bwd(&dff, &s.gate, &s.up, m * ff, &mut dgate, &mut dup);
            b.rmsnorm(&s.x_mid, &l.ffn_norm, m, h, cfg.rms_eps, &mut xn);
            self.linear_bwd(li, GATE, &dgate, &xn, m, &l.w_gate, p, &s.h, grads, &mut dxn, false);
            self.linear_bwd(li, UP, &dup, &xn, m, &l.w_up, p, &s.h, grads, &mut dxn, true);
            b.rmsnorm_bwd(&dxn, &s.x_mid, &l.ffn_norm, m, h, cfg.rms_eps, &mut dtmp, None);
            b.add(&mut dx, &dtmp, m * h);
            // Attention: x_mid = x_in + o(attention(rope(q), rope(k), v)), q/k/v of xn1 = rmsnorm(x_in).
            self.linear_bwd(li, O, &dx, &s.att, m, &l.wo, p, &s.h, grads, &mut datt, false);
            b.attention_bwd(&datt, &s.q, &s.k, &s.v, &s.att, &s.lse, &seqs, shape, &mut dq, &mut dk, &mut dv);
            b.rope_bwd(&mut dq, m, cfg.n_heads, cfg.head_dim, &positions, cfg.rope_theta, cfg.rope_style);
            b.rope_bwd(&mut dk, m, cfg.n_kv_heads, cfg.head_dim, &positions, cfg.rope_theta, cfg.rope_style);
            b.rmsnorm(&s.x_in, &l.attn_norm, m, h, cfg.rms_eps, &mut xn);
            self.linear_bwd(li, Q, &dq, &xn, m, &l.wq, p, &s.h, grads, &mut dxn, false);
            self.linear_bwd(li, K, &dk, &xn, m, &l.wk, p, &s.h, grads, &mut dxn, true);
            self.linear_bwd(li, V, &dv, &xn, m, &l.wv, p, &s.h, grads, &mut dxn, true);
            b.rmsnorm_bwd(&dxn, &s.x_in, &l.attn_norm, m, h, cfg.rms_eps, &mut dtmp, None);
            b.add(&mut dx, &dtmp, m * h);
        }
        Ok(loss)
    }
}
