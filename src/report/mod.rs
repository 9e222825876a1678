//! `sqlora report`: the regression analysis — MMLU accuracy per category for the base and each
//! adapter, the paired change with its noise (bootstrap interval, exact McNemar), the change in mean
//! gold-letter probability, and Spider execution accuracy beside it; `report.md` and SVG charts.
pub mod cli;
pub mod compare;
pub mod markdown;
pub mod stats;
pub mod svg;
