//! The kernels as PTX for a GPU architecture (cargo feature `cuda`): the `gpu/kernels/` files embedded
//! in the binary, each turned into PTX from, in order: a folder of prebuilt files (`SQLORA_PTX_DIR`:
//! `<file>.sm_XX.ptx`, as `scripts/gpu_ptx.py --keep` or the `ptx_export` example writes them, for a
//! machine with a driver but no NVRTC), the cache (`$SQLORA_HOME/ptx/sm_XX/`, default
//! `~/.cache/sqlora/ptx/`, keyed by a hash of the source and the options), or NVRTC with
//! `gpu/kernels/nvrtc.opts` (then cached).
use std::path::PathBuf;

include!(concat!(env!("OUT_DIR"), "/kernel_sources.rs"));

/// Whether NVRTC's library can be loaded (compiling needs it; prebuilt PTX does not).
pub fn nvrtc_present() -> bool {
    // SAFETY: only tries to open the library.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// The kernel files (`*.cu`) of gpu/kernels/, by file name.
pub fn kernel_files() -> impl Iterator<Item = &'static str> {
    KERNEL_FILES.iter().map(|(f, _)| *f).filter(|f| f.ends_with(".cu"))
}

/// A file's text with its `#include "…"` of the kernels' own headers replaced by the headers (once
/// each), so NVRTC needs no include path.
pub fn expanded(file: &str) -> String {
    fn expand(file: &str, done: &mut Vec<String>, out: &mut String) {
        let text = KERNEL_FILES.iter().find(|(f, _)| *f == file).map(|(_, t)| *t).unwrap_or_else(|| panic!("gpu/kernels/{file}"));
        for line in text.lines() {
            let inc = line.trim().strip_prefix("#include \"").and_then(|r| r.strip_suffix('"'));
            match inc {
                Some(h) if KERNEL_FILES.iter().any(|(f, _)| *f == h) => {
                    if !done.iter().any(|d| d == h) {
                        done.push(h.to_string());
                        expand(h, done, out);
                    }
                }
                _ if line.trim() == "#pragma once" => {}
                _ => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
    }
    let mut out = String::new();
    expand(file, &mut Vec::new(), &mut out);
    out
}

/// NVRTC's options: gpu/kernels/nvrtc.opts (as scripts/gpu_ptx.py uses them) and the architecture.
fn nvrtc_options(arch: &str) -> Vec<String> {
    let opts = KERNEL_FILES.iter().find(|(f, _)| *f == "nvrtc.opts").expect("gpu/kernels/nvrtc.opts").1;
    let mut v: Vec<String> = opts.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
    v.push(format!("--gpu-architecture=compute_{}", &arch[3..]));
    v
}

/// FNV-1a: a cache key stable across builds and Rust versions.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut h = 0xcbf29ce484222325u64;
    for p in parts {
        for b in p.bytes().chain([0]) {
            h = (h ^ b as u64).wrapping_mul(0x100000001b3);
        }
    }
    h
}

/// Where PTX comes from: a folder of prebuilt files, or NVRTC with a cache folder.
pub struct PtxSources {
    pub prebuilt: Option<PathBuf>,
    pub cache: Option<PathBuf>,
}

impl PtxSources {
    /// `SQLORA_PTX_DIR`; the cache under `SQLORA_HOME` (default `~/.cache/sqlora`).
    pub fn from_env() -> Self {
        let home = std::env::var_os("SQLORA_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/sqlora")));
        PtxSources { prebuilt: std::env::var_os("SQLORA_PTX_DIR").map(PathBuf::from), cache: home.map(|h| h.join("ptx")) }
    }
}

/// The PTX of kernel file `file` (e.g. "norm.cu") for `arch` (e.g. "sm_90").
pub fn ptx_for(file: &str, arch: &str, from: &PtxSources) -> Result<String, String> {
    let stem = file.trim_end_matches(".cu");
    if let Some(dir) = &from.prebuilt {
        let p = dir.join(format!("{stem}.{arch}.ptx"));
        return std::fs::read_to_string(&p).map_err(|e| format!("cuda: SQLORA_PTX_DIR: {}: {e}", p.display()));
    }
    let src = expanded(file);
    let opts = nvrtc_options(arch);
    let key = fnv1a(&[&src, &opts.join(" ")]);
    let cached = from.cache.as_ref().map(|c| c.join(arch).join(format!("{stem}-{key:016x}.ptx")));
    if let Some(ptx) = cached.as_ref().and_then(|p| std::fs::read_to_string(p).ok()) {
        return Ok(ptx);
    }
    if !nvrtc_present() {
        return Err(format!(
            "cuda: NVRTC not found (libnvrtc.so), needed to compile gpu/kernels/{file} for {arch}: install the CUDA toolkit's \
             NVRTC, or point SQLORA_PTX_DIR at PTX made by scripts/gpu_ptx.py --arch {arch} --keep DIR"
        ));
    }
    let cu_opts = cudarc::nvrtc::CompileOptions { options: opts, name: Some(file.to_string()), ..Default::default() };
    let ptx = cudarc::nvrtc::compile_ptx_with_opts(&src, cu_opts).map_err(|e| format!("cuda: NVRTC on {file}: {e:?}"))?.to_src();
    if let Some(p) = cached {
        // The cache is an optimisation: a failure to write it is not an error. Written whole, then
        // renamed, so a concurrent run never reads half a file.
        if p.parent().is_some_and(|d| std::fs::create_dir_all(d).is_ok()) {
            let tmp = p.with_extension(format!("ptx.{}", std::process::id()));
            if std::fs::write(&tmp, &ptx).is_ok() {
                let _ = std::fs::rename(&tmp, &p);
            }
        }
    }
    Ok(ptx)
}
