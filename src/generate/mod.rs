//! `sqlora generate`: greedy continuations from the command line.
pub mod cli;
