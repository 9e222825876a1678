//! Letter scoring on the engine: one forward pass per question, and the next-token logits of " A",
//! " B", " C", " D" at its last position. The header and shots of a subject are computed once as a
//! shared KV prefix and each question runs only its own tokens after it, many questions batched per
//! forward call; a question whose tokens would differ when split that way (or whose prompt needs
//! fewer shots to fit the context) runs as one whole prompt instead, so every question is scored on
//! exactly the tokens of its whole prompt.
use super::dataset::{Question, Shots, LETTERS};
use super::prompt::{format_question, shared_prefix, K_SHOT};
use anyhow::{bail, Context, Result};
use sqlora_kernel::backend::Backend;
use sqlora_kernel::model::{KvCache, Logits};
use sqlora_kernel::tokenizer::Tokenizer;
use sqlora_kernel::Engine;
use std::collections::HashMap;
use std::sync::Arc;

/// What scoring one question gives.
#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    /// Logits of " A" … " D".
    pub logits: [f32; 4],
    pub n_shots: usize,
    pub prompt_tokens: usize,
}

/// Text to ids without the BOS the tokenizer may add, so pieces can be joined.
fn encode_bare(tok: &Tokenizer, text: &str) -> Result<Vec<u32>> {
    let mut ids = tok.encode(text, false)?;
    if tok.add_bos && tok.bos.is_some() && ids.first() == tok.bos.as_ref() {
        ids.remove(0);
    }
    Ok(ids)
}

/// The ids of " A" … " D"; each must be one token, and the token the tokenizer gives after "Answer:".
pub fn letter_ids(tok: &Tokenizer) -> Result<[u32; 4]> {
    let mut out = [0u32; 4];
    let stem = encode_bare(tok, "Answer:")?;
    for (i, l) in LETTERS.iter().enumerate() {
        let ids = encode_bare(tok, &format!(" {l}"))?;
        let [id] = ids[..] else {
            bail!("\" {l}\" is {} tokens ({ids:?}) for this tokenizer; MMLU letter scoring needs one token per letter", ids.len());
        };
        let joined = encode_bare(tok, &format!("Answer: {l}"))?;
        if joined[..] != [&stem[..], &[id]].concat()[..] {
            bail!("\"Answer: {l}\" tokenizes as {joined:?}, not \"Answer:\" {stem:?} followed by \" {l}\" [{id}]");
        }
        out[i] = id;
    }
    Ok(out)
}

/// How one question is run.
enum Plan {
    /// Its own tokens after its subject's shared prefix.
    AfterPrefix(Vec<u32>),
    /// The whole prompt (BOS included when the tokenizer adds one), with this many shots.
    Whole(Vec<u32>, usize),
}

/// One subject's questions, planned: the shared prefix and, per question (index into the caller's
/// list), how it runs.
struct SubjectPlan {
    prefix_ids: Vec<u32>,
    n_shots: usize,
    plans: Vec<(usize, Plan)>,
}

impl SubjectPlan {
    fn uses_prefix(&self) -> bool {
        self.plans.iter().any(|(_, p)| matches!(p, Plan::AfterPrefix(_)))
    }
}

/// Called with each batch of scored questions (index into the questions given, result).
pub type OnScored<'a> = dyn FnMut(&[(usize, Scored)]) -> Result<()> + 'a;

pub struct Scorer<'a, B: Backend> {
    engine: &'a Engine<B>,
    letters: [u32; 4],
    /// New tokens per forward call (bounds activation memory; also how many subjects' prefixes are
    /// held at once).
    pub batch_tokens: usize,
    /// Questions run as a whole prompt, not after the shared prefix (for the run's log).
    pub whole_prompts: std::cell::Cell<usize>,
}

impl<'a, B: Backend> Scorer<'a, B> {
    pub fn new(engine: &'a Engine<B>, batch_tokens: usize) -> Result<Self> {
        let letters = letter_ids(&engine.tokenizer).context("checking the answer-letter tokens")?;
        Ok(Scorer { engine, letters, batch_tokens, whole_prompts: Default::default() })
    }

    pub fn letters(&self) -> [u32; 4] {
        self.letters
    }

