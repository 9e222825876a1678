//! `sqlora merge`: an adapter folded into a dense copy of the model.
pub mod cli;
