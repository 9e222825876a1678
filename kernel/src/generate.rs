//! Greedy generation over a `Model`: batched prefill and decode with one KV cache per sequence, a shared
//! prefix computed once, stop strings, EOS and a token budget. Greedy only: evaluation must be
//! deterministic.
use crate::backend::Backend;
use crate::model::{KvCache, Logits, Model};
use crate::tokenizer::Tokenizer;
use crate::{Error, Result};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct GenConfig {
    pub max_new_tokens: usize,
    /// Generation stops when the decoded continuation contains one; the text is cut before it.
    pub stop_strings: Vec<String>,
    /// Stop at the tokenizer's end-of-sequence ids.
    pub stop_at_eos: bool,
    /// Prompts prefilled together in one forward pass (bounds activation memory).
    pub prefill_batch_tokens: usize,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig { max_new_tokens: 128, stop_strings: Vec::new(), stop_at_eos: true, prefill_batch_tokens: 4096 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    Eos,
    Stop,
    Length,
}

#[derive(Debug, Clone)]
pub struct Generation {
    pub tokens: Vec<u32>,
    pub text: String,
    pub finish: Finish,
}

/// Greedy decoding's choice: the index of the largest value, the first on ties; NaN never wins (a
/// row of NaN gives 0). The GPU's `argmax_rows_f32` kernel follows the same rule.
pub fn argmax(v: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] || (v[best].is_nan() && !x.is_nan()) {
            best = i;
        }
    }
    best as u32
}

pub struct Generator<'a, B: Backend> {
    pub model: &'a Model<B>,
    pub tokenizer: &'a Tokenizer,
}

struct Live<B: Backend> {
    idx: usize,
    cache: KvCache<B>,
    next: u32,
    out: Vec<u32>,
}

impl<'a, B: Backend> Generator<'a, B> {
    pub fn new(model: &'a Model<B>, tokenizer: &'a Tokenizer) -> Self {
        Generator { model, tokenizer }
    }

    /// Computes the KV cache of a prefix shared by many prompts, once; `after` chains it behind an
    /// earlier shared prefix.
    pub fn prefix_after(&self, after: Option<&Arc<KvCache<B>>>, ids: &[u32]) -> Result<Arc<KvCache<B>>> {
        let mut cache = match after {
            Some(p) => self.model.cache_after(p.clone()),
            None => self.model.new_cache(),
        };
        if !ids.is_empty() {
            self.model.forward(&mut [(ids, &mut cache)], Logits::None)?;
        }
        Ok(Arc::new(cache))
    }

    /// Computes the KV cache of a prefix shared by many prompts, once.
    pub fn prefix(&self, ids: &[u32]) -> Result<Arc<KvCache<B>>> {
        self.prefix_after(None, ids)
    }

    /// Generates a continuation for each prompt (token ids that follow `prefix`, if given), all
    /// sequences decoding together in one batch.
    pub fn generate(&self, prompts: &[Vec<u32>], prefix: Option<&Arc<KvCache<B>>>, cfg: &GenConfig) -> Result<Vec<Generation>> {
        let model = self.model;
        let base = prefix.map_or(0, |p| p.len());
        for (i, p) in prompts.iter().enumerate() {
            if p.is_empty() {
                return Err(Error::BadInput(format!("prompt {i} is empty")));
            }
            if base + p.len() + 1 > model.cfg.context {
                return Err(Error::BadInput(format!(
                    "prompt {i} has {} tokens; with the {} prefix tokens that exceeds the context of {}",
                    p.len(),
                    base,
                    model.cfg.context
                )));
            }
        }
        let new_cache = || match prefix {
            Some(p) => model.cache_after(p.clone()),
            None => model.new_cache(),
        };
        // Prefill in groups of prompts whose tokens fit the budget.
        let mut live: Vec<Live<B>> = Vec::with_capacity(prompts.len());
        let mut i = 0;
        while i < prompts.len() {
            let mut j = i;
            let mut toks = 0;
            while j < prompts.len() && (j == i || toks + prompts[j].len() <= cfg.prefill_batch_tokens) {
                toks += prompts[j].len();
                j += 1;
            }
            let mut caches: Vec<KvCache<B>> = (i..j).map(|_| new_cache()).collect();
            let mut batch: Vec<(&[u32], &mut KvCache<B>)> = prompts[i..j].iter().map(|p| p.as_slice()).zip(caches.iter_mut()).collect();
            let next = model.forward_greedy(&mut batch)?;
            drop(batch);
            for (n, (cache, next)) in caches.into_iter().zip(next).enumerate() {
                live.push(Live { idx: i + n, cache, next, out: Vec::new() });
            }
            i = j;
        }
        let mut results: Vec<Option<Generation>> = vec![None; prompts.len()];
        loop {
            // Accept each sequence's next token, and retire the finished ones.
            let mut still = Vec::with_capacity(live.len());
            for mut s in live {
                let room = model.cfg.context.saturating_sub(s.cache.len() + 1);
                let is_eos = cfg.stop_at_eos && self.tokenizer.stop_ids.contains(&s.next);
                if is_eos {
                    results[s.idx] = Some(self.finish(s.out, Finish::Eos, cfg)?);
                    continue;
                }
                s.out.push(s.next);
                let (text, hit) = self.decode_with_stops(&s.out, cfg)?;
                if hit {
                    results[s.idx] = Some(Generation { tokens: s.out, text, finish: Finish::Stop });
                } else if s.out.len() >= cfg.max_new_tokens || room == 0 {
                    results[s.idx] = Some(Generation { tokens: s.out, text, finish: Finish::Length });
                } else {
                    still.push(s);
                }
            }
            live = still;
            if live.is_empty() {
                break;
            }
            let nexts: Vec<[u32; 1]> = live.iter().map(|s| [s.next]).collect();
            let mut batch: Vec<(&[u32], &mut KvCache<B>)> =
                nexts.iter().map(|t| t.as_slice()).zip(live.iter_mut().map(|s| &mut s.cache)).collect();
            let next = model.forward_greedy(&mut batch)?;
            drop(batch);
            for (s, next) in live.iter_mut().zip(next) {
                s.next = next;
            }
        }
        Ok(results.into_iter().map(|r| r.expect("every prompt finishes")).collect())
    }

    fn finish(&self, out: Vec<u32>, finish: Finish, cfg: &GenConfig) -> Result<Generation> {
        let (text, _) = self.decode_with_stops(&out, cfg)?;
        Ok(Generation { tokens: out, text, finish })
    }

    /// The decoded text, cut before the first stop string, and whether one was found.
    fn decode_with_stops(&self, ids: &[u32], cfg: &GenConfig) -> Result<(String, bool)> {
        let text = self.tokenizer.decode(ids)?;
        let cut = cfg.stop_strings.iter().filter(|s| !s.is_empty()).filter_map(|s| text.find(s.as_str())).min();
        Ok(match cut {
            Some(c) => (text[..c].to_string(), true),
            None => (text, false),
        })
    }
}
