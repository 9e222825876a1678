//! `sqlora merge`: the tiny Llama with its PEFT adapter merged into a Hugging Face directory (f16 and
//! f32) that our engine loads; the f32 copy gives the fused logits (kernel/tests/merge.rs checks the
//! numbers on SmolLM2 too).
use sqlora_kernel::cpu::CpuBackend;
use sqlora_kernel::loader::ModelSource;
use sqlora_kernel::lora::Adapter;
use sqlora_kernel::model::{Logits, Model};
use std::path::{Path, PathBuf};
use std::process::Command;

fn merge(model: &Path, adapter: &Path, out: &Path, f16: bool) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sqlora"));
    cmd.arg("merge").arg("--model").arg(model).arg("--adapter").arg(adapter).arg("--out").arg(out);
    if f16 {
        cmd.arg("--f16");
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "sqlora merge: {}", String::from_utf8_lossy(&o.stderr));
}

fn logits(src: &ModelSource, adapter: Option<Adapter>, ids: &[u32]) -> Vec<f32> {
    let mut m = Model::load(CpuBackend::default(), src).unwrap();
    m.set_adapter(adapter.map(std::sync::Arc::new)).unwrap();
    let mut cache = m.new_cache();
    m.forward(&mut [(ids, &mut cache)], Logits::All).unwrap()
}

#[test]
fn merge_writes_a_model_with_the_adapter_folded_in() {
    let tiny = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny");
    let out = tempfile::tempdir().unwrap();
    let (f32_dir, f16_dir) = (out.path().join("f32"), out.path().join("f16"));
    merge(&tiny.join("llama"), &tiny.join("llama_lora"), &f32_dir, false);
    merge(&tiny.join("llama"), &tiny.join("llama_lora"), &f16_dir, true);
    let ids: Vec<u32> = (0..16).map(|i| (i * 53 + 7) % 320).collect();
    let src = ModelSource::open(tiny.join("llama")).unwrap();
    let fused = logits(&src, Some(Adapter::load(tiny.join("llama_lora")).unwrap()), &ids);
    let base = logits(&src, None, &ids);
    let max_diff = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    let merged = logits(&ModelSource::open(&f32_dir).unwrap(), None, &ids);
    let merged16 = logits(&ModelSource::open(&f16_dir).unwrap(), None, &ids);
    let (d32, d16, moved) = (max_diff(&merged, &fused), max_diff(&merged16, &fused), max_diff(&base, &fused));
    println!("tiny llama merged: f32 {d32:.2e}, f16 {d16:.2e} from the fused logits (the adapter moves them by {moved:.2})");
    assert!(d32 < 1e-4 && d16 < moved / 10.0);
    let cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(f16_dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["torch_dtype"], "float16");
}
