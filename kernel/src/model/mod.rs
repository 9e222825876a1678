//! The Llama-family forward pass (Llama, SmolLM2, Qwen2), written once over `B: Backend`:
//! RMSNorm → q/k/v (+ Qwen2 biases) → RoPE → causal grouped-query attention → o → residual →
//! RMSNorm → SwiGLU MLP → residual; final RMSNorm and a tied or separate output head.
use crate::backend::{AttnSeq, AttnShape, Backend, LoraRef, LoraShape, NormShape, RopeShape, Rows};
use crate::config::Config;
use crate::loader::ModelSource;
use crate::lora::{Adapter, Proj};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::sync::Arc;

mod train;
pub use train::{Dropout, LoraParams, TrainSeq};

pub struct Layer<B: Backend> {
    attn_norm: B::Tensor,
    wq: B::Matrix,
    wk: B::Matrix,
    wv: B::Matrix,
    wo: B::Matrix,
    bias: Option<[B::Tensor; 3]>,
    ffn_norm: B::Tensor,
    w_gate: B::Matrix,
    w_up: B::Matrix,
    w_down: B::Matrix,
}

pub struct Model<B: Backend> {
    pub cfg: Config,
    pub backend: B,
    embed: B::Matrix,
    layers: Vec<Layer<B>>,
    out_norm: B::Tensor,
    /// None when the head is tied to the embedding table.
    head: Option<B::Matrix>,
    /// The attached LoRA adapter, fused into every forward.
    lora: Option<AttachedLora<B>>,
}

struct AttachedLora<B: Backend> {
    adapter: Arc<Adapter>,
    /// Per layer, per projection (`Proj::index`).
    layers: Vec<[Option<LoraPair<B>>; 7]>,
}

/// One LoRA term on the backend: A (r × din) and B (dout × r), unscaled, B's rows in the engine's order
/// (`lora::b_to_engine`). Generation and training use the same pairs and the same op (`Backend::lora`).
pub struct LoraPair<B: Backend> {
    pub a: B::Tensor,
    pub b: B::Tensor,
    pub shape: LoraShape,
}

impl<B: Backend> LoraPair<B> {
    pub fn as_ref(&self) -> LoraRef<'_, B::Tensor> {
        LoraRef { a: &self.a, b: &self.b, shape: self.shape }
    }
}

/// Keys and values of one sequence, per layer, after an optional shared prefix (computed once and
/// shared by reference, e.g. the few-shot examples common to every prompt). A prefix may itself
/// continue another prefix.
pub struct KvCache<B: Backend> {
    layers: Vec<(B::Tensor, B::Tensor)>,
    len: usize,
    prefix: Option<Arc<KvCache<B>>>,
}

impl<B: Backend> KvCache<B> {
    /// Positions held, the shared prefix included.
    pub fn len(&self) -> usize {
        self.len + self.prefix.as_ref().map_or(0, |p| p.len())
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Drops the positions after `len` (the shared prefix is kept).
    pub fn truncate(&mut self, len: usize) {
        let base = self.prefix.as_ref().map_or(0, |p| p.len());
        self.len = len.saturating_sub(base).min(self.len);
    }
}

/// Which rows' logits a forward pass returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logits {
    /// None: only fill the caches (a shared prefix).
    None,
    /// The last new token of every sequence.
    Last,
    /// Every new token of every sequence (teacher forcing, scoring).
    All,
}

