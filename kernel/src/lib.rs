//! sqlora-kernel: the engine. Loads a Llama-family model (GGUF or safetensors), tokenizes, runs the
//! forward pass over a `Backend`, and generates. It knows nothing of Spider or MMLU.
pub mod atomic_file;
pub mod backend;
pub mod bench;
pub mod config;
pub mod cpu;
pub mod engine;
pub mod error;
pub mod formats;
pub mod generate;
pub mod loader;
pub mod lora;
pub mod model;
pub mod reference;
pub mod rng;
pub mod tokenizer;
pub mod train;

pub use engine::Engine;
pub use error::{Error, Result};
