//! Where the built viewer page is: `wasm/www/` of this checkout (index.html and style.css are
//! committed; `pkg/` is what `wasm/build.sh` builds), or `$SQLORA_VIEWER_DIR`.
use anyhow::{bail, Result};
use std::path::PathBuf;

/// The wasm module the page loads; its presence tells that the viewer was built.
pub const WASM_FILE: &str = "pkg/sqlora_viewer_bg.wasm";

pub fn viewer_dir() -> Result<PathBuf> {
    let dir = std::env::var_os("SQLORA_VIEWER_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/wasm/www")));
    if !dir.join("index.html").is_file() {
        bail!("the viewer page is not at {} (set SQLORA_VIEWER_DIR to the folder holding index.html)", dir.display());
    }
    if !dir.join(WASM_FILE).is_file() {
        bail!("the viewer is not built: {} is missing; run `bash wasm/build.sh` first", dir.join(WASM_FILE).display());
    }
    Ok(dir)
}