impl<B: Backend> Model<B> {
    pub fn load(backend: B, src: &ModelSource) -> Result<Self> {
        let cfg = src.config()?;
        let vec = |name: &str| -> Result<B::Tensor> {
            let t = src.require(name)?;
            let mut v = vec![0f32; t.rows * t.cols];
            crate::formats::quant::dequantize(t.ty, t.bytes, &mut v);
            Ok(backend.upload(&v))
        };
        let mat = |name: &str, rows: usize, cols: usize| -> Result<B::Matrix> {
            let t = src.require(name)?;
            if t.rows != rows || t.cols != cols {
                return Err(Error::BadFile {
                    path: src.path().to_path_buf(),
                    msg: format!("tensor {name} is {}×{}, expected {rows}×{cols}", t.rows, t.cols),
                });
            }
            backend.matrix(&t)
        };
        let (d, q, kv, ff) = (cfg.hidden, cfg.q_dim(), cfg.kv_dim(), cfg.intermediate);
        let mut layers = Vec::with_capacity(cfg.n_layers);
        for i in 0..cfg.n_layers {
            let n = |s: &str| format!("blk.{i}.{s}");
            let bias = if cfg.qkv_bias { Some([vec(&n("attn_q.bias"))?, vec(&n("attn_k.bias"))?, vec(&n("attn_v.bias"))?]) } else { None };
            layers.push(Layer {
                attn_norm: vec(&n("attn_norm.weight"))?,
                wq: mat(&n("attn_q.weight"), q, d)?,
                wk: mat(&n("attn_k.weight"), kv, d)?,
                wv: mat(&n("attn_v.weight"), kv, d)?,
                wo: mat(&n("attn_output.weight"), d, q)?,
                bias,
                ffn_norm: vec(&n("ffn_norm.weight"))?,
                w_gate: mat(&n("ffn_gate.weight"), ff, d)?,
                w_up: mat(&n("ffn_up.weight"), ff, d)?,
                w_down: mat(&n("ffn_down.weight"), d, ff)?,
            });
        }
        let embed = mat("token_embd.weight", cfg.vocab, d)?;
        let head = if cfg.tied { None } else { Some(mat("output.weight", cfg.vocab, d)?) };
        let out_norm = vec("output_norm.weight")?;
        Ok(Model { cfg, backend, embed, layers, out_norm, head, lora: None })
    }

    /// Uploads an adapter's weights for this model, after the one shape check (`Adapter::check_fits`).
    pub fn upload_adapter(&self, a: &Adapter) -> Result<BTreeMap<(usize, Proj), LoraPair<B>>> {
        a.check_fits(&self.cfg)?;
        let b = &self.backend;
        Ok(a.modules
            .iter()
            .map(|(&(li, p), w)| {
                let shape = LoraShape { r: a.r, din: w.din, dout: w.dout, scale: a.scale };
                let bm = crate::lora::b_to_engine(&self.cfg, p, &w.b, a.r);
                ((li, p), LoraPair { a: b.upload(&w.a), b: b.upload(&bm), shape })
            })
            .collect())
    }

    /// Attaches a LoRA adapter (replacing any attached one), or detaches with None.
    pub fn set_adapter(&mut self, adapter: Option<Arc<Adapter>>) -> Result<()> {
        let Some(a) = adapter else {
            self.lora = None;
            return Ok(());
        };
        let mut layers: Vec<[Option<LoraPair<B>>; 7]> = (0..self.cfg.n_layers).map(|_| Default::default()).collect();
        for ((li, p), pair) in self.upload_adapter(&a)? {
            layers[li][p.index()] = Some(pair);
        }
        self.lora = Some(AttachedLora { adapter: a, layers });
        Ok(())
    }

    pub fn adapter(&self) -> Option<&Arc<Adapter>> {
        self.lora.as_ref().map(|l| &l.adapter)
    }

    /// out = x·Wᵀ, plus the adapter's s·(x·Aᵀ)·Bᵀ when one is attached for this projection.
    fn linear(&self, li: usize, p: Proj, x: &B::Tensor, m: usize, w: &B::Matrix, out: &mut B::Tensor) {
        let b = &self.backend;
        b.matmul(x, m, w, out);
        if let Some(Some(pair)) = self.lora.as_ref().map(|l| &l.layers[li][p.index()]) {
            let mut xa = b.zeros(m * pair.shape.r);
            b.lora(x, m, pair.as_ref(), &mut xa, out);
        }
    }

