//! sqlora: the task layer over `sqlora-kernel` — data sets (Spider, MMLU), prompts, metrics, results, CLI.
pub mod assets;
pub mod generate_cmd;
pub mod metric;
pub mod spider;
