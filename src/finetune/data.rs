//! Spider train as training sequences: each example in the evaluation prompt's format without the
//! shots (instruction, schema block, question), followed by its SQL; the loss falls on the SQL tokens
//! only. A seeded shuffle holds out the validation slice; each epoch is ordered into length-bucketed
//! micro-batches under a token budget. Sequences are packed (each keeps its own length and attention),
//! so no padding is computed; `padding_waste` says what padding to the longest would have cost.
use crate::rng::SplitMix64;
use crate::spider::prompt::{question_block, schema_block, INSTRUCTION};
use crate::spider::{db_path, Example};
use anyhow::{bail, Context, Result};
use sqlora_kernel::tokenizer::Tokenizer;
use std::collections::HashMap;
use std::path::Path;

/// One tokenized training example.
#[derive(Clone, Debug)]
pub struct TrainExample {
    /// Position in Spider train (train_spider then train_others).
    pub id: usize,
    pub tokens: Vec<u32>,
    /// Per token: predicted with a loss (the SQL and its closing ";").
    pub target: Vec<bool>,
}

/// The prompt the model sees when trained and when evaluated with `--prompt 0shot`.
pub fn zero_shot_prompt(schema: &str, question: &str) -> String {
    format!("{INSTRUCTION}{schema}{}", question_block(question))
}

/// The answer as trained: one space, the SQL on one line, ";" (what the 3-shot prompt's shots show).
pub fn answer_text(sql: &str) -> String {
    format!(" {};", clean_sql(sql))
}

/// Spider's SQL with runs of whitespace outside string literals collapsed to one space and any
/// trailing ";" dropped (train queries have stray double spaces, tabs and newlines).
pub fn clean_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut pending_space = false;
    for c in sql.trim().chars() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c.is_whitespace() => pending_space = true,
            None => {
                if pending_space && !out.is_empty() {
                    out.push(' ');
                }
                pending_space = false;
                if c == '\'' || c == '"' {
                    quote = Some(c);
                }
                out.push(c);
            }
        }
    }
    out.trim_end_matches(|c: char| c == ';' || c.is_whitespace()).to_string()
}

/// The tokenized set: train and validation examples, and what was left out.
pub struct TrainData {
    pub train: Vec<TrainExample>,
    pub val: Vec<TrainExample>,
    /// Examples longer than `max_len` tokens, skipped (their ids).
    pub too_long: Vec<usize>,
}

/// Tokenizes `examples` (Spider train), holds out `val_n` by a seeded shuffle, keeps at most
/// `max_examples` (0: all) of the rest in shuffled order.
pub fn build(
    data_dir: &Path,
    tok: &Tokenizer,
    examples: &[Example],
    seed: u64,
    val_n: usize,
    max_examples: usize,
    max_len: usize,
) -> Result<TrainData> {
    if val_n >= examples.len() {
        bail!("val_examples {val_n} leaves nothing to train on ({} examples)", examples.len());
    }
    let mut rng = SplitMix64::new(seed);
    let order = rng.choose(examples.len(), examples.len());
    let (val_ids, rest) = order.split_at(val_n);
    let keep = if max_examples == 0 { rest.len() } else { max_examples.min(rest.len()) };
    let mut schemas: HashMap<&str, String> = HashMap::new();
    let mut tokenize = |i: usize| -> Result<TrainExample> {
        let e = &examples[i];
        if !schemas.contains_key(e.db_id.as_str()) {
            let s = schema_block(&db_path(data_dir, &e.db_id)).with_context(|| format!("schema of {}", e.db_id))?;
            schemas.insert(&e.db_id, s);
        }
        let prompt = zero_shot_prompt(&schemas[e.db_id.as_str()], &e.question);
        let answer = answer_text(&e.query);
        let p = tok.encode(&prompt, false)?;
        let full = tok.encode(&format!("{prompt}{answer}"), false)?;
        // The answer starts with a space after ":", a pre-tokenizer split, so the prompt's tokens are a
        // prefix of the whole; if a tokenizer merged across it, the loss starts at the first change.
        let start = p.iter().zip(&full).take_while(|(a, b)| a == b).count();
        let target = (0..full.len()).map(|t| t >= start).collect();
        Ok(TrainExample { id: i, tokens: full, target })
    };
    let mut too_long = Vec::new();
    let mut val = Vec::new();
    for &i in val_ids {
        let ex = tokenize(i)?;
        if ex.tokens.len() > max_len {
            too_long.push(i);
        } else {
            val.push(ex);
        }
    }
    let mut train = Vec::with_capacity(keep);
    for &i in rest {
        if train.len() == keep {
            break;
        }
        let ex = tokenize(i)?;
        if ex.tokens.len() > max_len {
            too_long.push(i);
        } else {
            train.push(ex);
        }
    }
    Ok(TrainData { train, val, too_long })
}