    /// Adds the q/k/v biases (Qwen2) and rotates q and k by their positions.
    fn bias_rope(&self, l: &Layer<B>, m: usize, positions: &[u32], q: &mut B::Tensor, k: &mut B::Tensor, v: &mut B::Tensor) {
        let (b, cfg) = (&self.backend, &self.cfg);
        if let Some([bq, bk, bv]) = &l.bias {
            b.add_bias(q, m, bq);
            b.add_bias(k, m, bk);
            b.add_bias(v, m, bv);
        }
        b.rope(q, positions, self.rope_shape(m, cfg.n_heads));
        b.rope(k, positions, self.rope_shape(m, cfg.n_kv_heads));
    }

    /// RoPE over `m` rows of `n_heads` heads.
    fn rope_shape(&self, m: usize, n_heads: usize) -> RopeShape {
        let cfg = &self.cfg;
        RopeShape { m, n_heads, head_dim: cfg.head_dim, theta: cfg.rope_theta, style: cfg.rope_style }
    }

    /// RMSNorm over `m` rows of the hidden size.
    fn norm_shape(&self, m: usize) -> NormShape {
        NormShape { rows: Rows { m, n: self.cfg.hidden }, eps: self.cfg.rms_eps }
    }

    fn attn_shape(&self) -> AttnShape {
        let cfg = &self.cfg;
        AttnShape { n_heads: cfg.n_heads, n_kv_heads: cfg.n_kv_heads, head_dim: cfg.head_dim }
    }

    pub fn backend_name(&self) -> String {
        self.backend.name()
    }

    pub fn new_cache(&self) -> KvCache<B> {
        let b = &self.backend;
        KvCache { layers: (0..self.cfg.n_layers).map(|_| (b.zeros(0), b.zeros(0))).collect(), len: 0, prefix: None }
    }

    /// A fresh cache that continues after a shared, already computed prefix.
    pub fn cache_after(&self, prefix: Arc<KvCache<B>>) -> KvCache<B> {
        let mut c = self.new_cache();
        c.prefix = Some(prefix);
        c
    }

    /// Runs the new `tokens` of each sequence after what its cache holds, appends their keys and
    /// values, and returns the requested logits, `[rows × vocab]`, sequences in order.
    pub fn forward(&self, batch: &mut [(&[u32], &mut KvCache<B>)], want: Logits) -> Result<Vec<f32>> {
        self.backend.run(|| {
            Ok(match self.forward_here(batch, want)? {
                Some((logits, _)) => self.backend.download(&logits),
                None => Vec::new(),
            })
        })
    }

    /// As `forward` with `Logits::Last`, but returns each sequence's greedy next token: the backend
    /// picks it where the logits are (on a GPU only the token ids come back).
    pub fn forward_greedy(&self, batch: &mut [(&[u32], &mut KvCache<B>)]) -> Result<Vec<u32>> {
        self.backend.run(|| {
            let (logits, r) = self.forward_here(batch, Logits::Last)?.expect("Logits::Last gives logits");
            Ok(self.backend.argmax_rows(&logits, Rows { m: r, n: self.cfg.vocab }))
        })
    }

