//! `sqlora bench --kernels`: every op of the backend at the shapes the model runs (prefill, decode, a
//! training micro-batch; the model file's weight encodings), each checked against its f64 reference
//! and then timed, against the machine's limits measured at the start (f32 FMA, 8-bit dot products,
//! bf16 where the CPU has it, memory bandwidth) — on the current ISA level or every level the CPU has
//! (`--isa all`), with both numerics for the products with quantized weights. With `--train` /
//! `--decode`, where a training step's or a batched decode step's time goes, per op. Prints tables
//! and records everything in `kernels.parquet` (the viewer's Kernels tab).
use super::args::BenchArgs;
use super::machine::{cpu_model, decode_batched, isa_line, prompt_ids};
use crate::cli_args::NumericsArg;
use crate::device::WithTrainBackend;
use crate::results::kernels::{record_kernels, KernelRow, KERNELS_FILE};
use crate::results::runs::unix_now;
use anyhow::{bail, Context, Result};
use sqlora_kernel::backend::instrumented::Instrumented;
use sqlora_kernel::backend::TrainBackend;
use sqlora_kernel::bench::cases::{cases, encoding_cases, run_case, Case, Dims, Workload, ENCODINGS};
use sqlora_kernel::bench::peaks::{self, Peaks};
use sqlora_kernel::bench::profile::{table, OpShare, OpTimes};
use sqlora_kernel::cpu::isa::{self, Isa};
use sqlora_kernel::formats::quant::GgmlType;
use sqlora_kernel::loader::ModelSource;
use sqlora_kernel::model::TrainSeq;
use sqlora_kernel::train::{clip_factor, grad_norm, AdamW, Optimizer};
use std::path::Path;
use std::time::Instant;

/// What every row of one bench run shares.
struct RunInfo {
    run_id: String,
    machine: String,
    device: String,
    threads: i64,
}

impl RunInfo {
    fn row(&self, kind: &str, op: &str, isa: Isa, numerics: &str) -> KernelRow {
        KernelRow {
            run_id: self.run_id.clone(),
            kind: kind.into(),
            op: op.into(),
            numerics: numerics.into(),
            isa: isa.to_string(),
            device: self.device.clone(),
            machine: self.machine.clone(),
            threads: self.threads,
            finished_unix: Some(unix_now()),
            sqlora_version: Some(env!("CARGO_PKG_VERSION").into()),
            ..Default::default()
        }
    }
}

/// The encodings of the model file: (layer projections, output head, token table).
fn encodings(src: &ModelSource) -> Result<(GgmlType, GgmlType, GgmlType)> {
    let layer = src.require("blk.0.attn_q.weight")?.ty;
    let embed = src.require("token_embd.weight")?.ty;
    let head = src.tensor("output.weight")?.map_or(embed, |t| t.ty);
    Ok((layer, head, embed))
}

fn levels(choice: Option<&str>) -> Result<Vec<Isa>> {
    match choice {
        None => Ok(vec![isa::current()]),
        Some("all") => Ok(isa::supported()),
        Some(name) => {
            let Some(level) = Isa::parse(name) else {
                bail!(
                    "--isa {name}: not an ISA level (all, or one of: {})",
                    isa::supported().iter().map(|i| i.name()).collect::<Vec<_>>().join(", ")
                )
            };
            if !level.supported() {
                bail!(
                    "--isa {name}: this CPU does not have it (it has: {})",
                    isa::supported().iter().map(|i| i.name()).collect::<Vec<_>>().join(", ")
                );
            }
            Ok(vec![level])
        }
    }
}

