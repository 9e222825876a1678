//! The original MMLU prompt (Hendrycks et al.), k-shot:
//!
//! ```text
//! The following are multiple choice questions (with answers) about <subject words>.\n\n
//! <shot question>\nA. <a>\nB. <b>\nC. <c>\nD. <d>\nAnswer: <letter>\n\n     (× k, dev rows 0..k)
//! <test question>\nA. <a>\nB. <b>\nC. <c>\nD. <d>\nAnswer:
//! ```
//!
//! One space after "about" (the original script printed two by the way it joined words; lm-eval and
//! HELM use one). The model's next token after "Answer:" is read for " A" … " D".
use super::dataset::{Question, LETTERS};

/// Shots in the full prompt.
pub const K_SHOT: usize = 4;

/// "abstract_algebra" → "abstract algebra".
pub fn subject_words(subject: &str) -> String {
    subject.replace('_', " ")
}

pub fn header(subject: &str) -> String {
    format!("The following are multiple choice questions (with answers) about {}.\n\n", subject_words(subject))
}

/// A question and its choices, ending with "Answer:" (and the gold letter plus a blank line for a shot).
pub fn format_question(q: &Question, with_answer: bool) -> String {
    let mut s = q.question.clone();
    for (l, c) in LETTERS.iter().zip(&q.choices) {
        s.push_str(&format!("\n{l}. {c}"));
    }
    s.push_str("\nAnswer:");
    if with_answer {
        s.push_str(&format!(" {}\n\n", q.gold_letter()));
    }
    s
}

/// The header and the shots: the part shared by every question of a subject.
pub fn shared_prefix(subject: &str, shots: &[Question]) -> String {
    let mut s = header(subject);
    for shot in shots {
        s.push_str(&format_question(shot, true));
    }
    s
}

/// The whole prompt for `q` with the given shots.
pub fn prompt(q: &Question, shots: &[Question]) -> String {
    shared_prefix(&q.subject, shots) + &format_question(q, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(subject: &str, text: &str, answer: usize) -> Question {
        Question {
            subject: subject.into(),
            row: 0,
            question: text.into(),
            choices: ["w".into(), "x".into(), "y".into(), "z".into()],
            answer,
        }
    }

    #[test]
    fn prompt_is_the_original_format_with_one_space() {
        let shots = [q("high_school_physics", "S1?", 1), q("high_school_physics", "S2?", 3)];
        let p = prompt(&q("high_school_physics", "T?", 0), &shots);
        assert_eq!(
            p,
            "The following are multiple choice questions (with answers) about high school physics.\n\n\
             S1?\nA. w\nB. x\nC. y\nD. z\nAnswer: B\n\n\
             S2?\nA. w\nB. x\nC. y\nD. z\nAnswer: D\n\n\
             T?\nA. w\nB. x\nC. y\nD. z\nAnswer:"
        );
    }
}