    /// Scores `questions` (any subjects, each with up to [`K_SHOT`] of its `shots`); `done` gets each
    /// finished batch as (index into `questions`, result) pairs, so the caller can save as it goes.
    ///
    /// Work goes in windows of consecutive subjects whose prefixes fit `batch_tokens` together:
    /// their prefixes in one forward call, then their questions in calls of up to `batch_tokens` new
    /// tokens across subject boundaries. Large calls matter: the engine's cost per token falls with
    /// the rows per call (weights are dequantized once per call), and most subjects of a small
    /// sample have only two or three questions.
    pub fn score(&self, questions: &[&Question], shots: &Shots, done: &mut OnScored<'_>) -> Result<()> {
        let mut order: Vec<&str> = Vec::new();
        let mut by_subject: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, q) in questions.iter().enumerate() {
            by_subject
                .entry(&q.subject)
                .or_insert_with(|| {
                    order.push(&q.subject);
                    Vec::new()
                })
                .push(i);
        }
        let mut pending = order.into_iter().map(|subject| {
            let shots = shots.get(subject).with_context(|| format!("no dev shots for {subject}"))?;
            self.plan_subject(questions, &by_subject[subject], shots)
        });
        let mut next = pending.next().transpose()?;
        while let Some(first) = next.take() {
            let mut window = vec![first];
            let prefix_len = |p: &SubjectPlan| if p.uses_prefix() { p.prefix_ids.len() } else { 0 };
            let mut prefix_tokens = prefix_len(&window[0]);
            next = pending.next().transpose()?;
            while let Some(p) = next.take() {
                if prefix_tokens + prefix_len(&p) > self.batch_tokens {
                    next = Some(p);
                    break;
                }
                prefix_tokens += prefix_len(&p);
                window.push(p);
                next = pending.next().transpose()?;
            }
            self.run_window(&window, done)?;
        }
        Ok(())
    }

    /// Tokenizes one subject's questions and decides how each runs.
    fn plan_subject(&self, questions: &[&Question], idx: &[usize], shots: &[Question]) -> Result<SubjectPlan> {
        let tok = &self.engine.tokenizer;
        let ctx = self.engine.model.cfg.context;
        let bos: Vec<u32> = if tok.add_bos { tok.bos.into_iter().collect() } else { Vec::new() };
        let shots = &shots[..shots.len().min(K_SHOT)];
        let prefix_text = shared_prefix(&questions[idx[0]].subject, shots);
        // Where the shared prefix ends: between the two newlines after the last shot, then right after
        // them. A GPT-2-style pre-tokenizer (SmolLM2) splits "\n\nWhich" as "\n", "\n", "Which" but a
        // text ending in "\n\n" as one "\n\n", so only the first cut keeps the tokens; Llama-3/Qwen2
        // style ones keep "\n\n" whole, so the second. The cut that lets the most questions run after
        // the prefix wins; the others run whole.
        let mut cuts = vec![prefix_text.len()];
        if prefix_text.ends_with("\n\n") {
            cuts.insert(0, prefix_text.len() - 1);
        }
        let mut best: Option<(SubjectPlan, usize)> = None;
        for cut in cuts {
            let (shared, lead) = prefix_text.split_at(cut);
            let prefix_ids = [&bos[..], &encode_bare(tok, shared)?[..]].concat();
            let mut plans = Vec::with_capacity(idx.len());
            let mut after = 0;
            for &i in idx {
                let q = questions[i];
                let qtext = format_question(q, false);
                let whole = [&bos[..], &encode_bare(tok, &format!("{prefix_text}{qtext}"))?[..]].concat();
                let own = encode_bare(tok, &format!("{lead}{qtext}"))?;
                plans.push((
                    i,
                    if whole.len() > ctx {
                        self.fitting_prompt(q, shots, &bos)?
                    } else if whole == [&prefix_ids[..], &own[..]].concat() {
                        after += 1;
                        Plan::AfterPrefix(own)
                    } else {
                        Plan::Whole(whole, shots.len())
                    },
                ));
            }
            if best.as_ref().is_none_or(|b| after > b.1) {
                best = Some((SubjectPlan { prefix_ids, n_shots: shots.len(), plans }, after));
            }
            if after == idx.len() {
                break;
            }
        }
        let (plan, after) = best.expect("at least one cut");
        self.whole_prompts.set(self.whole_prompts.get() + idx.len() - after);
        Ok(plan)
    }

    /// The prefixes of a window of subjects, then all their questions.
    fn run_window(&self, window: &[SubjectPlan], done: &mut OnScored<'_>) -> Result<()> {
        let model = &self.engine.model;
        let mut prefix_caches: Vec<Option<Arc<KvCache<B>>>> = vec![None; window.len()];
        let using: Vec<usize> = (0..window.len()).filter(|&s| window[s].uses_prefix()).collect();
        for group in token_batches(&using, |&s| window[s].prefix_ids.len(), self.batch_tokens) {
            let mut caches: Vec<_> = group.iter().map(|_| model.new_cache()).collect();
            let mut batch: Vec<(&[u32], &mut _)> = group.iter().map(|&s| &window[s].prefix_ids[..]).zip(caches.iter_mut()).collect();
            model.forward(&mut batch, Logits::None)?;
            for (&s, c) in group.iter().zip(caches) {
                prefix_caches[s] = Some(Arc::new(c));
            }
        }
        // (subject in window, plan) of every question, in order.
        let items: Vec<(usize, &(usize, Plan))> =
            window.iter().enumerate().flat_map(|(s, p)| p.plans.iter().map(move |x| (s, x))).collect();
        let v = model.cfg.vocab;
        for group in token_batches(&items, |(_, (_, p))| plan_ids(p).len(), self.batch_tokens) {
            let mut caches: Vec<_> = group
                .iter()
                .map(|(s, (_, p))| match (p, &prefix_caches[*s]) {
                    (Plan::AfterPrefix(_), Some(pre)) => model.cache_after(pre.clone()),
                    _ => model.new_cache(),
                })
                .collect();
            let mut batch: Vec<(&[u32], &mut _)> = group.iter().map(|(_, (_, p))| plan_ids(p)).zip(caches.iter_mut()).collect();
            let logits = model.forward(&mut batch, Logits::Last)?;
            let results: Vec<(usize, Scored)> = group
                .iter()
                .enumerate()
                .map(|(n, (s, (i, p)))| {
                    let row = &logits[n * v..(n + 1) * v];
                    let (n_shots, prompt_tokens) = match p {
                        Plan::AfterPrefix(own) => (window[*s].n_shots, window[*s].prefix_ids.len() + own.len()),
                        Plan::Whole(ids, k) => (*k, ids.len()),
                    };
                    (*i, Scored { logits: self.letters.map(|id| row[id as usize]), n_shots, prompt_tokens })
                })
                .collect();
            done(&results)?;
        }
        Ok(())
    }

    /// The whole prompt with shots dropped from the front until it fits the context.
    fn fitting_prompt(&self, q: &Question, shots: &[Question], bos: &[u32]) -> Result<Plan> {
        let ctx = self.engine.model.cfg.context;
        for drop in 0..=shots.len() {
            let kept = &shots[drop..];
            let ids = [bos, &encode_bare(&self.engine.tokenizer, &super::prompt::prompt(q, kept))?[..]].concat();
            if ids.len() <= ctx {
                return Ok(Plan::Whole(ids, kept.len()));
            }
        }
        bail!("{} row {}: the question alone is longer than the context of {ctx} tokens", q.subject, q.row)
    }
}

