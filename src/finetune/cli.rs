//! `sqlora finetune`: phase 2. One setting from flags into `--out-dir`, or a sweep file
//! (`--config data/finetune/sweep.toml`) whose settings train in turn, each into `--out-dir/<name>`,
//! skipping finished ones and resuming a torn one. Flags given beside `--config` apply to every
//! setting of the sweep (e.g. `--max-steps 2` for a smoke test).
use super::data;
use super::run::{train, RunLabels};
use super::settings::{Settings, DEFAULT_NUMERICS};
use crate::cli_args::{DataArg, DeviceArg, ModelArg};
use crate::device::WithTrainBackend;
use crate::spider::{dataset::load_split, Split};
use anyhow::{bail, Context, Result};
use sqlora_kernel::backend::TrainBackend;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug, Default)]
pub struct FinetuneArgs {
    /// A sweep file: a [defaults] table and [[run]] tables, each with a `name` and any settings.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// With --config: train only these settings (by name; repeatable).
    #[arg(long)]
    pub only: Vec<String>,
    /// The run folder (one setting), or the folder holding one folder per setting (--config).
    /// Each run folder ends up an adapter folder (PEFT files, adapter.gguf) with settings.json,
    /// train_log.parquet and training.json.
    #[arg(long, default_value = "runs/finetune")]
    pub out_dir: PathBuf,
    #[command(flatten)]
    pub model: ModelArg,
    #[command(flatten)]
    pub data: DataArg,
    #[command(flatten)]
    pub device: DeviceArg,
    /// Discard the folder's checkpoint and log and train from the start.
    #[arg(long)]
    pub fresh: bool,
    /// Tokenize and plan only: print the examples' lengths, the steps and the tokens, then stop.
    #[arg(long)]
    pub dry_run: bool,
    /// LoRA rank r (default 16).
    #[arg(long)]
    pub rank: Option<usize>,
    /// LoRA alpha: the update is scaled by alpha / r (default 32).
    #[arg(long)]
    pub alpha: Option<f64>,
    /// Scale by alpha / √r (rsLoRA) instead.
    #[arg(long)]
    pub rslora: bool,
    /// Dropout on the LoRA branch's input (default 0).
    #[arg(long)]
    pub dropout: Option<f64>,
    /// Comma-separated projections: q,k,v,o,gate,up,down, or all (default all).
    #[arg(long, value_delimiter = ',')]
    pub targets: Option<Vec<String>>,
    /// Peak learning rate (default 2e-4).
    #[arg(long)]
    pub lr: Option<f64>,
    /// AdamW weight decay (default 0).
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// cosine, linear or constant after warmup (default cosine).
    #[arg(long)]
    pub schedule: Option<String>,
    /// Warmup as a fraction of the steps (default 0.03).
    #[arg(long)]
    pub warmup_ratio: Option<f64>,
    /// Clip the gradient norm to this; 0 turns clipping off (default 1).
    #[arg(long)]
    pub max_grad_norm: Option<f64>,
    /// Passes over the train examples (default 1).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Stop after N optimizer steps.
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Train on N examples of the shuffled train set (default: all 8,659 less the validation slice).
    #[arg(long)]
    pub max_examples: Option<usize>,
    /// Sequences per micro-batch (default 8; at most 2,048 tokens each).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Micro-batches per optimizer step (default 1).
    #[arg(long)]
    pub grad_accum: Option<usize>,
    /// Skip (and count) examples longer than this many tokens (default 1024).
    #[arg(long)]
    pub max_len: Option<usize>,
    /// Train examples held out for the validation loss (default 64).
    #[arg(long)]
    pub val_examples: Option<usize>,
    /// Validation loss every N steps; 0: at the end only (default 100).
    #[arg(long)]
    pub val_every: Option<usize>,
    /// Checkpoint every N steps (default 20).
    #[arg(long)]
    pub checkpoint_every: Option<usize>,
    /// Seed of the shuffle, the held-out slice and the initialisation (default 17).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Products with the frozen weights: exact (f32) or int8 (8-bit activations and gradients,
    /// integer dot products; faster, checked against exact end to end: docs/numerics.md). Default: int8.
    #[arg(long, value_parser = ["exact", "int8"])]
    pub numerics: Option<String>,
    /// Also keep the adapter when the run has seen each of these numbers of examples (comma-separated,
    /// e.g. 500,1000,2000,4000): `<run>/snapshots/<name>-at-<N>/`, each an adapter folder to evaluate
    /// (a data-scaling curve from one run).
    #[arg(long, value_delimiter = ',')]
    pub keep_at: Vec<usize>,
}

