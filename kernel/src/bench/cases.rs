//! The op cases of `sqlora bench --kernels`: every op of the backend traits, forward and backward, at
//! the shapes a model really runs — a prompt's prefill, batched decode, a training micro-batch — with
//! the layer's dimensions and the weight encodings the model file holds. Each case is checked against
//! the f64 reference (`crate::reference`, the tests' references and comparison) before it is timed; a
//! case that fails its check is reported as wrong and not timed.
use super::inputs::{down, f64s, matrix_of, rand, rel_err, up, FAST_TOL};
use crate::backend::{
    AdamWStep, AttnSaved, AttnSeq, AttnShape, LoraGradMut, LoraRef, LoraShape, NormShape, Qkv, QkvMut, RopeShape, Rows, TrainBackend,
};
use crate::config::{Config, RopeStyle};
use crate::formats::quant::GgmlType;
use crate::reference as rf;
use std::time::Instant;

/// The row counts of the model's work that the cases use.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Tokens of one prompt's prefill.
    pub prefill: usize,
    /// Sequences decoded together (one new row each) and the context each attends to.
    pub decode_batch: usize,
    pub decode_context: usize,
    /// A training micro-batch: sequences × tokens, and the LoRA rank.
    pub train_seqs: usize,
    pub train_len: usize,
    pub rank: usize,
}

impl Workload {
    /// What `sqlora bench` measures end to end: a 512-token prefill, 16 sequences decoding after
    /// 128 tokens, a training micro-batch of 8 × 256 tokens at rank 16.
    pub fn full() -> Workload {
        Workload { prefill: 512, decode_batch: 16, decode_context: 128, train_seqs: 8, train_len: 256, rank: 16 }
    }

    /// The smoke run's sizes (CI): every op and path, seconds in all.
    pub fn tiny() -> Workload {
        Workload { prefill: 16, decode_batch: 2, decode_context: 8, train_seqs: 2, train_len: 16, rank: 4 }
    }
}

/// The model's dimensions a case needs.
#[derive(Clone, Copy, Debug)]
pub struct Dims {
    pub hidden: usize,
    pub intermediate: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub vocab: usize,
    pub eps: f32,
    pub theta: f32,
    pub rope_style: RopeStyle,
}

impl Dims {
    pub fn of(c: &Config) -> Dims {
        Dims {
            hidden: c.hidden,
            intermediate: c.intermediate,
            n_heads: c.n_heads,
            n_kv_heads: c.n_kv_heads,
            head_dim: c.head_dim,
            vocab: c.vocab,
            eps: c.rms_eps,
            theta: c.rope_theta,
            rope_style: c.rope_style,
        }
    }

    fn attn(&self) -> AttnShape {
        AttnShape { n_heads: self.n_heads, n_kv_heads: self.n_kv_heads, head_dim: self.head_dim }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Matmul {
        ty: GgmlType,
        m: usize,
        rows: usize,
        cols: usize,
    },
    MatmulBwd {
        ty: GgmlType,
        m: usize,
        rows: usize,
        cols: usize,
    },
    Lora {
        m: usize,
        din: usize,
        dout: usize,
        r: usize,
    },
    LoraBwd {
        m: usize,
        din: usize,
        dout: usize,
        r: usize,
    },
    Rmsnorm {
        m: usize,
    },
    RmsnormBwd {
        m: usize,
    },
    Rope {
        m: usize,
    },
    RopeBwd {
        m: usize,
    },
    Swiglu {
        n: usize,
    },
    SwigluBwd {
        n: usize,
    },
    /// Inference attention: `seqs` sequences of `new` rows after `context − new` cached ones.
    Attention {
        seqs: usize,
        new: usize,
        context: usize,
    },
    AttentionPacked {
        seqs: usize,
        len: usize,
    },
    AttentionPackedBwd {
        seqs: usize,
        len: usize,
    },
    CrossEntropy {
        ty: GgmlType,
        rows: usize,
    },
    Embed {
        ty: GgmlType,
        m: usize,
    },
    Add {
        n: usize,
    },
    Copy {
        n: usize,
    },
    GatherRows {
        m: usize,
    },
    ScatterRows {
        m: usize,
    },
    Dropout {
        n: usize,
    },
    SumSquares {
        n: usize,
    },
    AdamW {
        n: usize,
    },
}

/// One op at one shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    /// The backend trait's method (`matmul`, `matmul_bwd`, …).
    pub op: &'static str,
    /// "fwd" or "bwd".
    pub pass: &'static str,
    /// "prefill", "decode" or "train".
    pub phase: &'static str,
    /// The shape in words (`m=512 576→1536`).
    pub shape: String,
    /// The weight encoding for products with a frozen weight, else "f32".
    pub encoding: String,
    /// Work per call, for GFLOP/s and GB/s: floating-point (or 8-bit) operations and bytes moved at
    /// least once (inputs read, outputs written).
    pub flops: f64,
    pub bytes: f64,
    kind: Kind,
}