pub fn run(a: BenchArgs) -> Result<()> {
    // As `sqlora finetune` does (before the thread pool starts): a step's buffers reused, not faulted
    // in again each step — the breakdown must show what a training run spends.
    if a.train {
        sqlora_kernel::cpu::tune_allocator();
    }
    if let Some(t) = a.threads {
        rayon::ThreadPoolBuilder::new().num_threads(t).build_global().ok();
    }
    let model_path = a.model.resolve()?;
    let src = ModelSource::open(&model_path).with_context(|| format!("opening {}", model_path.display()))?;
    let dims = Dims::of(&src.config()?);
    let (layer_ty, head_ty, embed_ty) = encodings(&src)?;
    drop(src);
    let work = if a.tiny { Workload::tiny() } else { Workload { rank: a.rank, ..Workload::full() } };
    let machine = cpu_model();
    let info = RunInfo {
        run_id: a.label.clone().unwrap_or_else(|| format!("{machine}, {}", utc_stamp(unix_now()))),
        machine,
        device: a.device.device.name().to_string(),
        threads: rayon::current_num_threads() as i64,
    };
    // The memory probe keeps its size in the smoke run: smaller arrays would measure a cache.
    let (probe_s, min_s) = if a.tiny { (0.02, 0.0) } else { (0.3, 0.2) };
    println!("{}", isa_line());
    println!(
        "model {}: hidden {}, intermediate {}, {} heads ({} kv) × {}, vocab {}; weights {} (layers), {} (head), {} (token table)",
        model_path.display(),
        dims.hidden,
        dims.intermediate,
        dims.n_heads,
        dims.n_kv_heads,
        dims.head_dim,
        dims.vocab,
        layer_ty.name(),
        head_ty.name(),
        embed_ty.name()
    );
    let mut all = cases(&dims, &work, layer_ty, head_ty, embed_ty);
    if a.all_encodings {
        let others: Vec<GgmlType> = ENCODINGS.into_iter().filter(|&t| t != layer_ty).collect();
        all.extend(encoding_cases(&dims, &work, &others));
    }
    if let Some(only) = &a.op {
        all.retain(|c| c.op.contains(only.as_str()));
        if all.is_empty() {
            bail!("--op {only}: no op case has that in its name");
        }
    }
    let mut rows = Vec::new();
    let mut wrong = 0;
    let before = isa::current();
    let mem_gbs = peaks::memory_gbs(peaks::DEFAULT_MEM_FLOATS);
    for level in levels(a.isa.as_deref())? {
        isa::set(level).map_err(anyhow::Error::msg)?;
        let p = peaks::measure(probe_s, mem_gbs);
        print_peaks(level, &p, info.threads);
        rows.extend(peak_rows(&info, level, &p));
        for int8 in [false, true] {
            // The 8-bit activations change only the products with quantized weights (forward and dX).
            let mine: Vec<&Case> = all.iter().filter(|c| !int8 || (c.op.starts_with("matmul") && c.quantized())).collect();
            let measured = a.device.run_train(NumericsArg { int8 }, Cases { dims, cases: &mine, int8, reps: a.reps, min_s })?;
            let numerics = if int8 { "int8" } else { "exact" };
            println!("\n{level}, {numerics} numerics ({} threads):", info.threads);
            println!(
                "  {:20} {:7} {:7} {:34} {:6} {:>9} {:>10} {:>9} {:>8} {:>7}",
                "op", "pass", "phase", "shape", "weight", "check", "median ms", "GFLOP/s", "GB/s", "of peak"
            );
            for (c, o) in mine.iter().zip(measured) {
                let mut r = info.row("op", c.op, level, numerics);
                let peak_c = if int8 && c.op.starts_with("matmul") { p.int8_gops } else { p.f32_gflops };
                let (gf, gb) = o.median_s.map_or((None, None), |t| (Some(c.flops / t / 1e9), Some(c.bytes / t / 1e9)));
                let (fc, fm) = (gf.map(|g| g / peak_c), gb.map(|g| g / p.mem_gbs));
                let bound = match (fc, fm) {
                    (Some(c), Some(m)) => Some(if c >= m { ("compute", c) } else { ("memory", m) }),
                    _ => None,
                };
                wrong += usize::from(!o.ok());
                let check = if o.ok() { format!("{:.0e}", o.err) } else { "WRONG".to_string() };
                let f = |x: Option<f64>, d: usize| x.map_or("—".to_string(), |v| format!("{v:.d$}"));
                println!(
                    "  {:20} {:7} {:7} {:34} {:6} {:>9} {:>10} {:>9} {:>8} {:>7}",
                    c.op,
                    c.pass,
                    c.phase,
                    c.shape,
                    c.encoding,
                    check,
                    f(o.median_s.map(|t| t * 1e3), 3),
                    f(gf.filter(|_| c.flops > 0.0), 1),
                    f(gb, 1),
                    bound.map_or("—".into(), |(b, x)| format!("{:.0}% {}", 100.0 * x, &b[..3]))
                );
                if !o.ok() {
                    println!("    ^ off its f64 reference by {:.2e} (bound {:.1e}): not timed", o.err, o.tol);
                }
                r.pass = Some(c.pass.into());
                r.phase = Some(c.phase.into());
                r.shape = Some(c.shape.clone());
                r.encoding = Some(c.encoding.clone());
                r.median_s = o.median_s;
                r.calls = Some(o.reps as i64);
                r.gflops = gf.filter(|_| c.flops > 0.0);
                r.gbs = gb;
                r.peak_frac = bound.map(|b| b.1);
                r.bound = bound.map(|b| b.0.to_string());
                r.err = Some(o.err);
                r.tol = Some(o.tol);
                r.ok = Some(o.ok());
                rows.push(r);
            }
        }
    }
    isa::set(before).map_err(anyhow::Error::msg)?;
    for (flag, kind) in [(a.train, "train_step"), (a.decode, "decode_step")] {
        // Both numerics: the 8-bit products move where the step's time goes.
        for int8 in [false, true].into_iter().filter(|_| flag) {
            let level = isa::current();
            let numerics = if int8 { "int8" } else { "exact" };
            let (step_s, ops, what) =
                a.device.run_train(NumericsArg { int8 }, Breakdown { model: &model_path, work: &work, train: kind == "train_step" })?;
            println!("\n{what} ({level}, {numerics} numerics, {} threads): {step_s:.3} s", info.threads);
            print!("{}", table(&ops, step_s));
            rows.extend(ops.iter().map(|o| {
                let mut r = info.row(kind, o.op, level, numerics);
                r.phase = Some(if kind == "train_step" { "train" } else { "decode" }.into());
                r.shape = Some(what.clone());
                r.median_s = Some(o.seconds);
                r.calls = Some(o.calls as i64);
                r.share = Some(o.seconds / step_s);
                r
            }));
        }
    }
    std::fs::create_dir_all(&a.out_dir).with_context(|| format!("creating {}", a.out_dir.display()))?;
    let out = a.out_dir.join(KERNELS_FILE);
    record_kernels(&out, &info.run_id, rows)?;
    println!("\n% of peak: of the 8-bit dot peak for int8 products, of the f32 FMA peak for the rest (com), or of the");
    println!("memory bandwidth (mem) when that fraction is the larger; over 100% mem: the op's data stayed in cache.");
    println!("{}", isa_line());
    println!("wrote run {:?} to {}", info.run_id, out.display());
    if wrong > 0 {
        bail!("{wrong} op case(s) failed their check against the f64 reference (marked WRONG above)");
    }
    Ok(())
}

