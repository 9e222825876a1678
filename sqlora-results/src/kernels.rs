//! `kernels.parquet`: what `sqlora bench --kernels` measured — the machine's measured peaks, every op
//! of a backend at the model's shapes (its check against the f64 reference, its median time and what
//! it achieved against the peak that bounds it), and where a training or decode step's time goes per
//! op. One bench run is one `run_id`; a rerun with the same id replaces its rows, so runs on two
//! machines or before and after a change sit side by side in one file. The columns are in
//! [`COLUMNS`] (and `sqlora-results/SCHEMA.md`).
use super::rows::{read_rows, upsert_rows};
use super::schema::{col, Column, Kind, Ty::*};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const KERNELS_FILE: &str = "kernels.parquet";

pub const COLUMNS: &[Column] = &[
    col("run_id", Utf8, false, "", "the bench run (`--label`, default the CPU and the time)"),
    col(
        "kind",
        Utf8,
        false,
        "",
        "`peak` (a measured limit), `op` (one op at one shape), `train_step` / `decode_step` (a step's time per op)",
    ),
    col("op", Utf8, false, "", "the backend op (`matmul`, `lora_bwd`, …) or the peak (`f32_fma`, `int8_dot`, `bf16_dot`, `memory`)"),
    col("pass", Utf8, true, "", "`fwd`, `bwd` or `fwd+bwd`"),
    col("phase", Utf8, true, "", "whose shape: `prefill`, `decode`, `train`"),
    col("shape", Utf8, true, "", "the shape in words (rows, dimensions)"),
    col("encoding", Utf8, true, "", "the weight encoding of a product with a frozen weight, else `f32`"),
    col("numerics", Utf8, false, "", "`exact` (f32 activations) or `int8` (8-bit activations)"),
    col("isa", Utf8, false, "", "the CPU instruction-set level the kernels ran with (or the device's name)"),
    col("device", Utf8, false, "", "`cpu`, …"),
    col("machine", Utf8, false, "", "the CPU model (and GPU, on one)"),
    col("threads", Int64, false, "", "threads the op ran on"),
    col("median_s", Float64, true, "s", "median time per call (op); the op's total in the step (step rows); null when the check failed"),
    col("calls", Int64, true, "", "timed calls (op) or calls in the step (step rows)"),
    col("gflops", Float64, true, "GFLOP/s", "achieved operations per second (8-bit ops for int8 products); the peak's value for peak rows"),
    col(
        "gbs",
        Float64,
        true,
        "GB/s",
        "achieved bytes per second (each input read and output written once); the bandwidth for the memory peak",
    ),
    col("peak_frac", Float64, true, "fraction 0..1", "achieved / measured peak of whichever limit binds (compute or memory)"),
    col("bound", Utf8, true, "", "which limit `peak_frac` is of: `compute` or `memory`"),
    col("err", Float64, true, "", "max error against the f64 reference, relative to the reference's largest value"),
    col("tol", Float64, true, "", "the bound `err` had to meet"),
    col("ok", Boolean, true, "", "the check passed (a failed op is not timed)"),
    col("share", Float64, true, "fraction 0..1", "the op's share of the step's wall time (step rows)"),
    col("finished_unix", Int64, true, "s since 1970 UTC", "when the bench run finished"),
    col("sqlora_version", Utf8, true, "", "crate version that wrote the row"),
];

/// One row of `kernels.parquet`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KernelRow {
    pub run_id: String,
    pub kind: String,
    pub op: String,
    pub pass: Option<String>,
    pub phase: Option<String>,
    pub shape: Option<String>,
    pub encoding: Option<String>,
    pub numerics: String,
    pub isa: String,
    pub device: String,
    pub machine: String,
    pub threads: i64,
    pub median_s: Option<f64>,
    pub calls: Option<i64>,
    pub gflops: Option<f64>,
    pub gbs: Option<f64>,
    pub peak_frac: Option<f64>,
    pub bound: Option<String>,
    pub err: Option<f64>,
    pub tol: Option<f64>,
    pub ok: Option<bool>,
    pub share: Option<f64>,
    pub finished_unix: Option<i64>,
    pub sqlora_version: Option<String>,
}

pub fn read_kernels(path: &Path) -> Result<Vec<KernelRow>> {
    read_rows(path, Kind::Kernels)
}

/// Put one bench run's rows in the file, replacing that run's earlier rows.
pub fn record_kernels(path: &Path, run_id: &str, rows: Vec<KernelRow>) -> Result<()> {
    upsert_rows(path, rows, |r: &KernelRow| r.run_id == run_id, Kind::Kernels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rerun_replaces_its_rows_and_others_stay() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(KERNELS_FILE);
        let row =
            |run: &str, op: &str| KernelRow { run_id: run.into(), kind: "op".into(), op: op.into(), ok: Some(true), ..Default::default() };
        record_kernels(&p, "a", vec![row("a", "matmul"), row("a", "rope")]).unwrap();
        record_kernels(&p, "b", vec![row("b", "matmul")]).unwrap();
        record_kernels(&p, "a", vec![row("a", "swiglu")]).unwrap();
        let got = read_kernels(&p).unwrap();
        let ops: Vec<(&str, &str)> = got.iter().map(|r| (r.run_id.as_str(), r.op.as_str())).collect();
        assert_eq!(ops, vec![("b", "matmul"), ("a", "swiglu")]);
    }
}