/// Micro-batches of example indices (into `lens`) for one epoch: a seeded shuffle, then groups of
/// `bucket` micro-batches' worth sorted by length and cut into micro-batches of at most `batch_size`
/// sequences and `max_tokens` tokens, in a shuffled order.
pub fn epoch_batches(lens: &[usize], seed: u64, epoch: usize, batch_size: usize, max_tokens: usize) -> Vec<Vec<usize>> {
    const BUCKET: usize = 32;
    let mut rng = SplitMix64::new(seed ^ (0x5eed_0000 + epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let order = rng.choose(lens.len(), lens.len());
    let mut batches = Vec::new();
    for group in order.chunks(BUCKET * batch_size) {
        let mut g = group.to_vec();
        g.sort_by_key(|&i| (lens[i], i));
        let mut cur: Vec<usize> = Vec::new();
        let mut cur_tokens = 0;
        for i in g {
            if !cur.is_empty() && (cur.len() == batch_size || cur_tokens + lens[i] > max_tokens) {
                batches.push(std::mem::take(&mut cur));
                cur_tokens = 0;
            }
            cur_tokens += lens[i];
            cur.push(i);
        }
        if !cur.is_empty() {
            batches.push(cur);
        }
    }
    let perm = rng.choose(batches.len(), batches.len());
    perm.into_iter().map(|i| std::mem::take(&mut batches[i])).collect()
}

/// The share of a padded layout that would be padding: 1 − tokens / (micro-batches × longest).
pub fn padding_waste(lens: &[usize], batches: &[Vec<usize>]) -> f64 {
    let (mut real, mut padded) = (0usize, 0usize);
    for b in batches {
        let longest = b.iter().map(|&i| lens[i]).max().unwrap_or(0);
        real += b.iter().map(|&i| lens[i]).sum::<usize>();
        padded += longest * b.len();
    }
    if padded == 0 {
        0.0
    } else {
        1.0 - real as f64 / padded as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_is_cleaned_outside_literals_only() {
        assert_eq!(clean_sql("SELECT count(*)  FROM head WHERE age  >  56 ;"), "SELECT count(*) FROM head WHERE age > 56");
        assert_eq!(clean_sql("SELECT * FROM t WHERE n = 'a  b'\n\tAND x = 1"), "SELECT * FROM t WHERE n = 'a  b' AND x = 1");
    }

    #[test]
    fn epochs_cover_every_example_once_within_the_budgets() {
        let lens: Vec<usize> = (0..203).map(|i| 50 + (i * 37) % 400).collect();
        let b = epoch_batches(&lens, 5, 0, 8, 1600);
        let mut seen: Vec<usize> = b.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..203).collect::<Vec<_>>());
        assert!(b.iter().all(|m| m.len() <= 8 && (m.len() == 1 || m.iter().map(|&i| lens[i]).sum::<usize>() <= 1600)));
        assert_eq!(b, epoch_batches(&lens, 5, 0, 8, 1600), "same seed, same order");
        assert_ne!(b, epoch_batches(&lens, 5, 1, 8, 1600), "another epoch, another order");
        // Bucketing by length wastes less than random batches would.
        let random: Vec<Vec<usize>> = SplitMix64::new(3).choose(203, 203).chunks(8).map(|c| c.to_vec()).collect();
        assert!(padding_waste(&lens, &b) < padding_waste(&lens, &random) / 2.0);
    }
}
