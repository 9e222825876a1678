//! `sqlora finetune` end to end on the real model and Spider train, a few short steps: the run folder's
//! files, exact repetition from the seed, resumption after kill -9 reaching the same adapter bit for
//! bit, and clear errors for bad settings and a torn checkpoint.
mod mmlu_support;
mod spider_support;

use sqlora_results::train_log::read_train_log;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The tiny run every test here uses: 4 steps of 2 short sequences, a checkpoint after each.
const RUN: [&str; 13] = [
    "finetune",
    "--max-examples",
    "8",
    "--batch-size",
    "2",
    "--max-len",
    "260",
    "--checkpoint-every",
    "1",
    "--val-examples",
    "2",
    "--rank",
    "4",
];

fn finetune(out: &Path, extra: &[&str]) -> Output {
    let steps = if extra.contains(&"--max-steps") { &[][..] } else { &["--max-steps", "4"][..] };
    Command::new(env!("CARGO_BIN_EXE_sqlora"))
        .args(RUN)
        .args(steps)
        .args(["--targets", "q,v,down", "--out-dir"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr)
}

fn adapter_bytes(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join("adapter_model.safetensors")).unwrap()
}

#[test]
fn a_run_repeats_exactly_and_resumes_after_kill_9_to_the_same_adapter() {
    let _data = require_data!();
    let _model = require!(mmlu_support::model());
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let o = finetune(&a, &[]);
    assert!(o.status.success(), "{}", text(&o));
    for f in ["adapter_model.safetensors", "adapter_config.json", "adapter.gguf", "settings.json", "training.json", "train_log.parquet"] {
        assert!(a.join(f).exists(), "{f} missing after a finished run");
    }
    let log = read_train_log(&a.join("train_log.parquet")).unwrap();
    assert_eq!(log.iter().map(|r| r.step).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    assert!(log.iter().all(|r| r.loss.is_finite() && r.loss > 0.0), "{log:?}");
    // Warmup as transformers': the first step at 0, then the peak, then the cosine decay.
    assert!(log[0].lr == 0.0 && log[1].lr == 2e-4 && log[2].lr < log[1].lr && log[3].lr < log[2].lr, "{log:?}");
    assert!(log[3].val_loss.is_some(), "validation loss at the end");
    // A finished run is skipped.
    let again = finetune(&a, &[]);
    assert!(text(&again).contains("finished earlier, skipped"), "{}", text(&again));

    // The same settings in another folder, killed (SIGKILL) once its second checkpoint is written,
    // then resumed: the adapter must be the uninterrupted run's, byte for byte.
    let mut child = Command::new(env!("CARGO_BIN_EXE_sqlora"))
        .args(RUN)
        .args(["--max-steps", "4", "--targets", "q,v,down", "--out-dir"])
        .arg(&b)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !std::fs::read_to_string(b.join("latest")).is_ok_and(|s| s.trim() >= "checkpoint-000002") {
        assert!(t.elapsed() < Duration::from_secs(300), "no second checkpoint within 300 s");
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be killed");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    assert!(!b.join("training.json").exists(), "killed before the end");
    let resumed = finetune(&b, &[]);
    let rt = text(&resumed);
    assert!(resumed.status.success(), "{rt}");
    assert!(rt.contains("resuming after step"), "{rt}");
    assert!(adapter_bytes(&a) == adapter_bytes(&b), "the resumed run's adapter differs from the uninterrupted run's");
    let log_b = read_train_log(&b.join("train_log.parquet")).unwrap();
    assert_eq!(log_b.iter().map(|r| r.step).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    assert_eq!(log.iter().map(|r| r.loss.to_bits()).collect::<Vec<_>>(), log_b.iter().map(|r| r.loss.to_bits()).collect::<Vec<_>>());

    // Phase 3 on the adapter: both prompts into one results folder, beside the base's run.
    let results = tmp.path().join("results");
    for (cmd, prompt) in [("baseline", "3shot"), ("evaluate", "3shot"), ("evaluate", "0shot")] {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sqlora"));
        c.args([cmd, "--limit", "2", "--max-tokens", "24", "--prompt", prompt, "--out-dir"]).arg(&results);
        if cmd == "evaluate" {
            c.arg("--adapter").arg(&a);
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{cmd} {prompt}: {}", text(&o));
    }
    let runs = sqlora::results::runs::read_runs(&results.join("runs.parquet")).unwrap();
    let mut got: Vec<(String, Option<String>)> = runs.iter().map(|r| (r.split.clone(), r.adapter.clone())).collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("dev-subset-2".into(), None),
            ("dev-subset-2".into(), Some("a".into())),
            ("dev-subset-2@0shot".into(), Some("a".into())),
            ("spider-train".into(), Some("a".into()))
        ]
    );
    // The adapter's training came along with its evaluation: its settings and its whole curve.
    let train = runs.iter().find(|r| r.task == "train").unwrap();
    let settings: serde_json::Value = serde_json::from_str(train.settings.as_deref().unwrap()).unwrap();
    assert_eq!((settings["rank"].as_u64(), settings["steps"].as_u64()), (Some(4), Some(4)), "{settings}");
    let gathered = read_train_log(&results.join("train_log.parquet")).unwrap();
    assert_eq!(gathered.iter().map(|r| r.loss.to_bits()).collect::<Vec<_>>(), log.iter().map(|r| r.loss.to_bits()).collect::<Vec<_>>());
    assert!(gathered.iter().all(|r| r.run_id == train.run_id));
    let preds = sqlora::results::read_predictions(&results.join("spider_predictions.parquet")).unwrap();
    assert_eq!(preds.len(), 6, "three runs of two questions share the file");
    // Without --adapter, evaluate says what it needs.
    let o = Command::new(env!("CARGO_BIN_EXE_sqlora")).args(["evaluate", "--limit", "1"]).output().unwrap();
    assert!(!o.status.success() && text(&o).contains("evaluate needs --adapter"), "{}", text(&o));
}

#[test]
fn bad_settings_and_a_torn_checkpoint_are_named() {
    let _data = require_data!();
    let _model = require!(mmlu_support::model());
    let tmp = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&["--targets", "q,attn"], "unknown LoRA target \"attn\""),
        (&["--rank", "0"], "rank must be at least 1"),
        (&["--lr=-1e-4"], "lr must be a positive number"),
        (&["--max-len", "100000"], "exceeds the model's context"),
    ];
    for (args, want) in cases {
        let o = Command::new(env!("CARGO_BIN_EXE_sqlora"))
            .args(["finetune", "--out-dir"])
            .arg(tmp.path().join("x"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(want), "{args:?}: want {want:?} in:\n{}", text(&o));
        assert!(!text(&o).contains("panicked"), "{}", text(&o));
    }
    // A run stopped after its first checkpoint, whose tensors are then damaged.
    let c = tmp.path().join("c");
    let o = finetune(&c, &["--max-steps", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    std::fs::remove_file(c.join("training.json")).unwrap();
    let st = c.join("checkpoint-000001").join("state.safetensors");
    let mut bytes = std::fs::read(&st).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0xff;
    std::fs::write(&st, bytes).unwrap();
    let o = finetune(&c, &["--max-steps", "1"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("torn checkpoint") && text(&o).contains("checksum"), "{}", text(&o));
    // An adapter made for another model's shapes (the tiny Llama fixture's) is refused by name.
    let tiny = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny/llama_lora");
    let o = Command::new(env!("CARGO_BIN_EXE_sqlora"))
        .args(["evaluate", "--limit", "1", "--out-dir"])
        .arg(tmp.path().join("e"))
        .arg("--adapter")
        .arg(&tiny)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("does not fit the model") && text(&o).contains("q_proj"), "{}", text(&o));
    // Other settings in a folder that holds a run are refused, not mixed.
    let o = finetune(&c, &["--max-steps", "1", "--lr", "1e-3"]);
    assert!(text(&o).contains("holds a run with other settings") && text(&o).contains("lr: "), "{}", text(&o));
}

/// `--keep-at`: the adapter after 2 and 4 examples (steps 1 and 2 of 2-example steps) kept as adapter
/// folders of their own, with the log so far; a milestone past the run's examples is named, not kept;
/// a kept adapter evaluates like any other, and its training is gathered under its own name.
#[test]
fn keep_at_snapshots_are_adapters_of_their_own() {
    let _data = require_data!();
    let _model = require!(mmlu_support::model());
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("h");
    let o = finetune(&run, &["--keep-at", "2,4,100"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("--keep-at 100: the run sees only 8 examples"), "{t}");
    for (n, steps) in [(2u64, 1i64), (4, 2)] {
        let snap = run.join("snapshots").join(format!("h-at-{n:06}"));
        for f in ["adapter_model.safetensors", "adapter_config.json", "adapter.gguf", "settings.json", "training.json"] {
            assert!(snap.join(f).exists(), "{f} missing in {}", snap.display());
        }
        let log = read_train_log(&snap.join("train_log.parquet")).unwrap();
        assert_eq!(log.iter().map(|r| r.step).collect::<Vec<_>>(), (1..=steps).collect::<Vec<_>>());
        let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(snap.join("training.json")).unwrap()).unwrap();
        assert_eq!((summary["examples_seen"].as_u64(), summary["steps"].as_u64()), (Some(n), Some(steps as u64)), "{summary}");
        assert!(summary["final_val_loss"].as_f64().is_some_and(f64::is_finite), "{summary}");
    }
    assert!(!run.join("snapshots").join("h-at-000100").exists());
    // The kept weights differ from the end's (they are the run's, two steps earlier).
    assert!(adapter_bytes(&run.join("snapshots/h-at-000004")) != adapter_bytes(&run));
    let results = tmp.path().join("results");
    let snap = run.join("snapshots/h-at-000002");
    let o = Command::new(env!("CARGO_BIN_EXE_sqlora"))
        .args(["evaluate", "--limit", "1", "--max-tokens", "16", "--out-dir"])
        .arg(&results)
        .arg("--adapter")
        .arg(&snap)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let runs = sqlora::results::runs::read_runs(&results.join("runs.parquet")).unwrap();
    let train = runs.iter().find(|r| r.task == "train").expect("the snapshot's training, gathered");
    assert_eq!(train.adapter.as_deref(), Some("h-at-000002"));
    assert_eq!(read_train_log(&results.join("train_log.parquet")).unwrap().len(), 1);
}
