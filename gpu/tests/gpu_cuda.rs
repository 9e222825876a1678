//! On a real NVIDIA GPU (cargo feature `cuda`): the CUDA backend gives what the emulated device and
//! the CPU give — the tiny Llama's and Qwen2's logits (prefill, then a cached decode step), and the
//! product for every encoding the device decodes. With no GPU each test prints one SKIPPED line and
//! checks instead that the device says clearly why it cannot start. With or without a GPU: NVRTC turns
//! every embedded kernel file into PTX, as the device does at start-up.
#![cfg(feature = "cuda")]
use sqlora_gpu::ptx::{expanded, kernel_files, ptx_for, PtxSources};
use sqlora_gpu::{CudaGpu, EmulatedGpu, GpuBackend};
use sqlora_kernel::backend::{Backend, HostMatrix};
use sqlora_kernel::bench::inputs::random_bytes;
use sqlora_kernel::cpu::CpuBackend;
use sqlora_kernel::formats::quant::GgmlType;
use sqlora_kernel::loader::ModelSource;
use sqlora_kernel::model::{Logits, Model};
use std::path::PathBuf;

mod common;

/// The GPU, or None after printing why the test is skipped (and checking that the reason is clear).
fn gpu(test: &str) -> Option<GpuBackend<CudaGpu>> {
    match CudaGpu::new(0) {
        Ok(g) => {
            let be = GpuBackend::new(g);
            eprintln!("-- {test}: on {}", be.name());
            Some(be)
        }
        Err(e) => {
            assert!(e.contains("no CUDA driver") || e.contains("GPU 0 asked for, 0 found"), "an unclear reason: {e}");
            eprintln!("SKIPPED: {test}: no GPU here ({e})");
            None
        }
    }
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Prefill of two sequences, then one cached decode step each: every logit.
fn logits<B: Backend>(be: B, name: &str) -> Vec<f32> {
    // SQLORA_FIXTURES: where the tiny models are when this binary runs away from its source tree
    // (gpu/bench.sh on a GPU machine).
    let fixtures = std::env::var_os("SQLORA_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures"));
    let dir = fixtures.join("tiny").join(name);
    let m = Model::load(be, &ModelSource::open(&dir).unwrap()).unwrap();
    let (a, b): (Vec<u32>, Vec<u32>) = ((1..20).map(|i| i * 13 % 300).collect(), (3..11).map(|i| i * 7 % 300).collect());
    let (mut ca, mut cb) = (m.new_cache(), m.new_cache());
    let mut out = m.forward(&mut [(&a[..], &mut ca), (&b[..], &mut cb)], Logits::All).unwrap();
    out.extend(m.forward(&mut [(&[5u32][..], &mut ca), (&[9u32][..], &mut cb)], Logits::All).unwrap());
    out
}

#[test]
fn tiny_models_give_the_emulators_and_the_cpus_logits_on_the_gpu() {
    let Some(cuda) = gpu("tiny models") else { return };
    for name in ["llama", "qwen2"] {
        let on_gpu = logits(cuda.clone(), name);
        let emulated = logits(GpuBackend::new(EmulatedGpu::default()), name);
        let cpu = logits(CpuBackend::default(), name);
        let (d_emu, d_cpu) = (max_abs(&on_gpu, &emulated), max_abs(&on_gpu, &cpu));
        eprintln!("{name}: max |gpu − emulated| {d_emu:.2e}, max |gpu − cpu| {d_cpu:.2e}");
        assert!(d_emu <= 1e-4 && d_cpu <= 1e-4, "{name}: {d_emu} / {d_cpu}");
    }
}

fn product<B: Backend>(be: &B, h: &HostMatrix, x: &[f32], m: usize) -> Vec<f32> {
    let w = be.matrix(h).unwrap();
    let mut out = be.zeros(m * h.rows);
    be.matmul(&be.upload(x), m, &w, &mut out);
    be.download(&out)
}