impl FinetuneArgs {
    /// The flags' settings over `base`.
    fn apply(&self, mut s: Settings) -> Settings {
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = &self.$f { s.$f = v.clone(); } )* };
        }
        set!(
            rank,
            alpha,
            dropout,
            targets,
            lr,
            weight_decay,
            schedule,
            warmup_ratio,
            max_grad_norm,
            epochs,
            max_steps,
            max_examples,
            batch_size,
            grad_accum,
            max_len,
            val_examples,
            val_every,
            checkpoint_every,
            seed,
            numerics
        );
        if self.rslora {
            s.rslora = true;
        }
        s
    }
}

/// The named settings of a sweep file, in file order.
pub fn read_sweep(path: &Path) -> Result<Vec<(String, Settings)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let doc: toml::Table = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let defaults = match doc.get("defaults") {
        Some(toml::Value::Table(t)) => t.clone(),
        Some(_) => bail!("{}: [defaults] must be a table", path.display()),
        None => toml::Table::new(),
    };
    if let Some(k) = doc.keys().find(|k| *k != "defaults" && *k != "run") {
        bail!("{}: unknown top-level key \"{k}\" (expected [defaults] and [[run]])", path.display());
    }
    let runs = match doc.get("run") {
        Some(toml::Value::Array(a)) => a,
        _ => bail!("{}: no [[run]] tables", path.display()),
    };
    let mut out: Vec<(String, Settings)> = Vec::new();
    for (i, r) in runs.iter().enumerate() {
        let toml::Value::Table(r) = r else { bail!("{}: run {} is not a table", path.display(), i + 1) };
        let name =
            r.get("name").and_then(|v| v.as_str()).with_context(|| format!("{}: run {} has no name", path.display(), i + 1))?.to_string();
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            bail!("{}: run name \"{name}\" must be a plain folder name", path.display());
        }
        if out.iter().any(|(n, _)| *n == name) {
            bail!("{}: two runs are named \"{name}\"", path.display());
        }
        let mut t = defaults.clone();
        for (k, v) in r.iter().filter(|(k, _)| *k != "name") {
            t.insert(k.clone(), v.clone());
        }
        // A new run's numerics default like the flag's; the serde default ("exact") is for settings
        // files written before the setting existed.
        t.entry("numerics").or_insert_with(|| DEFAULT_NUMERICS.into());
        let s: Settings = toml::Value::Table(t).try_into().with_context(|| format!("{}: run \"{name}\"", path.display()))?;
        s.check().with_context(|| format!("{}: run \"{name}\"", path.display()))?;
        out.push((name, s));
    }
    Ok(out)
}

pub fn run(a: FinetuneArgs) -> Result<()> {
    let runs: Vec<(PathBuf, Settings)> = match &a.config {
        Some(cfg) => {
            let mut all = read_sweep(cfg)?;
            if let Some(bad) = a.only.iter().find(|n| !all.iter().any(|(m, _)| m == *n)) {
                bail!("--only {bad}: {} has no run of that name", cfg.display());
            }
            if !a.only.is_empty() {
                all.retain(|(n, _)| a.only.contains(n));
            }
            all.into_iter().map(|(n, s)| (a.out_dir.join(n), a.apply(s))).collect()
        }
        None => vec![(a.out_dir.clone(), a.apply(Settings::default()))],
    };
    for (dir, s) in &runs {
        s.check().with_context(|| format!("settings of {}", dir.display()))?;
    }
    // One heap with freed buffers kept: each step's activations are reused instead of page-faulted
    // in again (peak RSS stays at the first step's).
    sqlora_kernel::cpu::tune_allocator();
    // One backend, so one numerics, for every run of the invocation.
    let numerics = runs[0].1.backend_numerics()?;
    if let Some((dir, s)) = runs.iter().find(|(_, s)| s.numerics != runs[0].1.numerics) {
        bail!(
            "{}: numerics \"{}\" differs from the other runs' \"{}\" (one invocation trains with one numerics)",
            dir.display(),
            s.numerics,
            runs[0].1.numerics
        );
    }
    a.device.device.run_train(numerics, Train { args: &a, runs: &runs })
}

