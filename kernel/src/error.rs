//! The engine's error type: every failure names the file or input at fault, so the CLI can print it
//! as is and never panics on bad input.
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // The I/O error is part of the message rather than a chained source: anyhow's `{:#}` prints the
    // chain, and the reason would appear twice.
    #[error("{}: {cause}", path.display())]
    Io { path: PathBuf, cause: std::io::Error },
    #[error("{}: {msg}", path.display())]
    BadFile { path: PathBuf, msg: String },
    #[error("unsupported model: {0}")]
    Unsupported(String),
    #[error("bad input: {0}")]
    BadInput(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
}

impl Error {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io { path: path.to_path_buf(), cause: source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
