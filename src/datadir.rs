//! Where the benchmark data lives (Spider and MMLU) and whether it is the data this project expects:
//! the directory is found by `--data-dir`, then `$SQLORA_DATA`, then `../shared/data` from the
//! working directory, then `../shared/data` beside this repository; `data/MANIFEST` lists the
//! sha256 of every file in it.
use anyhow::{bail, Result};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

/// `sha256  relative/path` lines, one per data file (spider/ and mmlu/).
pub const MANIFEST: &str = include_str!("../data/MANIFEST");

/// Environment variable naming the data directory.
pub const ENV_VAR: &str = "SQLORA_DATA";

/// The candidate directories in resolution order, each with where it came from.
pub fn candidates(arg: Option<&Path>) -> Vec<(PathBuf, &'static str)> {
    let mut out = Vec::new();
    if let Some(a) = arg {
        out.push((a.to_path_buf(), "--data-dir"));
    }
    if let Some(e) = std::env::var_os(ENV_VAR).filter(|e| !e.is_empty()) {
        out.push((PathBuf::from(e), "$SQLORA_DATA"));
    }
    out.push((PathBuf::from("../shared/data"), "../shared/data from the working directory"));
    out.push((Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"), "../shared/data beside the repository"));
    out
}

/// The data directory: an explicit `--data-dir` or `$SQLORA_DATA` must exist (no silent fallback
/// past a path the user named); otherwise the first fallback that exists.
pub fn resolve(arg: Option<&Path>) -> Result<PathBuf> {
    let cands = candidates(arg);
    for (path, origin) in &cands {
        let explicit = origin.starts_with('-') || origin.starts_with('$');
        if path.is_dir() {
            return Ok(path.clone());
        }
        if explicit {
            bail!("data directory {} (from {origin}) does not exist", path.display());
        }
    }
    let tried: Vec<String> = cands.iter().map(|(p, o)| format!("  {} ({o})", p.display())).collect();
    bail!("no data directory found; tried:\n{}\nPass --data-dir or set {ENV_VAR}. {}", tried.join("\n"), release_hint("spider"))
}

/// Where the official release of a data set can be had (by the manifest's top folder).
pub fn release_hint(top: &str) -> &'static str {
    match top {
        "spider" => "Spider 1.0 official release: https://yale-lily.github.io/spider",
        "mmlu" => "MMLU official release: https://github.com/hendrycks/test",
        _ => "see the data README",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub path: String,
    pub expected: String,
    pub actual: String,
}

/// The result of checking a data directory against the manifest.
#[derive(Debug, Default, Clone)]
pub struct ManifestReport {
    pub data_dir: PathBuf,
    /// Files that matched their checksum.
    pub ok: usize,
    /// Relative paths (as in the manifest) of files that are absent.
    pub missing: Vec<String>,
    pub mismatched: Vec<Mismatch>,
}

impl ManifestReport {
    pub fn is_ok(&self) -> bool {
        self.missing.is_empty() && self.mismatched.is_empty()
    }
}

impl fmt::Display for ManifestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.ok + self.missing.len() + self.mismatched.len();
        writeln!(f, "{}: {}/{} files match data/MANIFEST", self.data_dir.display(), self.ok, total)?;
        for m in &self.missing {
            writeln!(f, "  missing: {}", self.data_dir.join(m).display())?;
        }
        for m in &self.mismatched {
            writeln!(f, "  checksum mismatch: {} (expected {}, got {})", m.path, m.expected, m.actual)?;
        }
        let mut tops: Vec<&str> = self.missing.iter().chain(self.mismatched.iter().map(|m| &m.path)).map(|p| top(p)).collect();
        tops.sort_unstable();
        tops.dedup();
        for t in tops {
            writeln!(f, "  {}", release_hint(t))?;
        }
        Ok(())
    }
}

fn top(rel: &str) -> &str {
    rel.split('/').next().unwrap_or(rel)
}

/// Check every file of [`MANIFEST`] under `data_dir`: missing files by exact path, checksum mismatches.
pub fn verify_manifest(data_dir: &Path) -> Result<ManifestReport> {
    verify_against(data_dir, MANIFEST)
}

/// [`verify_manifest`] with a given manifest text (tests use small ones).
pub fn verify_against(data_dir: &Path, manifest: &str) -> Result<ManifestReport> {
    use rayon::prelude::*;
    let entries = parse_manifest(manifest)?;
    let results: Vec<(String, String, Option<String>)> = entries
        .into_par_iter()
        .map(|(sum, rel)| {
            let actual = std::fs::read(data_dir.join(&rel)).ok().map(|b| hex::encode(Sha256::digest(&b)));
            (sum, rel, actual)
        })
        .collect();
    let mut report = ManifestReport { data_dir: data_dir.to_path_buf(), ..Default::default() };
    for (expected, path, actual) in results {
        match actual {
            None => report.missing.push(path),
            Some(a) if a == expected => report.ok += 1,
            Some(actual) => report.mismatched.push(Mismatch { path, expected, actual }),
        }
    }
    Ok(report)
}

fn parse_manifest(text: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once("  ") {
            Some((sum, rel)) if sum.len() == 64 && sum.bytes().all(|b| b.is_ascii_hexdigit()) => {
                out.push((sum.to_ascii_lowercase(), rel.to_string()))
            }
            _ => bail!("MANIFEST line {}: expected `sha256  relative/path`, got {line:?}", n + 1),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_missing_files_by_path_and_mismatches() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("spider")).unwrap();
        std::fs::write(dir.path().join("spider/a.json"), b"hello").unwrap();
        std::fs::write(dir.path().join("spider/b.json"), b"changed").unwrap();
        let hello = hex::encode(Sha256::digest(b"hello"));
        let zero = "0".repeat(64);
        let manifest = format!("{hello}  spider/a.json\n{zero}  spider/b.json\n{zero}  mmlu/dev/x.csv\n");
        let r = verify_against(dir.path(), &manifest).unwrap();
        assert_eq!(r.ok, 1);
        assert_eq!(r.missing, vec!["mmlu/dev/x.csv".to_string()]);
        assert_eq!(r.mismatched.len(), 1);
        let text = r.to_string();
        assert!(text.contains(&dir.path().join("mmlu/dev/x.csv").display().to_string()), "{text}");
        assert!(text.contains("https://github.com/hendrycks/test"), "{text}");
        assert!(text.contains("https://yale-lily.github.io/spider"), "{text}");
    }

    #[test]
    fn malformed_manifest_names_the_line() {
        let err = verify_against(Path::new("."), "not a line").unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
    }
}