/// A case's check and time.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Max error relative to the reference's scale, and the bound it had to meet.
    pub err: f64,
    pub tol: f64,
    /// Median seconds per call; None when the check failed (a wrong op is not timed).
    pub median_s: Option<f64>,
    pub reps: usize,
}

/// Weights stored in blocks of 4 to 8 bits (the encodings the 8-bit numerics apply to).
pub fn is_quantized(ty: GgmlType) -> bool {
    !matches!(ty, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16)
}

impl Case {
    /// A product with a quantized frozen weight.
    pub fn quantized(&self) -> bool {
        matches!(self.kind, Kind::Matmul { ty, .. } | Kind::MatmulBwd { ty, .. } | Kind::CrossEntropy { ty, .. } | Kind::Embed { ty, .. } if is_quantized(ty))
    }
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.err <= self.tol
    }
}

/// The projections of a layer: (name, rows = d_out, cols = d_in).
fn projections(d: &Dims) -> Vec<(&'static str, usize, usize)> {
    let (h, kv, i) = (d.hidden, d.n_kv_heads * d.head_dim, d.intermediate);
    vec![("q/o", d.n_heads * d.head_dim, h), ("k/v", kv, h), ("gate/up", i, h), ("down", h, i)]
}

/// A case with weights of `encoding` (a product with a frozen weight).
fn case_w(op: &'static str, pass: &'static str, phase: &'static str, shape: String, encoding: &str, work: (f64, f64), kind: Kind) -> Case {
    Case { op, pass, phase, shape, encoding: encoding.to_string(), flops: work.0, bytes: work.1, kind }
}

/// A case with f32 tensors only; `work` is (operations, bytes) per call.
fn case(op: &'static str, pass: &'static str, phase: &'static str, shape: String, work: (f64, f64), kind: Kind) -> Case {
    case_w(op, pass, phase, shape, "f32", work, kind)
}

