//! `sqlora generate --adapter DIR`: SmolLM2 (Q4_1 GGUF) with the random PEFT adapter of
//! tests/fixtures/smollm2/lora_random greedily continues a Spider prompt exactly as transformers +
//! peft did (make_smollm2_lora.py, its meta.json "greedy"); the prompt starts with "--", which
//! `--prompt` takes as its value. Without the adapter the continuation differs. On the GPU backend over
//! the emulated device (`--device cuda-emulated`: the CUDA kernels compiled for the CPU) the adapter's
//! first tokens are the CPU's.
#[path = "mmlu_support/mod.rs"]
mod support;
use std::path::PathBuf;
use std::process::Command;

fn generate(model: &std::path::Path, adapter: Option<&std::path::Path>, prompt: &str, n: usize) -> String {
    generate_on("cpu", model, adapter, prompt, n)
}

fn generate_on(device: &str, model: &std::path::Path, adapter: Option<&std::path::Path>, prompt: &str, n: usize) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sqlora"));
    cmd.arg("generate").arg("--model").arg(model).args(["--max-tokens", &n.to_string(), "--ignore-eos", "--prompt", prompt]);
    cmd.args(["--device", device]);
    if let Some(a) = adapter {
        cmd.arg("--adapter").arg(a);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "sqlora generate failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn generate_with_peft_adapter_continues_as_peft_does() {
    let model = require!(support::model());
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smollm2/lora_random");
    let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
    let g = &meta["greedy"];
    let prompt = g["prompt"].as_str().unwrap();
    assert!(prompt.starts_with("--"));
    let want = g["continuation_text"].as_str().unwrap();
    let n = g["continuation_ids"].as_array().unwrap().len();
    let got = generate(&model, Some(&dir), prompt, n);
    assert_eq!(got, want);
    let base = generate(&model, None, prompt, n);
    assert_ne!(base, want, "the adapter changes the continuation");
}

#[test]
fn generate_on_the_emulated_gpu_continues_as_the_cpu_does() {
    let model = require!(support::model());
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smollm2/lora_random");
    let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
    let prompt = meta["greedy"]["prompt"].as_str().unwrap();
    // Three tokens: the prompt's prefill and two cached decode steps, LoRA on every projection (the
    // emulator runs every GPU thread in turn: minutes for a long continuation).
    let cpu = generate_on("cpu", &model, Some(&dir), prompt, 3);
    let gpu = generate_on("cuda-emulated", &model, Some(&dir), prompt, 3);
    assert!(!cpu.is_empty());
    assert_eq!(gpu, cpu);
}

#[test]
fn generate_rejects_an_adapter_folder_without_a_config() {
    let model = require!(support::model());
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sqlora"))
        .arg("generate")
        .arg("--model")
        .arg(&model)
        .args(["--prompt", "SELECT", "--max-tokens", "1", "--adapter"])
        .arg(empty.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("loading the adapter") && err.contains("adapter_config.json"), "{err}");
}
