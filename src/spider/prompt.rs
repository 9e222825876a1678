//! The fixed 3-shot Text-to-SQL prompt, the same for every model evaluated.
//!
//! `data/prompts/spider_3shot.txt` holds the instruction and three Spider train examples from three
//! databases (a join, a GROUP BY … HAVING aggregate, a nested NOT IN subquery), each with its schema
//! in the same form as the question's. A prompt is three blocks that are tokenized apart and cached
//! apart — the shots (shared by all questions), the schema (shared by a database's questions) and
//! the question — so every block boundary is a newline followed by "--", where byte-level BPE
//! tokenizes the same split or joined (checked at run time by `PromptTokens::checked`).
use super::schema::schema_text;
use anyhow::{bail, Result};
use std::path::Path;

/// The three shots, as committed (built by `examples/make_prompt.rs`).
pub const SHOTS: &str = include_str!("../../data/prompts/spider_3shot.txt");

/// The train examples used as shots: (index in train_spider.json, db_id, question, clean SQL).
pub const SHOT_EXAMPLES: [(usize, &str, &str, &str); 3] = [
    (
        223,
        "book_2",
        "Show writers who have published a book with price more than 4000000.",
        "SELECT T1.Writer FROM book AS T1 JOIN publication AS T2 ON T1.Book_ID = T2.Book_ID WHERE T2.Price > 4000000",
    ),
    (
        7,
        "department_management",
        "What are the names of the states where at least 3 heads were born?",
        "SELECT born_state FROM head GROUP BY born_state HAVING count(*) >= 3",
    ),
    (
        269,
        "musical",
        "What are the names of musicals who have no actors?",
        "SELECT Name FROM musical WHERE Musical_ID NOT IN (SELECT Musical_ID FROM actor)",
    ),
];

pub const INSTRUCTION: &str = "-- Translate each question into one SQLite query over the database schema above it.\n";

/// The schema block of a database.
pub fn schema_block(db_path: &Path) -> Result<String> {
    Ok(format!("-- Database schema:\n{}", schema_text(db_path, 0)?.trim_end().to_string() + "\n"))
}

/// The question block; the model continues after "-- SQL:".
pub fn question_block(question: &str) -> String {
    format!("-- Question: {}\n-- SQL:", question.trim())
}

/// A shot: schema, question and the answer on one line ending with ";".
pub fn shot_block(schema: &str, question: &str, sql: &str) -> String {
    format!("{schema}{} {sql};\n", question_block(question))
}

/// Builds the shots text from the databases (what `data/prompts/spider_3shot.txt` holds).
pub fn build_shots(spider_dir: &Path) -> Result<String> {
    let mut s = INSTRUCTION.to_string();
    for (_, db, q, sql) in SHOT_EXAMPLES {
        let p = spider_dir.join("database").join(db).join(format!("{db}.sqlite"));
        s.push_str(&shot_block(&schema_block(&p)?, q, sql));
    }
    Ok(s)
}

/// The whole prompt for one question, as one string (for a model without prefix caching, or --chat).
pub fn full_prompt(schema: &str, question: &str) -> String {
    format!("{SHOTS}{schema}{}", question_block(question))
}

/// Checks that tokenizing the blocks apart equals tokenizing them joined.
pub fn check_split(encode: impl Fn(&str) -> Result<Vec<u32>>, blocks: &[&str]) -> Result<()> {
    let mut parts = Vec::new();
    for b in blocks {
        parts.extend(encode(b)?);
    }
    if parts != encode(&blocks.concat())? {
        bail!("prompt blocks do not tokenize the same apart and joined; the prefix cache would change the prompt");
    }
    Ok(())
}
