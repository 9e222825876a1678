//! Where the built viewer page is, found at run time (a binary copied elsewhere, or built in another
//! checkout, must not look in the folder it was compiled in): `$SQLORA_VIEWER_DIR`, else `wasm/www/`
//! of the checkout the running binary sits in (`target/<profile>/sqlora` → two or three folders up),
//! else `wasm/www/` under the current folder. index.html and style.css are committed; `pkg/` is what
//! `wasm/build.sh` builds (`scripts/main.sh` runs it).
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// The wasm module the page loads; its presence tells that the viewer was built.
pub const WASM_FILE: &str = "pkg/sqlora_viewer_bg.wasm";

/// The folders looked at, in order.
pub fn candidates() -> Vec<PathBuf> {
    if let Some(d) = std::env::var_os("SQLORA_VIEWER_DIR").filter(|d| !d.is_empty()) {
        return vec![PathBuf::from(d)];
    }
    let mut out = Vec::new();
    if let Ok(exe) = std::env::current_exe().and_then(|e| e.canonicalize()) {
        // target/release/sqlora, target/debug/sqlora, target/<triple>/release/sqlora.
        out.extend(exe.ancestors().skip(3).take(2).map(|root| root.join("wasm/www")));
    }
    out.push(Path::new("wasm/www").to_path_buf());
    out
}

pub fn viewer_dir() -> Result<PathBuf> {
    let tried = candidates();
    let Some(dir) = tried.iter().find(|d| d.join("index.html").is_file()) else {
        let list: Vec<String> = tried.iter().map(|d| d.display().to_string()).collect();
        bail!("the viewer page is not in {} (set SQLORA_VIEWER_DIR to the folder holding index.html)", list.join(" or "));
    };
    if !dir.join(WASM_FILE).is_file() {
        bail!("the viewer is not built: {} is missing; run `bash wasm/build.sh` first", dir.join(WASM_FILE).display());
    }
    Ok(dir.clone())
}
