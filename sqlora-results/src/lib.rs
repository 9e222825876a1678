//! sqlora-results: everything about the results files that the native CLI and the wasm viewer
//! share, so there is one copy of it. The schemas of the five Parquet kinds ([`schema`] and the
//! column tables of [`runs`], [`predictions`], [`mmlu_answers`], [`train_log`], [`kernels`]), reading and
//! writing them ([`table`], [`rows`], [`check`]), the statistics and charts of `sqlora report`
//! ([`stats`], [`compare`], [`svg`], [`svg_lines`]), and the viewer's model of a results folder ([`view`]).
pub mod check;
pub mod compare;
pub mod kernels;
#[cfg(not(target_arch = "wasm32"))]
pub mod lock;
pub mod mmlu_answers;
pub mod predictions;
pub mod rng;
pub mod rows;
pub mod runs;
pub mod schema;
pub mod stats;
pub mod svg;
pub mod svg_lines;
pub mod table;
pub mod train_log;
pub mod view;
