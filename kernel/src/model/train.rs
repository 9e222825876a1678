//! One training step's forward and backward over `B: Backend`: the loss of a packed batch (only the
//! positions that carry a loss are scored, through the fused head + cross-entropy) and the gradient
//! of every LoRA weight. The base stays frozen; activation gradients flow through every layer.
use super::{LoraPair, Model};
use crate::backend::{AttnSaved, Backend, LoraGradMut, Qkv, QkvMut, TrainBackend};
use crate::lora::{Adapter, LoraWeights, Proj};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Trainable LoRA weights on the backend, per (layer, projection): A (r × din) and B (dout × r),
/// unscaled (`Backend::lora` applies the scale).
pub struct LoraParams<B: Backend> {
    pub r: usize,
    pub scale: f32,
    pub modules: BTreeMap<(usize, Proj), LoraPair<B>>,
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
    /// The mask seed of projection `p` of layer `li`.
    pub fn seed_for(&self, li: usize, p: Proj) -> u64 {
        self.seed ^ ((li * 7 + p.index() + 1) as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)
    }
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
    /// x·Aᵀ per adapted projection (`Proj::index`).
    xa: [Option<B::Tensor>; 7],
}

impl<B: Backend> Model<B> {
    /// The adapter's weights as trainable tensors, checked against the model's shapes.
    pub fn lora_params(&self, a: &Adapter) -> Result<LoraParams<B>> {
        Ok(LoraParams { r: a.r, scale: a.scale, modules: self.upload_adapter(a)?, dropout: None })
    }

