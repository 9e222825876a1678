//! `sqlora bench`: the engine's speed (`cli`) and LoRA training's (`train`), each beside its peers in
//! the same run; and every kernel against the machine's measured limits (`kernels`).
pub mod args;
pub mod cli;
pub mod kernels;
pub mod machine;
mod train;
