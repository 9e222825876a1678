//! `sqlora view`: the results viewer (the wasm crate in `wasm/`) served with a results folder on
//! 127.0.0.1, or written out as a static folder any static host can serve.
pub mod assets;
pub mod cli;
pub mod export;
pub mod listing;
pub mod server;
