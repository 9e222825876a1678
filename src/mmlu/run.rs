//! One model (with or without an adapter) over a list of questions: resumes from its checkpoint,
//! scores the rest with a progress bar, saving every batch, and returns every answer row in question
//! order.
use super::categories::Categories;
use super::checkpoint::Checkpoint;
use super::dataset::{Question, Shots, LETTERS};
use super::score::{gold_probability, predicted, Scorer};
use crate::progress::Progress;
use crate::results::mmlu_answers::AnswerRow;
use anyhow::{Context, Result};
use sqlora_kernel::backend::Backend;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

/// Which run the rows belong to.
pub struct RunId {
    pub model: String,
    pub adapter: Option<String>,
    pub split: String,
}

pub struct Outcome {
    /// Every question's answer, in the order of the questions given.
    pub rows: Vec<AnswerRow>,
    /// Questions scored by this invocation (the rest came from the checkpoint).
    pub scored_now: usize,
    pub wall_s: f64,
}

/// The answer row of a scored question.
pub fn answer_row(id: &RunId, category: &str, q: &Question, s: &super::score::Scored) -> AnswerRow {
    let p = predicted(s.logits);
    AnswerRow {
        model: id.model.clone(),
        adapter: id.adapter.clone(),
        split: id.split.clone(),
        subject: q.subject.clone(),
        category: category.to_string(),
        row: q.row as i64,
        logit_a: s.logits[0],
        logit_b: s.logits[1],
        logit_c: s.logits[2],
        logit_d: s.logits[3],
        p_gold: gold_probability(s.logits, q.answer),
        predicted: LETTERS[p].to_string(),
        gold: q.gold_letter().to_string(),
        correct: p == q.answer,
        n_shots: s.n_shots as i64,
        prompt_tokens: s.prompt_tokens as i64,
    }
}

/// Scores `questions` (dev shots per subject in `shots`), saving to and resuming from `checkpoint`.
pub fn run<B: Backend>(
    scorer: &Scorer<B>,
    cats: &Categories,
    questions: &[Question],
    shots: &Shots,
    id: &RunId,
    checkpoint: &Path,
    settings: &serde_json::Value,
) -> Result<(Outcome, Checkpoint)> {
    let (mut ckpt, saved) = Checkpoint::open(checkpoint, settings)?;
    let done: HashSet<(String, i64)> = saved.iter().map(|r| (r.subject.clone(), r.row)).collect();
    let todo: Vec<&Question> = questions.iter().filter(|q| !done.contains(&(q.subject.clone(), q.row as i64))).collect();
    let label = format!("{}{}", id.model, id.adapter.as_deref().map(|a| format!(" + {a}")).unwrap_or_default());
    if !saved.is_empty() {
        eprintln!("{label}: resuming, {} of {} questions already in {}", done.len(), questions.len(), checkpoint.display());
    }
    let mut pb = Progress::new(&label, todo.len() as u64, 0);
    let start = Instant::now();
    let mut rows = saved;
    let mut pos = 0u64;
    scorer.score(&todo, shots, &mut |batch| {
        let mut new = Vec::with_capacity(batch.len());
        for (i, s) in batch {
            let q = todo[*i];
            let cat = cats.category(&q.subject).with_context(|| format!("subject {} has no category", q.subject))?;
            new.push(answer_row(id, cat, q, s));
        }
        ckpt.append(&new)?;
        let subject = new.last().map(|r| r.subject.clone()).unwrap_or_default();
        rows.extend(new);
        pos += batch.len() as u64;
        pb.set(pos, &format!("questions, {subject}"));
        Ok(())
    })?;
    pb.finish();
    let wall_s = start.elapsed().as_secs_f64();
    // Question order, whatever order the checkpoint and the batches gave.
    let pos: HashMap<(&str, i64), usize> = questions.iter().enumerate().map(|(i, q)| ((q.subject.as_str(), q.row as i64), i)).collect();
    rows.retain(|r| pos.contains_key(&(r.subject.as_str(), r.row)));
    rows.sort_by_key(|r| pos[&(r.subject.as_str(), r.row)]);
    Ok((Outcome { rows, scored_now: todo.len(), wall_s }, ckpt))
}