    /// The forward pass; the requested rows' logits as a backend tensor and their number of rows.
    fn forward_here(&self, batch: &mut [(&[u32], &mut KvCache<B>)], want: Logits) -> Result<Option<(B::Tensor, usize)>> {
        let cfg = &self.cfg;
        let b = &self.backend;
        let (d, qd, kvd, ff) = (cfg.hidden, cfg.q_dim(), cfg.kv_dim(), cfg.intermediate);
        let mut ids = Vec::new();
        let mut positions = Vec::new();
        let mut starts = Vec::with_capacity(batch.len());
        for (toks, cache) in batch.iter() {
            if toks.is_empty() {
                return Err(Error::BadInput("empty token sequence".into()));
            }
            let past = cache.len();
            if past + toks.len() > cfg.context {
                return Err(Error::BadInput(format!(
                    "sequence of {} tokens exceeds the model's context of {}",
                    past + toks.len(),
                    cfg.context
                )));
            }
            if let Some(&bad) = toks.iter().find(|&&t| t as usize >= cfg.vocab) {
                return Err(Error::BadInput(format!("token id {bad} is outside the vocabulary of {}", cfg.vocab)));
            }
            starts.push(ids.len());
            ids.extend_from_slice(toks);
            positions.extend((past..past + toks.len()).map(|p| p as u32));
        }
        let m = ids.len();
        let mut x = b.zeros(m * d);
        b.embed(&self.embed, &ids, &mut x);
        let mut xn = b.zeros(m * d);
        let mut q = b.zeros(m * qd);
        let mut k = b.zeros(m * kvd);
        let mut v = b.zeros(m * kvd);
        let mut att = b.zeros(m * qd);
        let mut o = b.zeros(m * d);
        let mut gate = b.zeros(m * ff);
        let mut up = b.zeros(m * ff);
        let mut act = b.zeros(m * ff);
        let (shape, norm) = (self.attn_shape(), self.norm_shape(m));
        for (li, l) in self.layers.iter().enumerate() {
            b.rmsnorm(&x, &l.attn_norm, norm, &mut xn);
            self.linear(li, Proj::Q, &xn, m, &l.wq, &mut q);
            self.linear(li, Proj::K, &xn, m, &l.wk, &mut k);
            self.linear(li, Proj::V, &xn, m, &l.wv, &mut v);
            self.bias_rope(l, m, &positions, &mut q, &mut k, &mut v);
            // Append this step's keys and values to each sequence's own cache.
            for ((toks, cache), &s0) in batch.iter_mut().zip(&starts) {
                let (kc, vc) = &mut cache.layers[li];
                let n_old = cache.len;
                b.ensure_len(kc, (n_old + toks.len()) * kvd);
                b.ensure_len(vc, (n_old + toks.len()) * kvd);
                let rows = Rows { m: toks.len(), n: kvd };
                b.copy_rows(&k, s0, kc, n_old, rows);
                b.copy_rows(&v, s0, vc, n_old, rows);
            }
            let seqs: Vec<AttnSeq<'_, B::Tensor>> = batch
                .iter()
                .zip(&starts)
                .map(|((toks, cache), &s0)| {
                    // Shared prefixes may chain (few-shot examples, then a schema): oldest first.
                    let mut segments = Vec::with_capacity(3);
                    let mut p = cache.prefix.as_deref();
                    while let Some(pc) = p {
                        let (pk, pv) = &pc.layers[li];
                        segments.push((pk, pv, pc.len));
                        p = pc.prefix.as_deref();
                    }
                    segments.reverse();
                    let (kc, vc) = &cache.layers[li];
                    segments.push((kc, vc, cache.len + toks.len()));
                    AttnSeq { row0: s0, n_new: toks.len(), segments }
                })
                .collect();
            b.attention(&q, &seqs, shape, &mut att);
            drop(seqs);
            self.linear(li, Proj::O, &att, m, &l.wo, &mut o);
            b.add(&mut x, &o, m * d);
            b.rmsnorm(&x, &l.ffn_norm, norm, &mut xn);
            self.linear(li, Proj::Gate, &xn, m, &l.w_gate, &mut gate);
            self.linear(li, Proj::Up, &xn, m, &l.w_up, &mut up);
            b.swiglu(&gate, &up, m * ff, &mut act);
            self.linear(li, Proj::Down, &act, m, &l.w_down, &mut o);
            b.add(&mut x, &o, m * d);
        }
        for (toks, cache) in batch.iter_mut() {
            cache.len += toks.len();
        }
        let rows: Vec<usize> = match want {
            Logits::None => return Ok(None),
            Logits::All => (0..m).collect(),
            Logits::Last => batch.iter().zip(&starts).map(|((t, _), &s)| s + t.len() - 1).collect(),
        };
        let r = rows.len();
        let mut sel = b.zeros(r * d);
        b.gather_rows(&x, &rows, d, &mut sel);
        let mut seln = b.zeros(r * d);
        b.rmsnorm(&sel, &self.out_norm, self.norm_shape(r), &mut seln);
        let mut logits = b.zeros(r * cfg.vocab);
        b.matmul(&seln, r, self.head.as_ref().unwrap_or(&self.embed), &mut logits);
        Ok(Some((logits, r)))
    }
}
