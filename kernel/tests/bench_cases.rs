//! `sqlora bench --kernels`'s op cases: every case, at small dimensions with the model's structure,
//! passes its check against the f64 reference on every backend row (so the bench's own checks are
//! right on every ISA level, whatever the machine it runs on), and a case whose op misses its bound
//! is reported as wrong and not timed.
use sqlora_kernel::backend::Numerics;
use sqlora_kernel::backend::TrainBackend;
use sqlora_kernel::bench::cases::{cases, encoding_cases, run_case, Dims, Workload, ENCODINGS, INT8_TOL};
use sqlora_kernel::config::RopeStyle;
use sqlora_kernel::cpu::CpuBackend;
use sqlora_kernel::formats::quant::GgmlType;

mod common;

backend_tests!(every_case_passes_its_check_and_is_timed);

/// A small model with SmolLM2's structure: grouped-query attention, SwiGLU, a vocabulary of several
/// cross-entropy chunks, an intermediate size of whole K-quant blocks (every encoding's product).
fn dims() -> Dims {
    Dims {
        hidden: 64,
        intermediate: 256,
        n_heads: 4,
        n_kv_heads: 2,
        head_dim: 16,
        vocab: 4500,
        eps: 1e-5,
        theta: 10000.0,
        rope_style: RopeStyle::Half,
    }
}

fn every_case_passes_its_check_and_is_timed<B: TrainBackend>(be: &B) {
    let d = dims();
    let mut all = cases(&d, &Workload::tiny(), GgmlType::Q4_1, GgmlType::Q8_0, GgmlType::Q8_0);
    all.extend(encoding_cases(&d, &Workload::tiny(), &ENCODINGS));
    let ops: std::collections::BTreeSet<&str> = all.iter().map(|c| c.op).collect();
    // Every op of both traits that computes something (memory management aside).
    for op in [
        "matmul",
        "matmul_bwd",
        "lora",
        "lora_bwd",
        "rmsnorm",
        "rmsnorm_bwd",
        "rope",
        "rope_bwd",
        "swiglu",
        "swiglu_bwd",
        "attention",
        "attention_packed",
        "attention_packed_bwd",
        "cross_entropy",
        "embed",
        "add",
        "copy",
        "gather_rows",
        "scatter_rows",
        "dropout",
        "sum_squares",
        "adamw",
    ] {
        assert!(ops.contains(op), "no case for {op}");
    }
    for c in &all {
        let o = run_case(be, &d, c, false, 1, 0.0);
        eprintln!("{} {} {} {}: err {:.1e} (bound {:.0e})", be.name(), c.op, c.phase, c.shape, o.err, o.tol);
        assert!(o.ok(), "{} {} {}: {:.2e} off its reference (bound {:.0e})", c.op, c.phase, c.shape, o.err, o.tol);
        assert!(o.median_s.is_some_and(|t| t > 0.0) && o.reps >= 1, "{} {}: not timed", c.op, c.shape);
    }
}

/// 8-bit activations checked as if they had to be exact: the products miss the f32 bound, so the
/// bench says so and does not time them; at the 8-bit bound they pass.
#[test]
fn an_op_off_its_reference_is_reported_and_not_timed() {
    let d = dims();
    let be = CpuBackend::new(Numerics::Int8);
    let products: Vec<_> = cases(&d, &Workload::tiny(), GgmlType::Q4_1, GgmlType::Q8_0, GgmlType::Q8_0)
        .into_iter()
        .filter(|c| c.op == "matmul" && c.encoding == "Q4_1")
        .collect();
    assert!(!products.is_empty());
    for c in &products {
        let strict = run_case(&be, &d, c, false, 1, 0.0);
        assert!(!strict.ok() && strict.median_s.is_none() && strict.reps == 0, "{}: {strict:?}", c.shape);
        let fair = run_case(&be, &d, c, true, 1, 0.0);
        assert!(fair.ok() && fair.tol == INT8_TOL && fair.median_s.is_some(), "{}: {fair:?}", c.shape);
    }
}