/// Every case for a model of `dims` whose layer weights are `layer_ty`, head `head_ty` and token
/// table `embed_ty`, at the rows of `w`.
pub fn cases(d: &Dims, w: &Workload, layer_ty: GgmlType, head_ty: GgmlType, embed_ty: GgmlType) -> Vec<Case> {
    let f = 4.0; // bytes per f32
    let train_rows = w.train_seqs * w.train_len;
    // Every LoRA parameter of one layer's seven projections (q and o, k and v, gate and up share a shape).
    let lora_params: usize = projections(d).iter().map(|(name, o, i)| w.rank * (o + i) * if name.contains('/') { 2 } else { 1 }).sum();
    let mut out = Vec::new();
    for (phase, m) in [("prefill", w.prefill), ("decode", w.decode_batch), ("train", train_rows)] {
        for (name, rows, cols) in projections(d) {
            let wb = (layer_ty.row_bytes(cols) * rows) as f64;
            let (fl, by) = (2.0 * (m * rows * cols) as f64, wb + f * (m * (rows + cols)) as f64);
            let shape = format!("m={m} {name} {cols}→{rows}");
            out.push(case_w(
                "matmul",
                "fwd",
                phase,
                shape.clone(),
                layer_ty.name(),
                (fl, by),
                Kind::Matmul { ty: layer_ty, m, rows, cols },
            ));
            if phase == "train" {
                out.push(case_w(
                    "matmul_bwd",
                    "bwd",
                    phase,
                    shape,
                    layer_ty.name(),
                    (fl, by),
                    Kind::MatmulBwd { ty: layer_ty, m, rows, cols },
                ));
            }
        }
    }
    // The head: over the vocabulary for each decoded row (a prefill only needs its last row).
    let (v, h) = (d.vocab, d.hidden);
    let m = w.decode_batch;
    let hb = (head_ty.row_bytes(h) * v) as f64;
    out.push(case_w(
        "matmul",
        "fwd",
        "decode",
        format!("m={m} head {h}→{v}"),
        head_ty.name(),
        (2.0 * (m * v * h) as f64, hb + f * (m * (v + h)) as f64),
        Kind::Matmul { ty: head_ty, m, rows: v, cols: h },
    ));
    let r = w.rank;
    for (phase, m) in [("prefill", w.prefill), ("train", train_rows)] {
        for (name, dout, din) in projections(d) {
            let shape = format!("m={m} {name} {din}→{dout} r={r}");
            let fl = 2.0 * (m * r * (din + dout)) as f64;
            let by = f * (m * (din + 2 * dout + r) + r * (din + dout)) as f64;
            out.push(case("lora", "fwd", phase, shape.clone(), (fl, by), Kind::Lora { m, din, dout, r }));
            if phase == "train" {
                out.push(case("lora_bwd", "bwd", phase, shape, (2.0 * fl, 2.0 * by), Kind::LoraBwd { m, din, dout, r }));
            }
        }
    }
    let (qd, kvd) = (d.n_heads * d.head_dim, d.n_kv_heads * d.head_dim);
    for (phase, m) in [("prefill", w.prefill), ("decode", w.decode_batch), ("train", train_rows)] {
        let n = m * h;
        out.push(case("rmsnorm", "fwd", phase, format!("m={m} n={h}"), (4.0 * n as f64, f * (2 * n + h) as f64), Kind::Rmsnorm { m }));
        out.push(case(
            "rope",
            "fwd",
            phase,
            format!("m={m} q {} heads", d.n_heads),
            (3.0 * (m * qd) as f64, 2.0 * f * (m * qd) as f64),
            Kind::Rope { m },
        ));
        let ni = m * d.intermediate;
        out.push(case("swiglu", "fwd", phase, format!("n={ni}"), (6.0 * ni as f64, 3.0 * f * ni as f64), Kind::Swiglu { n: ni }));
        out.push(case("add", "fwd", phase, format!("n={n}"), (n as f64, 3.0 * f * n as f64), Kind::Add { n }));
        out.push(case_w(
            "embed",
            "fwd",
            phase,
            format!("m={m} n={h}"),
            embed_ty.name(),
            (0.0, (embed_ty.row_bytes(h) * m) as f64 + f * n as f64),
            Kind::Embed { ty: embed_ty, m },
        ));
        if phase == "train" {
            out.push(case(
                "rmsnorm_bwd",
                "bwd",
                phase,
                format!("m={m} n={h}"),
                (8.0 * n as f64, f * (4 * n + 2 * h) as f64),
                Kind::RmsnormBwd { m },
            ));
            out.push(case(
                "rope_bwd",
                "bwd",
                phase,
                format!("m={m} q {} heads", d.n_heads),
                (3.0 * (m * qd) as f64, 2.0 * f * (m * qd) as f64),
                Kind::RopeBwd { m },
            ));
            out.push(case(
                "swiglu_bwd",
                "bwd",
                phase,
                format!("n={ni}"),
                (14.0 * ni as f64, 5.0 * f * ni as f64),
                Kind::SwigluBwd { n: ni },
            ));
            out.push(case("copy", "fwd", phase, format!("n={n}"), (0.0, 2.0 * f * n as f64), Kind::Copy { n }));
            out.push(case("gather_rows", "fwd", phase, format!("m={m} n={h}"), (0.0, 2.0 * f * n as f64), Kind::GatherRows { m }));
            out.push(case("scatter_rows", "bwd", phase, format!("m={m} n={h}"), (0.0, 2.0 * f * n as f64), Kind::ScatterRows { m }));
            out.push(case("dropout", "fwd", phase, format!("n={n}"), (n as f64, 2.0 * f * n as f64), Kind::Dropout { n }));
        }
    }
    // Attention: a prompt's causal prefill, decode rows over their context, the packed training batch.
    let attn_flops = |rows_ctx: f64| 4.0 * (d.n_heads * d.head_dim) as f64 * rows_ctx;
    let (p, c) = (w.prefill, w.decode_context.max(1));
    out.push(case(
        "attention",
        "fwd",
        "prefill",
        format!("1 seq × {p} rows, causal"),
        (attn_flops((p * (p + 1) / 2) as f64), f * (p * (2 * qd + 2 * kvd)) as f64),
        Kind::Attention { seqs: 1, new: p, context: p },
    ));
    let b = w.decode_batch;
    out.push(case(
        "attention",
        "fwd",
        "decode",
        format!("{b} seqs × 1 row, context {c}"),
        (attn_flops((b * c) as f64), f * (b * (2 * qd + 2 * c * kvd)) as f64),
        Kind::Attention { seqs: b, new: 1, context: c },
    ));
    let (s, l) = (w.train_seqs, w.train_len);
    let causal = (s * l * (l + 1) / 2) as f64;
    let io = f * (s * l * (2 * qd + 2 * kvd)) as f64;
    out.push(case(
        "attention_packed",
        "fwd",
        "train",
        format!("{s} seqs × {l} rows"),
        (attn_flops(causal), io),
        Kind::AttentionPacked { seqs: s, len: l },
    ));
    out.push(case(
        "attention_packed_bwd",
        "bwd",
        "train",
        format!("{s} seqs × {l} rows"),
        (2.5 * attn_flops(causal), 2.0 * io),
        Kind::AttentionPackedBwd { seqs: s, len: l },
    ));
    // The loss over the vocabulary on the answer half of a micro-batch.
    let rows = train_rows / 2;
    out.push(case_w(
        "cross_entropy",
        "fwd+bwd",
        "train",
        format!("{rows} rows × vocab {v}"),
        head_ty.name(),
        (4.0 * (rows * v * h) as f64, hb + 2.0 * f * (rows * h) as f64),
        Kind::CrossEntropy { ty: head_ty, rows },
    ));
    let n = lora_params;
    out.push(case(
        "sum_squares",
        "fwd",
        "train",
        format!("n={n} (one layer's LoRA)"),
        (2.0 * n as f64, f * n as f64),
        Kind::SumSquares { n },
    ));
    out.push(case("adamw", "fwd", "train", format!("n={n} (one layer's LoRA)"), (16.0 * n as f64, 7.0 * f * n as f64), Kind::AdamW { n }));
    out
}