/// `YYYY-MM-DD HH:MM UTC` of a Unix time (the civil-from-days algorithm; no time zone data needed).
fn utc_stamp(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", secs / 3600, secs % 3600 / 60)
}

fn print_peaks(level: Isa, p: &Peaks, threads: i64) {
    let bf16 = p.bf16_gflops.map_or("— (no AVX512_BF16 at this level)".to_string(), |g| format!("{g:.0} GFLOP/s"));
    println!(
        "measured peaks, {level}, {threads} threads: f32 FMA {:.0} GFLOP/s, 8-bit dot {:.0} GOP/s, bf16 dot {bf16}, memory {:.1} GB/s (triad)",
        p.f32_gflops, p.int8_gops, p.mem_gbs
    );
}

fn peak_rows(info: &RunInfo, level: Isa, p: &Peaks) -> Vec<KernelRow> {
    let mut rows = Vec::new();
    let mut add = |op: &str, gflops: Option<f64>, gbs: Option<f64>| {
        let mut r = info.row("peak", op, level, "exact");
        r.gflops = gflops;
        r.gbs = gbs;
        rows.push(r);
    };
    add("f32_fma", Some(p.f32_gflops), None);
    add("int8_dot", Some(p.int8_gops), None);
    if let Some(b) = p.bf16_gflops {
        add("bf16_dot", Some(b), None);
    }
    add("memory", None, Some(p.mem_gbs));
    rows
}

