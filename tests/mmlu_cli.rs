//! `sqlora mmlu` refuses bad adapters before it scores anything: a missing directory or an adapter
//! without weights fails with the path in the message, and no answers or runs are written (before,
//! the base model was scored first and the error came minutes later).
mod mmlu_support;

use std::process::Command;

fn mmlu_with_adapter(adapter: &std::path::Path, out: &std::path::Path, model: &std::path::Path) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_sqlora"))
        .args(["mmlu", "--model"])
        .arg(model)
        .arg("--adapter")
        .arg(adapter)
        .arg("--out-dir")
        .arg(out)
        .output()
        .expect("run sqlora");
    (o.status.success(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn bad_adapters_fail_before_any_scoring() {
    require!(mmlu_support::data_dir());
    let model = require!(mmlu_support::model());
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");

    let missing = tmp.path().join("no-such-adapter");
    let (ok, err) = mmlu_with_adapter(&missing, &out, &model);
    assert!(!ok, "a missing adapter must fail");
    assert!(err.contains("loading the adapter") && err.contains("no-such-adapter"), "{err}");
    assert_eq!(err.matches("No such file").count(), 1, "the reason is printed once: {err}");

    let no_weights = tmp.path().join("config-only");
    std::fs::create_dir_all(&no_weights).unwrap();
    std::fs::write(no_weights.join("adapter_config.json"), r#"{"r": 8, "lora_alpha": 16}"#).unwrap();
    let (ok, err) = mmlu_with_adapter(&no_weights, &out, &model);
    assert!(!ok, "an adapter without weights must fail");
    assert!(err.contains("adapter_model.safetensors"), "{err}");

    for file in ["mmlu_answers.parquet", "runs.parquet"] {
        assert!(!out.join(file).exists(), "{file} was written although an adapter was bad");
    }
}