/// Every weight encoding the engine reads.
pub const ENCODINGS: [GgmlType; 9] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q8_0,
    GgmlType::Q4K,
    GgmlType::Q5K,
    GgmlType::Q6K,
];

/// The frozen-weight products in each of `types`, at the `down` projection's shape (its 1,536
/// columns are whole K-quant blocks of 256), for a model file in another encoding: forward at
/// each phase's rows, backward at the training rows.
pub fn encoding_cases(d: &Dims, w: &Workload, types: &[GgmlType]) -> Vec<Case> {
    let (rows, cols) = (d.hidden, d.intermediate);
    let mut out = Vec::new();
    for &ty in types {
        for (phase, m) in [("prefill", w.prefill), ("decode", w.decode_batch), ("train", w.train_seqs * w.train_len)] {
            let work = (2.0 * (m * rows * cols) as f64, (ty.row_bytes(cols) * rows) as f64 + 4.0 * (m * (rows + cols)) as f64);
            let shape = format!("m={m} down {cols}→{rows}");
            out.push(case_w("matmul", "fwd", phase, shape.clone(), ty.name(), work, Kind::Matmul { ty, m, rows, cols }));
            if phase == "train" {
                out.push(case_w("matmul_bwd", "bwd", phase, shape, ty.name(), work, Kind::MatmulBwd { ty, m, rows, cols }));
            }
        }
    }
    out
}

/// Median seconds per call of `f`: `reps` timed calls after one untimed, more while under `min_s`
/// in all (up to 20 × reps).
fn time(reps: usize, min_s: f64, mut f: impl FnMut()) -> (f64, usize) {
    f();
    let t0 = Instant::now();
    let mut times = Vec::new();
    while times.len() < reps.max(1) || (t0.elapsed().as_secs_f64() < min_s && times.len() < 20 * reps.max(1)) {
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times.len())
}

/// Rows of a row-major `m × n` buffer that the checks of row-independent ops compare: the first
/// four and the last (a product's reference at 2,048 rows in f64 would take longer than the bench).
fn sample_rows(m: usize) -> Vec<usize> {
    let mut r: Vec<usize> = (0..m.min(4)).collect();
    if m > 4 {
        r.push(m - 1);
    }
    r
}

fn rows_of(x: &[f64], rows: &[usize], n: usize) -> Vec<f64> {
    rows.iter().flat_map(|&i| x[i * n..(i + 1) * n].iter().copied()).collect()
}

/// Tolerance of a product with 8-bit activations: each activation is rounded to 1/254 of its block's
/// largest value, so a dot product is off by about that much of the output's scale; 2e-2 leaves room
/// for the sum's growth without letting a wrong kernel (errors of order 1) pass.
pub const INT8_TOL: f64 = 2e-2;

/// Check `c` on `be` against its f64 reference, then time it (unless the check failed). `int8`: the
/// backend multiplies quantized weights with 8-bit activations (a looser bound for `matmul`).
pub fn run_case<B: TrainBackend>(be: &B, d: &Dims, c: &Case, int8: bool, reps: usize, min_s: f64) -> Outcome {
    let (err, tol, timed) = check_and_time(be, d, &c.kind, int8, reps, min_s);
    let (median_s, reps) = if err <= tol { timed.map_or((None, 0), |(t, n)| (Some(t), n)) } else { (None, 0) };
    Outcome { err, tol, median_s, reps }
}

