//! MMLU (Hendrycks et al., ICLR 2021) as a regression check: the data, the frozen 150-question
//! sample, the original 4-shot prompt, letter scoring on the engine, resumable runs. See
//! docs/mmlu.md in the shared docs for the format and the numbers to expect.
pub mod adapter;
pub mod categories;
pub mod checkpoint;
pub mod cli;
pub mod csv;
pub mod dataset;
pub mod prompt;
pub mod run;
pub mod sample;
pub mod score;
pub mod summary;

pub use categories::{Categories, CATEGORIES};
pub use dataset::{Question, Split, LETTERS};
