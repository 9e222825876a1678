//! `sqlora bench --kernels` end to end at tiny sizes on the real model (CI's smoke run): it completes on
//! every ISA level this CPU has, every op passes its check against the f64 reference, the step
//! breakdowns add up, and kernels.parquet reads back with all of it; the same runs in-process, as from a
//! notebook cell. Timings are printed, never asserted.
mod mmlu_support;

use sqlora::results::kernels::{read_kernels, KERNELS_FILE};
use std::collections::BTreeSet;
use std::process::Command;

#[test]
fn every_op_on_every_isa_level_checks_out_and_is_recorded() {
    let _model = require!(mmlu_support::model());
    let out = tempfile::tempdir().unwrap();
    let run = |label: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_sqlora"))
            .args(["bench", "--kernels", "--tiny", "--isa", "all", "--train", "--decode", "--label", label, "--out-dir"])
            .arg(out.path())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{text}");
        text
    };
    let text = run("first");
    eprintln!("{text}");
    assert!(text.contains("measured peaks") && text.contains("ISA: "), "{text}");
    // The same from a notebook cell: in this process, through the library.
    let dir = out.path().to_str().unwrap();
    sqlora::commands::run(["bench", "--kernels", "--tiny", "--all-encodings", "--label", "second", "--out-dir", dir]).unwrap();
    let help = sqlora::commands::run(["bench", "--help"]).unwrap_err().to_string();
    assert!(help.contains("--kernels") && help.contains("measured peaks"), "{help}");
    let rows = read_kernels(&out.path().join(KERNELS_FILE)).unwrap();
    let runs: BTreeSet<&str> = rows.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(runs, BTreeSet::from(["first", "second"]), "two runs side by side");
    let encodings: BTreeSet<&str> =
        rows.iter().filter(|r| r.run_id == "second" && r.op == "matmul_bwd").filter_map(|r| r.encoding.as_deref()).collect();
    assert_eq!(encodings.len(), 9, "every encoding the engine reads: {encodings:?}");
    assert!(rows.iter().filter(|r| r.run_id == "second" && r.kind == "op").all(|r| r.ok == Some(true)));
    let first: Vec<_> = rows.iter().filter(|r| r.run_id == "first").collect();
    let levels: BTreeSet<String> = sqlora_kernel::cpu::isa::supported().iter().map(|l| l.to_string()).collect();
    let got: BTreeSet<String> = first.iter().filter(|r| r.kind == "op").map(|r| r.isa.clone()).collect();
    assert_eq!(got, levels, "every ISA level this CPU has");
    for r in first.iter().filter(|r| r.kind == "op") {
        assert_eq!(r.ok, Some(true), "{r:?}");
        assert!(r.median_s.is_some_and(|t| t > 0.0) && r.err.is_some_and(|e| e <= r.tol.unwrap()), "{r:?}");
        assert!(r.peak_frac.is_some_and(|f| f > 0.0) && r.bound.is_some(), "{r:?}");
    }
    for level in &levels {
        let peak = |op: &str| first.iter().find(|r| r.kind == "peak" && r.op == op && &r.isa == level).cloned();
        assert!(peak("f32_fma").and_then(|r| r.gflops).is_some_and(|g| g > 0.0), "{level}");
        assert!(peak("memory").and_then(|r| r.gbs).is_some_and(|g| g > 0.0), "{level}");
        // The int8 products ran at every level too.
        assert!(first.iter().any(|r| r.kind == "op" && &r.isa == level && r.numerics == "int8"), "{level}");
    }
    // A step profiled per op in each numerics: the ops' shares of one step add up to at most all of it.
    for kind in ["train_step", "decode_step"] {
        for numerics in ["exact", "int8"] {
            let ops: Vec<_> = first.iter().filter(|r| r.kind == kind && r.numerics == numerics).collect();
            let share: f64 = ops.iter().map(|r| r.share.unwrap()).sum();
            assert!(share > 0.5 && share <= 1.0 + 1e-9, "{kind} {numerics}: ops cover {share} of the step");
            assert!(ops.iter().any(|r| r.op == "matmul"), "{kind} {numerics}");
        }
    }
    assert!(first.iter().any(|r| r.kind == "train_step" && r.op == "matmul_bwd"));
}