#[test]
fn the_product_matches_the_emulator_for_every_encoding_on_the_gpu() {
    let Some(cuda) = gpu("products") else { return };
    let emu = GpuBackend::new(EmulatedGpu::default());
    // 512 columns: whole super-blocks of 256 for the K-quants.
    let (rows, cols) = (200, 512);
    for ty in [GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_1, GgmlType::Q4K, GgmlType::Q6K] {
        let bytes = random_bytes(ty, rows, cols, 7);
        let h = HostMatrix { name: "w".into(), ty, rows, cols, bytes: &bytes };
        for m in [1usize, 17, 64] {
            let x: Vec<f32> = (0..m * cols).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
            let (on_gpu, emulated) = (product(&cuda, &h, &x, m), product(&emu, &h, &x, m));
            let d = max_abs(&on_gpu, &emulated);
            assert!(d <= 1e-4, "{ty:?} m={m}: max |gpu − emulated| {d}");
        }
    }
}

/// The run-time compile path with no GPU: NVRTC (the PyPI wheel's, on LD_LIBRARY_PATH in
/// scripts/gpu_check.sh) turns every embedded file into PTX for sm_80 and sm_90, the PTX is cached,
/// and the cache (then a prebuilt folder) is read back instead of compiling.
#[test]
fn the_tensor_core_wrapper_follows_the_ptx_layouts_on_the_gpu() {
    if gpu("tensor cores").is_none() {
        return;
    }
    let g = CudaGpu::new(0).unwrap();
    common::tensor_core::check_mma(&g);
    common::tensor_core::check_ldmatrix(&g);
    common::tensor_core::check_cp_async(&g);
}

#[test]
fn nvrtc_compiles_every_embedded_file_and_the_cache_serves_it_again() {
    if !sqlora_gpu::ptx::nvrtc_present() {
        assert!(std::env::var("CI").is_err(), "CI: NVRTC must be found (scripts/gpu_check.sh puts the wheel's on LD_LIBRARY_PATH)");
        eprintln!("SKIPPED: no NVRTC on this machine (bash scripts/gpu_tools.sh installs it)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("sqlora-ptx-test-{}", std::process::id()));
    let from = PtxSources { prebuilt: None, cache: Some(dir.clone()) };
    for arch in ["sm_80", "sm_90"] {
        for file in kernel_files() {
            let ptx = ptx_for(file, arch, &from).unwrap();
            assert!(ptx.contains(&format!(".target {arch}")) && ptx.contains(".entry"), "{file} {arch}");
            let cached: Vec<_> = std::fs::read_dir(dir.join(arch)).unwrap().map(|e| e.unwrap().path()).collect();
            let stem = file.trim_end_matches(".cu");
            let hit = cached.iter().find(|p| p.file_name().unwrap().to_str().unwrap().starts_with(&format!("{stem}-"))).unwrap();
            // A cache hit is returned as stored (mark it to tell it from a fresh compile).
            std::fs::write(hit, format!("{ptx}// from the cache\n")).unwrap();
            assert!(ptx_for(file, arch, &from).unwrap().ends_with("// from the cache\n"));
        }
    }
    let prebuilt = PtxSources { prebuilt: Some(dir.join("none-here")), cache: None };
    let e = ptx_for("norm.cu", "sm_90", &prebuilt).unwrap_err();
    assert!(e.contains("SQLORA_PTX_DIR") && e.contains("norm.sm_90.ptx"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_kernel_file_expands_to_header_free_source() {
    for file in kernel_files() {
        let src = expanded(file);
        assert!(!src.contains("#include"), "{file} still includes a file");
        assert!(src.contains("extern \"C\" __global__"), "{file}");
        // Each header once: block_sum is defined once however many files include sq_cuda.cuh.
        assert!(src.matches("float block_sum(").count() == 1, "{file}");
    }
}
