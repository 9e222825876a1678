//! sqlora: the task layer over `sqlora-kernel` — data sets (Spider, MMLU), prompts, metrics, results, CLI.
pub mod assets;
pub mod bench_cmd;
pub mod datadir;
pub mod finetune;
pub mod generate_cmd;
pub mod merge_cmd;
pub mod metric;
pub mod mmlu;
pub mod progress;
pub mod report;
pub mod results;
pub use sqlora_results::rng;
pub mod spider;
pub mod sqllex;
pub mod viewer;