/// (error, tolerance, (median s, calls)) — timing only runs once the check passed.
fn check_and_time<B: TrainBackend>(be: &B, d: &Dims, kind: &Kind, int8: bool, reps: usize, min_s: f64) -> (f64, f64, Option<(f64, usize)>) {
    let timed = |err: f64, tol: f64, f: &mut dyn FnMut()| (err, tol, (err <= tol).then(|| time(reps, min_s, f)));
    let h = d.hidden;
    match *kind {
        Kind::Matmul { ty, m, rows, cols } | Kind::MatmulBwd { ty, m, rows, cols } => {
            // Forward y = x·Wᵀ (m × rows from m × cols), backward dx = dy·W (m × cols from m × rows).
            let fwd = matches!(kind, Kind::Matmul { .. });
            let (mat, w) = matrix_of(be, ty, rows, cols, 1);
            let (n_in, n_out) = if fwd { (cols, rows) } else { (rows, cols) };
            let x = rand(m * n_in, 2);
            let xt = up(be, &x);
            let mut out = be.zeros(m * n_out);
            let run = |out: &mut B::Tensor| if fwd { be.matmul(&xt, m, &mat, out) } else { be.matmul_bwd(&xt, m, &mat, out, false) };
            run(&mut out);
            let s = sample_rows(m);
            let (xs, w64) = (rows_of(&x, &s, n_in), f64s(&w));
            let want = if fwd { rf::matmul_fwd(&xs, s.len(), &w64, rows, cols) } else { rf::matmul_bwd(&xs, s.len(), &w64, rows, cols) };
            let err = rel_err(&rows_of(&down(be, &out), &s, n_out), &want);
            timed(err, if int8 && is_quantized(ty) { INT8_TOL } else { FAST_TOL }, &mut || run(&mut out))
        }
        Kind::Lora { m, din, dout, r } | Kind::LoraBwd { m, din, dout, r } => {
            let s = 2.0;
            let shape = LoraShape { r, din, dout, scale: s as f32 };
            let (x, a, b, dy) = (rand(m * din, 5), rand(r * din, 6), rand(dout * r, 7), rand(m * dout, 8));
            let (xt, at, bt) = (up(be, &x), up(be, &a), up(be, &b));
            let l = || LoraRef { a: &at, b: &bt, shape };
            let (mut xa, mut y) = (be.zeros(m * r), be.zeros(m * dout));
            be.lora(&xt, m, l(), &mut xa, &mut y);
            if matches!(kind, Kind::Lora { .. }) {
                let (y_ref, xa_ref) = rf::lora_fwd(&x, m, &a, &b, r, din, dout, s);
                let err = rel_err(&down(be, &y), &y_ref).max(rel_err(&down(be, &xa), &xa_ref));
                return timed(err, FAST_TOL, &mut || be.lora(&xt, m, l(), &mut xa, &mut y));
            }
            let (da_ref, db_ref, dx_ref) = rf::lora_bwd(&dy, &x, m, &a, &b, r, din, dout, s);
            let dyt = up(be, &dy);
            let (mut da, mut db, mut dx) = (be.zeros(r * din), be.zeros(dout * r), be.zeros(m * din));
            be.lora_bwd(&dyt, &xt, &xa, m, l(), LoraGradMut { a: &mut da, b: &mut db, x: &mut dx });
            let err = rel_err(&down(be, &da), &da_ref).max(rel_err(&down(be, &db), &db_ref)).max(rel_err(&down(be, &dx), &dx_ref));
            // Timed from zeroed gradients each call would add a fill; the op accumulates, which is what a step does.
            timed(err, FAST_TOL, &mut || be.lora_bwd(&dyt, &xt, &xa, m, l(), LoraGradMut { a: &mut da, b: &mut db, x: &mut dx }))
        }
        Kind::Rmsnorm { m } | Kind::RmsnormBwd { m } => {
            let (x, w, dy) = (rand(m * h, 9), rand(h, 10), rand(m * h, 11));
            let (xt, wt) = (up(be, &x), up(be, &w));
            let shape = NormShape { rows: Rows { m, n: h }, eps: d.eps };
            if matches!(kind, Kind::Rmsnorm { .. }) {
                let mut out = be.zeros(m * h);
                be.rmsnorm(&xt, &wt, shape, &mut out);
                let err = rel_err(&down(be, &out), &rf::rmsnorm_fwd(&x, &w, h, d.eps as f64));
                return timed(err, FAST_TOL, &mut || be.rmsnorm(&xt, &wt, shape, &mut out));
            }
            let (dx_ref, dw_ref) = rf::rmsnorm_bwd(&dy, &x, &w, h, d.eps as f64);
            let dyt = up(be, &dy);
            let (mut dx, mut dw) = (be.zeros(m * h), be.zeros(h));
            be.rmsnorm_bwd(&dyt, &xt, &wt, shape, &mut dx, Some(&mut dw));
            let err = rel_err(&down(be, &dx), &dx_ref).max(rel_err(&down(be, &dw), &dw_ref));
            timed(err, FAST_TOL, &mut || be.rmsnorm_bwd(&dyt, &xt, &wt, shape, &mut dx, Some(&mut dw)))
        }
        Kind::Rope { m } | Kind::RopeBwd { m } => {
            let shape = RopeShape { m, n_heads: d.n_heads, head_dim: d.head_dim, theta: d.theta, style: d.rope_style };
            // Positions up to 511 (the longest sequence the workloads run). The angle pos·θᵢ is
            // rounded in f32, an error of about pos·2⁻²⁴ radians that grows with the position
            // (llama.cpp's kernel has the same): the bound allows four such roundings.
            let pos: Vec<u32> = (0..m as u32).map(|i| i * 7 % 512).collect();
            let tol = FAST_TOL.max(4.0 * 511.0 * f64::from(f32::EPSILON) / 2.0);
            let x = rand(m * d.n_heads * d.head_dim, 12);
            let mut want = x.clone();
            let mut t = up(be, &x);
            if matches!(kind, Kind::Rope { .. }) {
                rf::rope_fwd(&mut want, d.n_heads, d.head_dim, &pos, d.theta as f64, d.rope_style);
                be.rope(&mut t, &pos, shape);
                let err = rel_err(&down(be, &t), &want);
                return timed(err, tol, &mut || be.rope(&mut t, &pos, shape));
            }
            rf::rope_bwd(&mut want, d.n_heads, d.head_dim, &pos, d.theta as f64, d.rope_style);
            be.rope_bwd(&mut t, &pos, shape);
            let err = rel_err(&down(be, &t), &want);
            timed(err, tol, &mut || be.rope_bwd(&mut t, &pos, shape))
        }
        Kind::Swiglu { n } | Kind::SwigluBwd { n } => {
            let gate: Vec<f64> = rand(n, 13).iter().map(|v| v * 6.0).collect();
            let (upv, dy) = (rand(n, 14), rand(n, 15));
            let (gt, ut) = (up(be, &gate), up(be, &upv));
            if matches!(kind, Kind::Swiglu { .. }) {
                let mut out = be.zeros(n);
                be.swiglu(&gt, &ut, n, &mut out);
                let err = rel_err(&down(be, &out), &rf::swiglu_fwd(&gate, &upv));
                return timed(err, FAST_TOL, &mut || be.swiglu(&gt, &ut, n, &mut out));
            }
            let (dg_ref, du_ref) = rf::swiglu_bwd(&dy, &gate, &upv);
            let dyt = up(be, &dy);
            let (mut dg, mut du) = (be.zeros(n), be.zeros(n));
            be.swiglu_bwd(&dyt, &gt, &ut, n, &mut dg, &mut du);
            let err = rel_err(&down(be, &dg), &dg_ref).max(rel_err(&down(be, &du), &du_ref));
            timed(err, FAST_TOL, &mut || be.swiglu_bwd(&dyt, &gt, &ut, n, &mut dg, &mut du))
        }
        Kind::Attention { seqs, new, context } => {
            let s = d.attn();
            let (qd, kvd) = (s.n_heads * s.head_dim, s.n_kv_heads * s.head_dim);
            // Per sequence: its whole context's k and v; q for its `new` last rows.
            let ks: Vec<Vec<f64>> = (0..seqs).map(|i| rand(context * kvd, 100 + i as u64)).collect();
            let vs: Vec<Vec<f64>> = (0..seqs).map(|i| rand(context * kvd, 200 + i as u64)).collect();
            let q = rand(seqs * new * qd, 16);
            let (kt, vt): (Vec<B::Tensor>, Vec<B::Tensor>) =
                (ks.iter().map(|k| up(be, k)).collect(), vs.iter().map(|v| up(be, v)).collect());
            let qt = up(be, &q);
            let plan = || -> Vec<AttnSeq<'_, B::Tensor>> {
                (0..seqs).map(|i| AttnSeq { row0: i * new, n_new: new, segments: vec![(&kt[i], &vt[i], context)] }).collect()
            };
            let mut out = be.zeros(seqs * new * qd);
            be.attention(&qt, &plan(), s, &mut out);
            // The reference: each sequence's full causal attention with q in its last `new` rows.
            let mut want = Vec::new();
            for i in 0..seqs {
                let mut qf = vec![0.0; context * qd];
                qf[(context - new) * qd..].copy_from_slice(&q[i * new * qd..(i + 1) * new * qd]);
                let (o, _) = rf::attention_fwd(&qf, &ks[i], &vs[i], &[(0, context)], s);
                want.extend_from_slice(&o[(context - new) * qd..]);
            }
            let err = rel_err(&down(be, &out), &want);
            timed(err, FAST_TOL, &mut || be.attention(&qt, &plan(), s, &mut out))
        }
        Kind::AttentionPacked { seqs, len } | Kind::AttentionPackedBwd { seqs, len } => {
            let s = d.attn();
            let (qd, kvd, rows) = (s.n_heads * s.head_dim, s.n_kv_heads * s.head_dim, seqs * len);
            let spans: Vec<(usize, usize)> = (0..seqs).map(|i| (i * len, len)).collect();
            let (q, k, v, dy) = (rand(rows * qd, 17), rand(rows * kvd, 18), rand(rows * kvd, 19), rand(rows * qd, 20));
            let (qt, kt, vt) = (up(be, &q), up(be, &k), up(be, &v));
            let (mut out, mut lse) = (be.zeros(rows * qd), be.zeros(rows * s.n_heads));
            be.attention_packed(Qkv { q: &qt, k: &kt, v: &vt }, &spans, s, &mut out, &mut lse);
            if matches!(kind, Kind::AttentionPacked { .. }) {
                let (o_ref, lse_ref) = rf::attention_fwd(&q, &k, &v, &spans, s);
                let err = rel_err(&down(be, &out), &o_ref).max(rel_err(&down(be, &lse), &lse_ref));
                return timed(err, FAST_TOL, &mut || be.attention_packed(Qkv { q: &qt, k: &kt, v: &vt }, &spans, s, &mut out, &mut lse));
            }
            let (dq_ref, dk_ref, dv_ref) = rf::attention_bwd(&dy, &q, &k, &v, &spans, s);
            let dyt = up(be, &dy);
            let (mut dq, mut dk, mut dv) = (be.zeros(rows * qd), be.zeros(rows * kvd), be.zeros(rows * kvd));
            let run = |dq: &mut B::Tensor, dk: &mut B::Tensor, dv: &mut B::Tensor| {
                let saved = AttnSaved { out: &out, lse: &lse };
                be.attention_packed_bwd(&dyt, Qkv { q: &qt, k: &kt, v: &vt }, saved, &spans, s, QkvMut { q: dq, k: dk, v: dv })
            };
            run(&mut dq, &mut dk, &mut dv);
            let err = rel_err(&down(be, &dq), &dq_ref).max(rel_err(&down(be, &dk), &dk_ref)).max(rel_err(&down(be, &dv), &dv_ref));
            timed(err, FAST_TOL, &mut || run(&mut dq, &mut dk, &mut dv))
        }
        Kind::CrossEntropy { ty, rows } => {
            let (head, w) = matrix_of(be, ty, d.vocab, h, 21);
            // Hidden states scaled so the logits spread over a few units, as a model's do (the random
            // weights are ~0.7 in size, a trained head's ~0.05): far wider logits make exp() return
            // subnormals, which this CPU computes many times slower, and the case would time that.
            let hidden: Vec<f64> = rand(rows * h, 22).iter().map(|v| v * 0.25).collect();
            let targets: Vec<u32> = (0..rows).map(|i| ((i * 7919) % d.vocab) as u32).collect();
            let weights: Vec<f32> = vec![1.0 / rows as f32; rows];
            let ht = up(be, &hidden);
            let mut dh = be.zeros(rows * h);
            be.cross_entropy(&ht, &targets, &weights, &head, &mut dh);
            // Each row's gradient depends on that row alone: compare the sampled rows.
            let s = sample_rows(rows);
            let pick = |v: &[u32]| s.iter().map(|&i| v[i]).collect::<Vec<u32>>();
            let wsub: Vec<f64> = s.iter().map(|&i| weights[i] as f64).collect();
            let (_, dh_ref) = rf::cross_entropy(&rows_of(&hidden, &s, h), &pick(&targets), &wsub, &f64s(&w), d.vocab, h);
            let err = rel_err(&rows_of(&down(be, &dh), &s, h), &dh_ref);
            timed(err, FAST_TOL, &mut || {
                be.cross_entropy(&ht, &targets, &weights, &head, &mut dh);
            })
        }
        Kind::Embed { ty, m } => {
            let (table, w) = matrix_of(be, ty, d.vocab, h, 23);
            let ids: Vec<u32> = (0..m).map(|i| ((i * 104_729) % d.vocab) as u32).collect();
            let mut out = be.zeros(m * h);
            be.embed(&table, &ids, &mut out);
            let want: Vec<f64> = ids.iter().flat_map(|&t| f64s(&w[t as usize * h..(t as usize + 1) * h])).collect();
            let err = rel_err(&down(be, &out), &want);
            timed(err, 0.0, &mut || be.embed(&table, &ids, &mut out))
        }
        Kind::Add { n } => {
            let (x, y) = (rand(n, 24), rand(n, 25));
            let (mut xt, yt) = (up(be, &x), up(be, &y));
            be.add(&mut xt, &yt, n);
            let want: Vec<f64> = x.iter().zip(&y).map(|(a, b)| (*a as f32 + *b as f32) as f64).collect();
            let err = rel_err(&down(be, &xt), &want);
            timed(err, 0.0, &mut || be.add(&mut xt, &yt, n))
        }
        Kind::Copy { n } => {
            let x = rand(n, 26);
            let xt = up(be, &x);
            let mut c = be.zeros(n);
            be.copy(&xt, &mut c, n);
            let err = rel_err(&down(be, &c), &f64s(&be.download(&xt)));
            timed(err, 0.0, &mut || be.copy(&xt, &mut c, n))
        }
        Kind::GatherRows { m } | Kind::ScatterRows { m } => {
            let x = rand(m * h, 27);
            let xt = up(be, &x);
            // Every other row in reverse order: the rows a packed batch's answer half selects, scrambled.
            let rows: Vec<usize> = (0..m).rev().step_by(2).collect();
            let mut g = be.zeros(rows.len() * h);
            be.gather_rows(&xt, &rows, h, &mut g);
            let want = rows_of(&f64s(&be.download(&xt)), &rows, h);
            if matches!(kind, Kind::GatherRows { .. }) {
                let err = rel_err(&down(be, &g), &want);
                return timed(err, 0.0, &mut || be.gather_rows(&xt, &rows, h, &mut g));
            }
            let mut back = be.zeros(m * h);
            be.scatter_rows(&g, &rows, h, &mut back);
            let got = rows_of(&down(be, &back), &rows, h);
            let err = rel_err(&got, &want);
            timed(err, 0.0, &mut || be.scatter_rows(&g, &rows, h, &mut back))
        }
        Kind::Dropout { n } => {
            // No value-for-value reference (the mask is the backend's own draw): check what a mask
            // must be — kept values scaled by 1/(1 − p), the dropped share near p.
            let p = 0.1f32;
            let x: Vec<f64> = rand(n, 28).iter().map(|v| v.abs() + 0.5).collect();
            let xt = up(be, &x);
            let mut out = be.zeros(n);
            be.dropout(&xt, n, p, 7, &mut out);
            let got = down(be, &out);
            let scale = 1.0 / (1.0 - p as f64);
            let dropped = got.iter().filter(|&&v| v == 0.0).count() as f64 / n as f64;
            let kept_err =
                got.iter().zip(&x).filter(|(g, _)| **g != 0.0).fold(0f64, |e, (g, x)| e.max((g - (*x as f32) as f64 * scale).abs()));
            // The dropped share is binomial: 5 standard deviations around p.
            let sd = (p as f64 * (1.0 - p as f64) / n as f64).sqrt();
            let share_err = ((dropped - p as f64).abs() - 5.0 * sd).max(0.0);
            timed(kept_err.max(share_err), 1e-5, &mut || be.dropout(&xt, n, p, 7, &mut out))
        }
        Kind::SumSquares { n } => {
            let x = rand(n, 29);
            let xt = up(be, &x);
            let want: f64 = f64s(&be.download(&xt)).iter().map(|v| v * v).sum();
            let err = (be.sum_squares(&xt, n) - want).abs() / want;
            timed(err, 1e-6, &mut || {
                std::hint::black_box(be.sum_squares(&xt, n));
            })
        }
        Kind::AdamW { n } => {
            let p0 = rand(n, 30);
            let g: Vec<f64> = rand(n, 31).iter().map(|x| x * 0.01).collect();
            let (mut p, mut m, mut v) = (p0.clone(), vec![0.0; n], vec![0.0; n]);
            rf::adamw_step(&mut p, &g, &mut m, &mut v, 1e-3, (0.9, 0.999), 1e-8, 0.1, 1, 1.0);
            let step = AdamWStep { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.1, t: 1, grad_scale: 1.0 };
            let (mut pt, gt, mut mt, mut vt) = (up(be, &p0), up(be, &g), be.zeros(n), be.zeros(n));
            be.adamw(&mut pt, &gt, &mut mt, &mut vt, n, step);
            let err = rel_err(&down(be, &pt), &p).max(rel_err(&down(be, &vt), &v));
            timed(err, 1e-5, &mut || be.adamw(&mut pt, &gt, &mut mt, &mut vt, n, step))
        }
    }
}
