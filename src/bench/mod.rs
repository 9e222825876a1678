//! `sqlora bench`: the engine's speed (`cli`) and LoRA training's (`train`), each beside its peers in
//! the same run.
pub mod args;
pub mod cli;
pub mod machine;
mod train;
