//! `sqlora view --export DIR`: the page and a results folder as plain static files — the same
//! layout the server gives (`index.html`, `pkg/`, `results/…` and `results/index.json`), so any
//! static host, GitHub Pages included, serves it as it is.
use super::listing::{index_json, results_files};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

fn copy(from: &Path, to: &Path) -> Result<()> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::copy(from, to).with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    Ok(())
}

/// The page's own files: everything in the viewer folder but hidden files and wasm-bindgen's
/// by-products that a browser never asks for.
fn page_files(viewer: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for dir in [viewer.to_path_buf(), viewer.join("pkg")] {
        for e in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let p = e?.path();
            let name = p.file_name().unwrap_or_default().to_string_lossy().into_owned();
            let wanted = p.is_file() && !name.starts_with('.') && !name.ends_with(".d.ts") && name != "package.json";
            if wanted {
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// Write the static site; returns the number of results files it holds.
pub fn export(viewer: &Path, results: &Path, out: &Path) -> Result<usize> {
    if out.exists() && std::fs::read_dir(out)?.next().is_some() {
        bail!("{} exists and is not empty: export into a new folder", out.display());
    }
    for f in page_files(viewer)? {
        copy(&f, &out.join(f.strip_prefix(viewer)?))?;
    }
    let files = results_files(results);
    for rel in &files {
        copy(&results.join(rel), &out.join("results").join(rel))?;
    }
    std::fs::create_dir_all(out.join("results"))?;
    std::fs::write(out.join("results/index.json"), index_json(results))?;
    // GitHub Pages runs Jekyll on a branch unless told not to; the page needs none of it.
    std::fs::write(out.join(".nojekyll"), "")?;
    Ok(files.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_holds_the_page_the_results_and_their_index() {
        let tmp = tempfile::tempdir().unwrap();
        let viewer = tmp.path().join("www");
        std::fs::create_dir_all(viewer.join("pkg")).unwrap();
        for f in
            ["index.html", "style.css", "pkg/sqlora_viewer.js", "pkg/sqlora_viewer_bg.wasm", "pkg/sqlora_viewer.d.ts", "pkg/.gitignore"]
        {
            std::fs::write(viewer.join(f), f).unwrap();
        }
        let results = tmp.path().join("results");
        std::fs::create_dir_all(results.join("r8")).unwrap();
        std::fs::write(results.join("runs.parquet"), "r").unwrap();
        std::fs::write(results.join("r8/train_log.parquet"), "t").unwrap();
        let out = tmp.path().join("site");
        assert_eq!(export(&viewer, &results, &out).unwrap(), 2);
        for f in [
            "index.html",
            "style.css",
            "pkg/sqlora_viewer.js",
            "pkg/sqlora_viewer_bg.wasm",
            "results/runs.parquet",
            "results/r8/train_log.parquet",
            ".nojekyll",
        ] {
            assert!(out.join(f).is_file(), "{f}");
        }
        assert!(!out.join("pkg/sqlora_viewer.d.ts").exists() && !out.join("pkg/.gitignore").exists());
        let index = std::fs::read_to_string(out.join("results/index.json")).unwrap();
        assert_eq!(index, r#"{"files":["r8/train_log.parquet","runs.parquet"]}"#);
        assert!(export(&viewer, &results, &out).is_err(), "never into a non-empty folder");
    }
}