/// Consecutive runs of `items` whose sizes add up to at most `budget` (an item larger than the
/// budget goes alone).
fn token_batches<T>(items: &[T], size: impl Fn(&T) -> usize, budget: usize) -> Vec<&[T]> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < items.len() {
        let mut j = i;
        let mut total = 0;
        while j < items.len() && (j == i || total + size(&items[j]) <= budget) {
            total += size(&items[j]);
            j += 1;
        }
        out.push(&items[i..j]);
        i = j;
    }
    out
}

fn plan_ids(p: &Plan) -> &[u32] {
    match p {
        Plan::AfterPrefix(ids) | Plan::Whole(ids, _) => ids,
    }
}

/// Softmax of the four logits at `gold` (computed in f64, max-shifted).
pub fn gold_probability(logits: [f32; 4], gold: usize) -> f64 {
    let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let e = logits.map(|x| (x as f64 - m).exp());
    e[gold] / e.iter().sum::<f64>()
}

/// The argmax letter index (the first on ties).
pub fn predicted(logits: [f32; 4]) -> usize {
    (1..4).fold(0, |best, i| if logits[i] > logits[best] { i } else { best })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gold_probability_is_softmax_over_four() {
        let p = gold_probability([1.0, 2.0, 3.0, 4.0], 3);
        // scipy.special.softmax([1, 2, 3, 4])[3]
        assert!((p - 0.6439142598879724).abs() < 1e-12, "{p}");
        assert!((gold_probability([5.0; 4], 0) - 0.25).abs() < 1e-15);
    }

    #[test]
    fn token_batches_respect_the_budget_and_keep_order() {
        let sizes = [3, 3, 5, 1, 9, 2];
        let b = token_batches(&sizes, |&x| x, 6);
        assert_eq!(b, vec![&[3, 3][..], &[5, 1][..], &[9][..], &[2][..]]);
    }

    #[test]
    fn predicted_takes_the_first_maximum() {
        assert_eq!(predicted([0.0, 2.0, 2.0, 1.0]), 1);
        assert_eq!(predicted([-1.0, -3.0, -2.0, -0.5]), 3);
    }
}
