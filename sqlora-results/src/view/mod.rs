//! The viewer's model of a results folder, in plain Rust so it is tested natively: the files read
//! and merged ([`folder`]), one row per arm ([`arms`]), the runs table ([`runs_table`]), the MMLU
//! comparison ([`mmlu`]), training curves ([`curves`]), the Spider explorer ([`explorer`]), the kernel
//! benchmarks ([`kernels`]) and the HTML of each piece ([`html`]). The wasm crate `sqlora-viewer` is only the DOM around these.
pub mod arms;
pub mod curves;
pub mod explorer;
pub mod folder;
pub mod html;
pub mod kernels;
pub mod mmlu;
pub mod runs_table;
