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
    if out.exists() && std::fs::read_dir(out).with_context(|| format!("reading {}", out.display()))?.next().is_some() {
        bail!("{} exists and is not empty: export into a new folder", out.display());
    }
    let files = results_files(results);
    // Nothing is published that the viewer cannot read: every Parquet file is checked first.
    for rel in files.iter().filter(|r| r.ends_with(".parquet")) {
        let p = results.join(rel);
        let t = sqlora_results::table::read_table(&p).with_context(|| format!("{}: not a readable Parquet file", p.display()))?;
        sqlora_results::check::check_table(&t, &p.display().to_string())
            .with_context(|| format!("{}: not a sqlora results file", p.display()))?;
    }
    for f in page_files(viewer)? {
        copy(&f, &out.join(f.strip_prefix(viewer)?))?;
    }
    for rel in &files {
        copy(&results.join(rel), &out.join("results").join(rel))?;
    }
    let res = out.join("results");
    std::fs::create_dir_all(&res).with_context(|| format!("creating {}", res.display()))?;
    std::fs::write(res.join("index.json"), index_json(results)).with_context(|| format!("writing {}", res.join("index.json").display()))?;
    // GitHub Pages runs Jekyll on a branch unless told not to; the page needs none of it.
    std::fs::write(out.join(".nojekyll"), "").with_context(|| format!("writing {}", out.join(".nojekyll").display()))?;
    Ok(files.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlora_results::schema::Kind;

    /// A valid results file of `kind` without rows.
    fn write_empty(path: &Path, kind: Kind) {
        sqlora_results::rows::write_rows::<serde_json::Value>(path, &[], &kind.arrow_schema()).unwrap();
    }

    /// A file that is not a readable results file stops the export before anything is written, and
    /// the error names it.
    #[test]
    fn export_refuses_a_garbage_parquet_file_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        let viewer = tmp.path().join("www");
        std::fs::create_dir_all(viewer.join("pkg")).unwrap();
        std::fs::write(viewer.join("index.html"), "<html>").unwrap();
        let results = tmp.path().join("results");
        std::fs::create_dir_all(&results).unwrap();
        write_empty(&results.join("runs.parquet"), Kind::Runs);
        std::fs::write(results.join("spider_predictions.parquet"), "not parquet at all").unwrap();
        let out = tmp.path().join("site");
        let e = format!("{:#}", export(&viewer, &results, &out).unwrap_err());
        assert!(e.contains("spider_predictions.parquet") && e.contains("not a readable Parquet file"), "{e}");
        assert!(!out.exists(), "nothing written");
    }

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
        write_empty(&results.join("runs.parquet"), Kind::Runs);
        write_empty(&results.join("r8/train_log.parquet"), Kind::TrainLog);
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
