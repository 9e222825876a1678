//! Phases 1 and 3: the model (base, or with an adapter) answers Spider dev and its predictions are
//! scored. The runner sits above `spider` (data, prompts) and `metric` (execution accuracy).
pub mod cli;
