//! The files of a results folder the page may read, and the one rule for turning a URL path into
//! a file: it must stay inside the folder it is served from.
use std::path::{Component, Path, PathBuf};

/// Folders this deep under the results folder are still listed (a folder per run, say).
const MAX_DEPTH: usize = 4;

/// Every `.parquet` file under `root` (hidden files and folders such as `.checkpoints` left out),
/// as sorted `/`-separated paths relative to `root`.
pub fn results_files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    walk(root, "", 0, &mut out);
    out.sort();
    out
}

fn walk(dir: &Path, prefix: &str, depth: usize, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let rel = format!("{prefix}{name}");
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() && depth < MAX_DEPTH {
            walk(&e.path(), &format!("{rel}/"), depth + 1, out);
        } else if ft.is_file() && name.ends_with(".parquet") {
            out.push(rel);
        }
    }
}

/// The folder as the page reads it (every file of [`results_files`] loaded the page's way), for
/// native callers that show the viewer's tables (the notebooks).
pub fn read_folder(root: &Path) -> anyhow::Result<sqlora_results::view::folder::Folder> {
    let mut f = sqlora_results::view::folder::Folder::default();
    for name in results_files(root) {
        let path = root.join(&name);
        f.add_file(&name, std::fs::read(&path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?);
    }
    Ok(f)
}

/// `{"files": [...]}`: what the page fetches first (`results/index.json`).
pub fn index_json(root: &Path) -> String {
    serde_json::json!({ "files": results_files(root) }).to_string()
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// What a URL path names under a folder.
#[derive(Debug, PartialEq)]
pub enum Resolved {
    File(PathBuf),
    /// Inside the folder, but nothing is there.
    Missing,
    /// Outside the folder: `..`, an absolute path, a backslash, a NUL, a bad escape, or a link
    /// that leads out.
    Outside,
}

/// The file under `root` that the URL path `rel` (already stripped of its route prefix) names.
/// Percent-escapes are decoded first, so `%2e%2e` is `..` too.
pub fn resolve_inside(root: &Path, rel: &str) -> Resolved {
    let Some(rel) = percent_decode(rel.split(['?', '#']).next().unwrap_or("")) else { return Resolved::Outside };
    if rel.contains(['\\', '\0']) {
        return Resolved::Outside;
    }
    let mut p = root.to_path_buf();
    for part in rel.split('/').filter(|s| !s.is_empty()) {
        let mut comps = Path::new(part).components();
        match (comps.next(), comps.next()) {
            (Some(Component::Normal(_)), None) => p.push(part),
            _ => return Resolved::Outside,
        }
    }
    let (Ok(real), Ok(root)) = (p.canonicalize(), root.canonicalize()) else { return Resolved::Missing };
    if !real.starts_with(&root) {
        Resolved::Outside
    } else if real.is_file() {
        Resolved::File(real)
    } else {
        Resolved::Missing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_outside_the_folder_are_refused_however_they_are_spelled() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("results");
        std::fs::create_dir_all(root.join("r8")).unwrap();
        std::fs::write(root.join("runs.parquet"), b"x").unwrap();
        std::fs::write(root.join("r8/runs.parquet"), b"x").unwrap();
        std::fs::write(tmp.path().join("secret.txt"), b"s").unwrap();
        assert_eq!(resolve_inside(&root, "runs.parquet"), Resolved::File(root.join("runs.parquet").canonicalize().unwrap()));
        assert!(matches!(resolve_inside(&root, "r8/runs.parquet?x=1"), Resolved::File(_)));
        assert_eq!(resolve_inside(&root, "nothing.parquet"), Resolved::Missing);
        assert_eq!(resolve_inside(&root, "r8"), Resolved::Missing, "a folder is not a file");
        assert_eq!(resolve_inside(&root, "/etc/passwd"), Resolved::Missing, "a leading / stays inside the folder");
        for bad in ["../secret.txt", "%2e%2e/secret.txt", "r8/../../secret.txt", "..%2fsecret.txt", "..\\secret.txt", "a%00b", "%zz"] {
            assert_eq!(resolve_inside(&root, bad), Resolved::Outside, "{bad}");
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(tmp.path().join("secret.txt"), root.join("link.parquet")).unwrap();
            assert_eq!(resolve_inside(&root, "link.parquet"), Resolved::Outside, "a link leading out");
        }
    }

    #[test]
    fn the_listing_holds_parquet_files_only_and_skips_hidden_folders() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join(".checkpoints")).unwrap();
        std::fs::create_dir_all(root.join("r8")).unwrap();
        for f in ["runs.parquet", "report.md", ".runs.parquet.tmp.parquet", ".checkpoints/x.parquet", "r8/spider_predictions.parquet"] {
            std::fs::write(root.join(f), b"x").unwrap();
        }
        assert_eq!(results_files(root), vec!["r8/spider_predictions.parquet", "runs.parquet"]);
        assert_eq!(index_json(root), r#"{"files":["r8/spider_predictions.parquet","runs.parquet"]}"#);
    }
}
