//! Phase 2: LoRA fine-tuning on Spider train — settings, data, checkpoints, the training run, the CLI.
pub mod checkpoint;
pub mod cli;
pub mod data;
pub mod gather;
pub mod run;
pub mod settings;
pub mod snapshot;

pub use settings::Settings;
