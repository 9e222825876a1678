//! Writes the PTX of every kernel file for the given architectures into a folder, as
//! `<file>.sm_XX.ptx`: what `SQLORA_PTX_DIR` points the CUDA device at on a machine that has a driver
//! but no NVRTC (or a different CUDA major than this build's NVRTC). Needs NVRTC here.
//!
//!     cargo run --release -p sqlora-gpu --features cuda --example ptx_export -- DIR sm_80 sm_90
use sqlora_gpu::ptx::{kernel_files, ptx_for, PtxSources};
use std::path::PathBuf;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: ptx_export DIR ARCH... (e.g. sm_80 sm_90)");
        std::process::exit(2);
    };
    let archs: Vec<String> = args.collect();
    let archs = if archs.is_empty() { vec!["sm_80".to_string(), "sm_90".to_string()] } else { archs };
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    // Compile fresh (no cache), as the device would on a machine without one.
    let from = PtxSources { prebuilt: None, cache: None };
    for arch in &archs {
        for file in kernel_files() {
            let ptx = ptx_for(file, arch, &from).unwrap_or_else(|e| {
                eprintln!("{e}");
                std::process::exit(1)
            });
            let out = dir.join(format!("{}.{arch}.ptx", file.trim_end_matches(".cu")));
            std::fs::write(&out, ptx).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
            println!("{}", out.display());
        }
    }
}