/// The op cases on the chosen backend, in order.
struct Cases<'a> {
    dims: Dims,
    cases: &'a [&'a Case],
    int8: bool,
    reps: usize,
    min_s: f64,
}

impl WithTrainBackend for Cases<'_> {
    type Output = Result<Vec<sqlora_kernel::bench::cases::Outcome>>;
    fn with<B: TrainBackend>(self, backend: B) -> Self::Output {
        Ok(self.cases.iter().map(|c| run_case(&backend, &self.dims, c, self.int8, self.reps, self.min_s)).collect())
    }
}

/// One profiled step on the chosen backend with every op timed: a LoRA training step (loss and
/// gradients, clipping, AdamW) or a batched decode step.
struct Breakdown<'a> {
    model: &'a Path,
    work: &'a Workload,
    train: bool,
}

impl WithTrainBackend for Breakdown<'_> {
    type Output = Result<(f64, Vec<OpShare>, String)>;
    fn with<B: TrainBackend>(self, backend: B) -> Self::Output {
        let engine = crate::assets::load_engine(Instrumented { inner: backend, observer: OpTimes::default() }, self.model)?;
        let m = &engine.model;
        let w = self.work;
        if self.train {
            let (nb, len) = (w.train_seqs, w.train_len);
            let ids: Vec<Vec<u32>> = (0..nb).map(|i| prompt_ids(&engine, len, 7 * i)).collect::<Result<_>>()?;
            let target: Vec<Vec<bool>> = (0..nb).map(|_| (0..len).map(|t| t >= len / 2).collect()).collect();
            let batch: Vec<TrainSeq> = ids.iter().zip(&target).map(|(tokens, target)| TrainSeq { tokens, target }).collect();
            let mut params = super::train::init_params(m, w.rank);
            let mut opt = Optimizer::new(m, &params, AdamW { lr: 1e-4, weight_decay: 0.0, ..AdamW::default() });
            let mut step = |params: &mut _| -> Result<f64> {
                let t = Instant::now();
                let mut grads = m.lora_zeros(params);
                m.loss_and_grads(&batch, params, &mut grads)?;
                let norm = grad_norm(&m.backend, &grads);
                opt.step(&m.backend, params, &grads, 1e-4, clip_factor(norm, 1.0));
                Ok(t.elapsed().as_secs_f64())
            };
            step(&mut params)?; // warm-up: buffers allocated, caches filled
            m.backend.observer.take();
            let s = step(&mut params)?;
            let what = format!("training step: {nb} × {len} tokens, LoRA r = {} on all seven projections, clipping + AdamW", w.rank);
            return Ok((s, m.backend.observer.take(), what));
        }
        let (b, ctx) = (w.decode_batch, w.decode_context);
        let prompts: Vec<Vec<u32>> = (0..b).map(|i| prompt_ids(&engine, ctx, 100 + 13 * i)).collect::<Result<_>>()?;
        let steps = 8;
        let decode_s = decode_batched(m, &prompts, steps, || {
            m.backend.observer.take();
        })?;
        // Per decode step: every op's total divided by the steps.
        let s = decode_s / steps as f64;
        let ops = m
            .backend
            .observer
            .take()
            .into_iter()
            .map(|o| OpShare { seconds: o.seconds / steps as f64, calls: o.calls / steps, ..o })
            .collect();
        Ok((s, ops, format!("decode step: {b} sequences × 1 token after {ctx}, mean of {steps} steps")))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_stamps_match_known_dates() {
        assert_eq!(super::utc_stamp(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::utc_stamp(951_827_696), "2000-02-29 12:34 UTC");
        assert_eq!(super::utc_stamp(1_796_536_389), "2026-12-06 05:53 UTC");
    }
}
