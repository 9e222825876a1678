//! Compiles the CUDA kernels (kernels/*.cu) for the CPU, with the emulation header (emu/cuda_emu.h)
//! force-included and the emulator's scheduler (emu/runtime.cpp) beside them, into static libraries
//! the crate links. `SQLORA_GPU_SANITIZE=1` builds them with AddressSanitizer and UBSan (and links
//! the test binaries with them); `SQLORA_GPU_UCONTEXT=1` gives the scheduler the portable fiber switch
//! on x86-64 too: scripts/gpu_check.sh runs the kernel tests both ways.
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sanitize = std::env::var("SQLORA_GPU_SANITIZE").is_ok_and(|v| v == "1");
    println!("cargo:rerun-if-env-changed=SQLORA_GPU_SANITIZE");
    // The portable fiber switch (ucontext) instead of x86-64's own: tested by scripts/gpu_check.sh.
    let ucontext = std::env::var("SQLORA_GPU_UCONTEXT").is_ok_and(|v| v == "1");
    println!("cargo:rerun-if-env-changed=SQLORA_GPU_UCONTEXT");
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .std("c++17")
        .include(dir.join("emu"))
        .include(dir.join("kernels"))
        .flag_if_supported("-Wno-unused-parameter")
        .warnings(true)
        .opt_level(2);
    if sanitize {
        build.flag("-fsanitize=address,undefined").flag("-fno-omit-frame-pointer").flag("-fno-sanitize-recover=all");
        // rustc links with -nodefaultlibs: name the sanitizers' runtimes (the script that runs these
        // tests preloads libasan, which must come before every other library).
        println!("cargo:rustc-link-lib=dylib=asan");
        println!("cargo:rustc-link-lib=dylib=ubsan");
    }
    if ucontext {
        build.define("SQ_EMU_UCONTEXT", None);
    }
    build.file(dir.join("emu/runtime.cpp"));
    // The .cu files are C++ to the host compiler: -x c++ before each, the dialect header first.
    let mut sources: Vec<_> = std::fs::read_dir(dir.join("kernels"))
        .expect("gpu/kernels")
        .map(|e| e.expect("gpu/kernels entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "cu"))
        .collect();
    sources.push(dir.join("emu/selftest.cu"));
    sources.sort();
    let mut kernels = build.clone();
    kernels.flag("-x").flag("c++").flag("-include").flag("cuda_emu.h");
    for s in &sources {
        kernels.file(s);
    }
    for d in ["emu", "kernels"] {
        println!("cargo:rerun-if-changed={}", dir.join(d).display());
    }
    build.compile("sqlora_gpu_emu_runtime");
    kernels.compile("sqlora_gpu_emu_kernels");
    embed_sources(dir);
}

/// Writes `$OUT_DIR/kernel_sources.rs`: every kernel file and header of kernels/ as (name, text), so
/// the CUDA device compiles the same sources at run time from the binary alone (src/cuda.rs).
fn embed_sources(dir: &Path) {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("kernels"))
        .expect("gpu/kernels")
        .map(|e| e.expect("gpu/kernels entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "cu" || e == "cuh" || e == "opts"))
        .collect();
    files.sort();
    let mut out = String::from("/// (file name, text) of every file of gpu/kernels/.\npub const KERNEL_FILES: &[(&str, &str)] = &[\n");
    for f in &files {
        let name = f.file_name().unwrap().to_str().expect("a UTF-8 file name");
        out += &format!("    ({name:?}, include_str!({:?})),\n", f.display().to_string());
    }
    out += "];\n";
    let path = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("kernel_sources.rs");
    std::fs::write(path, out).expect("writing kernel_sources.rs");
}