/// The runs, on the chosen backend.
struct Train<'a> {
    args: &'a FinetuneArgs,
    runs: &'a [(PathBuf, Settings)],
}

impl WithTrainBackend for Train<'_> {
    type Output = Result<()>;
    fn with<B: TrainBackend>(self, backend: B) -> Result<()> {
        train_on(backend, self.args, self.runs)
    }
}

fn train_on<B: TrainBackend>(backend: B, a: &FinetuneArgs, runs: &[(PathBuf, Settings)]) -> Result<()> {
    let data_dir = a.data.resolve()?;
    let model_path = a.model.resolve()?;
    let engine = crate::assets::load_engine(backend, &model_path)?;
    let spider = data_dir.join("spider");
    let mut examples = load_split(&spider, Split::TrainSpider)?;
    examples.extend(load_split(&spider, Split::TrainOthers)?);
    let model_label = crate::assets::model_label(&model_path, false);
    for (dir, s) in runs {
        if s.max_len > engine.model.cfg.context {
            bail!("max_len {} exceeds the model's context of {} tokens", s.max_len, engine.model.cfg.context);
        }
        if super::run::finished(dir) && !a.fresh && super::run::folder_settings(dir)?.as_ref() == Some(s) {
            println!("{}: finished earlier, skipped", dir.display());
            continue;
        }
        let t = std::time::Instant::now();
        let td = data::build(&data_dir, &engine.tokenizer, &examples, s.seed, s.val_examples, s.max_examples, s.max_len)?;
        println!("{}: tokenized {} + {} examples in {:.1} s", dir.display(), td.train.len(), td.val.len(), t.elapsed().as_secs_f64());
        if a.dry_run {
            let mut lens: Vec<usize> = td.train.iter().map(|e| e.tokens.len()).collect();
            lens.sort_unstable();
            let q = |f: f64| lens.get(((lens.len() as f64 - 1.0) * f) as usize).copied().unwrap_or(0);
            let steps = super::run::plan(s, &td.train);
            let tokens: usize = steps.iter().flatten().flatten().map(|&i| td.train[i].tokens.len()).sum();
            let targets: usize = td.train.iter().map(|e| e.target.iter().filter(|&&t| t).count()).sum();
            println!(
                "{}: tokens per example min {} / median {} / p90 {} / max {}; {} answer tokens of {} in all; {} steps, {tokens} tokens to train on; {} skipped as longer than {}",
                dir.display(), q(0.0), q(0.5), q(0.9), q(1.0), targets, lens.iter().sum::<usize>(), steps.len(), td.too_long.len(), s.max_len
            );
            continue;
        }
        let adapter = crate::assets::file_label(dir);
        let labels = RunLabels { model: &model_label, model_path: &model_path, adapter: &adapter };
        train(&engine.model, &td, s, dir, &labels, a.fresh, &a.keep_at)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every sweep file the project ships reads and checks (a wrong key or value there would stop a
    /// study hours into its run); the study's runs share one numerics, as one invocation must.
    #[test]
    fn committed_sweep_files_read_and_check() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/finetune");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let runs = read_sweep(&path).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
                assert!(!runs.is_empty(), "{}", path.display());
                assert!(runs.iter().all(|(_, s)| s.numerics == runs[0].1.numerics), "{}", path.display());
                seen += 1;
            }
        }
        assert!(seen >= 2, "expected the sweep and the study files in {}", dir.display());
        let study = read_sweep(&dir.join("study.toml")).unwrap();
        assert_eq!(study.len(), 6);
        assert!(study.iter().all(|(_, s)| s.max_examples == 1000 && s.numerics == "int8"));
    }

    /// A sweep run that names no numerics gets the flag's default; one that does keeps its own.
    #[test]
    fn sweep_runs_default_to_the_default_numerics() {
        let path = std::env::temp_dir().join(format!("sqlora-sweep-numerics-{}.toml", std::process::id()));
        std::fs::write(&path, "[defaults]\nrank = 8\n[[run]]\nname = \"a\"\n[[run]]\nname = \"b\"\nnumerics = \"exact\"\n").unwrap();
        let runs = read_sweep(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(runs[0].1.numerics, DEFAULT_NUMERICS);
        assert_eq!(runs[1].1.numerics, "exact");
    }
}
