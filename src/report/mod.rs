//! `sqlora report`: the regression analysis — MMLU accuracy per category for the base and each
//! adapter, the paired change with its noise (bootstrap interval, exact McNemar), the change in mean
//! gold-letter probability, and Spider execution accuracy beside it; `report.md` and SVG charts.
//! The statistics and charts live in the results layer (`sqlora-results`), where the viewer uses
//! the same code.
pub mod cli;
pub mod markdown;
pub mod study;
pub use sqlora_results::{compare, stats, svg};