    /// The inverse of `lora_params`: the trained weights downloaded into a host `Adapter` in PEFT's
    /// (Hugging Face's) layout, q/k rows of lora_B restored to HF order; `dir` is recorded as its
    /// directory (nothing is written). The scale follows from `alpha` and `rslora`.
    pub fn adapter_from_params(&self, p: &LoraParams<B>, alpha: f64, rslora: bool, dir: PathBuf) -> Adapter {
        let b = &self.backend;
        let modules = p
            .modules
            .iter()
            .map(|(&(li, proj), m)| {
                let bm = crate::lora::b_from_engine(&self.cfg, proj, &b.download(&m.b), p.r);
                ((li, proj), LoraWeights { a: b.download(&m.a), b: bm, din: m.shape.din, dout: m.shape.dout })
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
}

impl<B: TrainBackend> Model<B> {
    /// The mean cross-entropy over every target token of the batch, and its gradient with respect to
    /// every LoRA weight of `p`, added into `grads` (so micro-batches accumulate; scale by their count).
    pub fn loss_and_grads(&self, batch: &[TrainSeq<'_>], p: &LoraParams<B>, grads: &mut LoraParams<B>) -> Result<f64> {
        self.backend.run(|| self.loss_and_grads_here(batch, p, grads))
    }

    /// y = x·Wᵀ (+ s·(x·Aᵀ)·Bᵀ, saving x·Aᵀ in `xa`).
    #[allow(clippy::too_many_arguments)]
    fn linear_train(
        &self,
        li: usize,
        proj: Proj,
        x: &B::Tensor,
        m: usize,
        w: &B::Matrix,
        p: &LoraParams<B>,
        xa: &mut [Option<B::Tensor>; 7],
        y: &mut B::Tensor,
    ) {
        let b = &self.backend;
        b.matmul(x, m, w, y);
        if let Some(l) = p.modules.get(&(li, proj)) {
            let mut out = b.zeros(m * l.shape.r);
            match p.dropout {
                Some(d) => {
                    let mut xd = b.zeros(m * l.shape.din);
                    b.dropout(x, m * l.shape.din, d.p, d.seed_for(li, proj), &mut xd);
                    b.lora(&xd, m, l.as_ref(), &mut out, y);
                }
                None => b.lora(x, m, l.as_ref(), &mut out, y),
            }
            xa[proj.index()] = Some(out);
        }
    }

    /// The backward of `linear_train`: dx (+)= dy·W (+ the LoRA term's share), LoRA gradients added.
    #[allow(clippy::too_many_arguments)]
    fn linear_bwd(
        &self,
        li: usize,
        proj: Proj,
        dy: &B::Tensor,
        x: &B::Tensor,
        m: usize,
        w: &B::Matrix,
        p: &LoraParams<B>,
        xa: &[Option<B::Tensor>; 7],
        grads: &mut LoraParams<B>,
        dx: &mut B::Tensor,
        accumulate: bool,
    ) {
        let b = &self.backend;
        b.matmul_bwd(dy, m, w, dx, accumulate);
        if let (Some(l), Some(xa)) = (p.modules.get(&(li, proj)), &xa[proj.index()]) {
            let g = grads.modules.get_mut(&(li, proj)).expect("gradients for every LoRA module");
            match p.dropout {
                // The branch saw x·mask/(1−p): its A gradient uses that input (regenerated from the
                // seed), and its share of dx goes back through the same mask.
                Some(d) => {
                    let n = m * l.shape.din;
                    let (mut xd, mut dxd, mut dxm) = (b.zeros(n), b.zeros(n), b.zeros(n));
                    b.dropout(x, n, d.p, d.seed_for(li, proj), &mut xd);
                    b.lora_bwd(dy, &xd, xa, m, l.as_ref(), LoraGradMut { a: &mut g.a, b: &mut g.b, x: &mut dxd });
                    b.dropout(&dxd, n, d.p, d.seed_for(li, proj), &mut dxm);
                    b.add(dx, &dxm, n);
                }
                None => b.lora_bwd(dy, x, xa, m, l.as_ref(), LoraGradMut { a: &mut g.a, b: &mut g.b, x: dx }),
            }
        }
    }

    fn loss_and_grads_here(&self, batch: &[TrainSeq<'_>], p: &LoraParams<B>, grads: &mut LoraParams<B>) -> Result<f64> {
        let cfg = &self.cfg;
        let b = &self.backend;
        let (d, qd, kvd, ff) = (cfg.hidden, cfg.q_dim(), cfg.kv_dim(), cfg.intermediate);
        let mut ids = Vec::new();
        let mut positions = Vec::new();
        let mut seqs = Vec::with_capacity(batch.len());
        // Row whose logits predict each target, and the target.
        let mut rows = Vec::new();
        let mut targets = Vec::new();
        for seq in batch {
            if seq.tokens.is_empty() || seq.tokens.len() != seq.target.len() {
                return Err(Error::BadInput("a training sequence is empty or its target mask has another length".into()));
            }
            if seq.tokens.len() > cfg.context {
                return Err(Error::BadInput(format!(
                    "a training sequence of {} tokens exceeds the context of {}",
                    seq.tokens.len(),
                    cfg.context
                )));
            }
            if let Some(&bad) = seq.tokens.iter().find(|&&t| t as usize >= cfg.vocab) {
                return Err(Error::BadInput(format!("token id {bad} is outside the vocabulary of {}", cfg.vocab)));
            }
            let r0 = ids.len();
            for (t, &is_target) in seq.target.iter().enumerate() {
                if is_target && t > 0 {
                    rows.push(r0 + t - 1);
                    targets.push(seq.tokens[t]);
                }
            }
            seqs.push((r0, seq.tokens.len()));
            ids.extend_from_slice(seq.tokens);
            positions.extend((0..seq.tokens.len()).map(|p| p as u32));
        }
        if targets.is_empty() {
            return Err(Error::BadInput("the batch has no target tokens".into()));
        }
        let m = ids.len();
        let (shape, norm) = (self.attn_shape(), self.norm_shape(m));
        let (rope_q, rope_k) = (self.rope_shape(m, cfg.n_heads), self.rope_shape(m, cfg.n_kv_heads));
        let mut x = b.zeros(m * d);
        b.embed(&self.embed, &ids, &mut x);
        let mut saved: Vec<Saved<B>> = Vec::with_capacity(self.layers.len());
        let mut o = b.zeros(m * d);
        let (mut xn, mut act) = (b.zeros(m * d), b.zeros(m * ff));
        for (li, l) in self.layers.iter().enumerate() {
            let mut xa: [Option<B::Tensor>; 7] = Default::default();
            b.rmsnorm(&x, &l.attn_norm, norm, &mut xn);
            let (mut q, mut k, mut v) = (b.zeros(m * qd), b.zeros(m * kvd), b.zeros(m * kvd));
            self.linear_train(li, Proj::Q, &xn, m, &l.wq, p, &mut xa, &mut q);
            self.linear_train(li, Proj::K, &xn, m, &l.wk, p, &mut xa, &mut k);
            self.linear_train(li, Proj::V, &xn, m, &l.wv, p, &mut xa, &mut v);
            self.bias_rope(l, m, &positions, &mut q, &mut k, &mut v);
            let (mut att, mut lse) = (b.zeros(m * qd), b.zeros(m * cfg.n_heads));
            b.attention_packed(Qkv { q: &q, k: &k, v: &v }, &seqs, shape, &mut att, &mut lse);
            self.linear_train(li, Proj::O, &att, m, &l.wo, p, &mut xa, &mut o);
            let mut x_mid = b.zeros(m * d);
            b.copy(&x, &mut x_mid, m * d);
            b.add(&mut x_mid, &o, m * d);
            b.rmsnorm(&x_mid, &l.ffn_norm, norm, &mut xn);
            let (mut gate, mut up) = (b.zeros(m * ff), b.zeros(m * ff));
            self.linear_train(li, Proj::Gate, &xn, m, &l.w_gate, p, &mut xa, &mut gate);
            self.linear_train(li, Proj::Up, &xn, m, &l.w_up, p, &mut xa, &mut up);
            b.swiglu(&gate, &up, m * ff, &mut act);
            self.linear_train(li, Proj::Down, &act, m, &l.w_down, p, &mut xa, &mut o);
            let mut x_out = b.zeros(m * d);
            b.copy(&x_mid, &mut x_out, m * d);
            b.add(&mut x_out, &o, m * d);
            saved.push(Saved { x_in: std::mem::replace(&mut x, x_out), q, k, v, att, lse, x_mid, gate, up, xa });
        }
        // The head, only on the rows that predict a target.
        let r = rows.len();
        let mut sel = b.zeros(r * d);
        b.gather_rows(&x, &rows, d, &mut sel);
        let mut seln = b.zeros(r * d);
        b.rmsnorm(&sel, &self.out_norm, self.norm_shape(r), &mut seln);
        let weights = vec![1.0 / r as f32; r];
        let mut dseln = b.zeros(r * d);
        let loss = b.cross_entropy(&seln, &targets, &weights, self.head.as_ref().unwrap_or(&self.embed), &mut dseln);
        let mut dsel = b.zeros(r * d);
        b.rmsnorm_bwd(&dseln, &sel, &self.out_norm, self.norm_shape(r), &mut dsel, None);
        // Into the residual stream's gradient: each row predicts at most one target.
        let mut dx = b.zeros(m * d);
        b.scatter_rows(&dsel, &rows, d, &mut dx);
        let mut dtmp = b.zeros(m * d);
        let (mut dxn, mut dff, mut dgate, mut dup) = (b.zeros(m * d), b.zeros(m * ff), b.zeros(m * ff), b.zeros(m * ff));
        let (mut datt, mut dq, mut dk, mut dv) = (b.zeros(m * qd), b.zeros(m * qd), b.zeros(m * kvd), b.zeros(m * kvd));
        for (li, (l, sv)) in self.layers.iter().zip(&saved).enumerate().rev() {
            // MLP: x_out = x_mid + down(swiglu(gate(xn2), up(xn2))), xn2 = rmsnorm(x_mid).
            b.swiglu(&sv.gate, &sv.up, m * ff, &mut act);
            self.linear_bwd(li, Proj::Down, &dx, &act, m, &l.w_down, p, &sv.xa, grads, &mut dff, false);
            b.swiglu_bwd(&dff, &sv.gate, &sv.up, m * ff, &mut dgate, &mut dup);
            b.rmsnorm(&sv.x_mid, &l.ffn_norm, norm, &mut xn);
            self.linear_bwd(li, Proj::Gate, &dgate, &xn, m, &l.w_gate, p, &sv.xa, grads, &mut dxn, false);
            self.linear_bwd(li, Proj::Up, &dup, &xn, m, &l.w_up, p, &sv.xa, grads, &mut dxn, true);
            b.rmsnorm_bwd(&dxn, &sv.x_mid, &l.ffn_norm, norm, &mut dtmp, None);
            b.add(&mut dx, &dtmp, m * d);
            // Attention: x_mid = x_in + o(attention(rope(q), rope(k), v)), q/k/v of xn1 = rmsnorm(x_in).
            self.linear_bwd(li, Proj::O, &dx, &sv.att, m, &l.wo, p, &sv.xa, grads, &mut datt, false);
            let qkv = Qkv { q: &sv.q, k: &sv.k, v: &sv.v };
            let attn = AttnSaved { out: &sv.att, lse: &sv.lse };
            b.attention_packed_bwd(&datt, qkv, attn, &seqs, shape, QkvMut { q: &mut dq, k: &mut dk, v: &mut dv });
            b.rope_bwd(&mut dq, &positions, rope_q);
            b.rope_bwd(&mut dk, &positions, rope_k);
            b.rmsnorm(&sv.x_in, &l.attn_norm, norm, &mut xn);
            self.linear_bwd(li, Proj::Q, &dq, &xn, m, &l.wq, p, &sv.xa, grads, &mut dxn, false);
            self.linear_bwd(li, Proj::K, &dk, &xn, m, &l.wk, p, &sv.xa, grads, &mut dxn, true);
            self.linear_bwd(li, Proj::V, &dv, &xn, m, &l.wv, p, &sv.xa, grads, &mut dxn, true);
            b.rmsnorm_bwd(&dxn, &sv.x_in, &l.attn_norm, norm, &mut dtmp, None);
            b.add(&mut dx, &dtmp, m * d);
        }
        Ok(loss)
    }
}
