//! What the four phase notebooks (`notebooks/fase-0N.ipynb`, Rust on the evcxr kernel) call. Each
//! cell is one call here, so a notebook holds no logic of its own and what it shows is library code,
//! tested as such: the long work runs the CLI's own commands (the same code, the same resumable
//! results folder), and the tables and charts come from the results files through the viewer's and
//! the report's code.
//!
//! A notebook's settings cell makes a [`Notebook`]: `full` switches from the laptop-sized defaults
//! (a few minutes on a laptop CPU) to the full run, `device` picks the backend (`cpu`; `cuda` once
//! the GPU backend exists). `SQLORA_NOTEBOOK_SIZE=ci` shrinks the defaults further for CI.
pub mod display;
pub mod phases;
pub mod tables;

pub use display::{Rich, Table};

use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// How much work each phase does.
#[derive(Clone, Debug, PartialEq)]
pub struct Size {
    /// "full", "laptop" or "ci": each size has its own results folder, so adapters of the same name
    /// trained at two sizes never meet in one set of results.
    pub tag: &'static str,
    /// Spider dev questions: a fixed stratified slice of this many (dev's hardness mix, the
    /// databases taking turns: `--stratified`), or None for the whole split (1,034).
    pub dev_questions: Option<usize>,
    /// The fine-tuning sweep file (relative to the project).
    pub sweep: &'static str,
    /// Optimizer steps per sweep setting (None: the file's own budget).
    pub train_steps: Option<usize>,
    /// MMLU split and how many of its questions (None: all).
    pub mmlu_split: &'static str,
    pub mmlu_questions: Option<usize>,
}

impl Size {
    /// `full`: the phases as the study runs them; else the laptop defaults; `ci`: a smoke run.
    pub fn of(full: bool, ci: bool) -> Size {
        match (full, ci) {
            (true, _) => Size {
                tag: "full",
                dev_questions: None,
                sweep: "data/finetune/study.toml",
                train_steps: None,
                mmlu_split: "sample150",
                mmlu_questions: None,
            },
            (false, false) => Size {
                tag: "laptop",
                dev_questions: Some(100),
                sweep: "notebooks/sweep-laptop.toml",
                train_steps: None,
                mmlu_split: "sample150",
                mmlu_questions: Some(60),
            },
            (false, true) => Size {
                tag: "ci",
                dev_questions: Some(6),
                sweep: "notebooks/sweep-laptop.toml",
                train_steps: Some(2),
                mmlu_split: "sample150",
                mmlu_questions: Some(8),
            },
        }
    }
}

/// One notebook's session: its settings and where everything goes.
#[derive(Clone, Debug)]
pub struct Notebook {
    pub full: bool,
    pub device: String,
    pub size: Size,
    /// The project: data/finetune, tests/deepeval, the committed study.
    pub root: PathBuf,
    /// The results folder every notebook of this size shares (base runs of 01, adapters of 02, …):
    /// `results/notebooks/<size>` in the project, or under `$SQLORA_NOTEBOOK_RESULTS`.
    pub results: PathBuf,
    /// Where the notebooks' adapters are trained.
    pub adapters: PathBuf,
    pub data_dir: PathBuf,
}

impl Notebook {
    /// The settings cell: checks the device and the data, prints what will run.
    pub fn new(full: bool, device: &str) -> Result<Notebook> {
        let ci = std::env::var("SQLORA_NOTEBOOK_SIZE").is_ok_and(|v| v == "ci");
        Notebook::with_size(full, device, Size::of(full, ci))
    }

    pub fn with_size(full: bool, device: &str, size: Size) -> Result<Notebook> {
        // An unknown device (or one this build lacks) is named now, before any work.
        crate::device::Device::parse(device)?;
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let results = match std::env::var_os("SQLORA_NOTEBOOK_RESULTS") {
            Some(p) => PathBuf::from(p),
            None => root.join("results").join("notebooks"),
        }
        .join(size.tag);
        let adapters = results.join("adapters");
        std::fs::create_dir_all(&adapters).with_context(|| format!("creating {}", adapters.display()))?;
        let data_dir = crate::datadir::resolve(None)?;
        crate::assets::resolve_model(None)?;
        let nb = Notebook { full, device: device.to_string(), size, root, results, adapters, data_dir };
        println!("{}", nb.describe());
        Ok(nb)
    }

    /// One line per setting, as the settings cell prints them.
    pub fn describe(&self) -> String {
        let s = &self.size;
        let n = |v: Option<usize>, all: &str| v.map_or(all.to_string(), |v| v.to_string());
        format!(
            "{} size, on {} ({} threads)\nresults: {}\ndata: {}\nSpider dev questions: {}\nsweep: {}{}\nMMLU: {} questions of {}",
            self.size.tag,
            self.device,
            rayon::current_num_threads(),
            self.results.display(),
            self.data_dir.display(),
            s.dev_questions.map_or("all 1,034".into(), |k| format!("a stratified slice of {k}")),
            s.sweep,
            s.train_steps.map_or(String::new(), |k| format!(", {k} steps per setting")),
            n(s.mmlu_questions, "all"),
            s.mmlu_split,
        )
    }

    /// Runs an `sqlora` command into the shared results folder on the chosen device: the release
    /// binary, in its own process (the library evcxr builds for a notebook keeps debug assertions
    /// and overflow checks, which made the engine ~10× slower there), its progress lines printed into
    /// the cell as they come.
    pub fn run(&self, args: &[&str]) -> Result<()> {
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all.extend(["--data-dir".into(), self.data_dir.display().to_string()]);
        if !matches!(args.first(), Some(&"report") | Some(&"score")) {
            all.extend(["--device".into(), self.device.clone()]);
        }
        println!("$ sqlora {}", all.join(" "));
        let status = std::process::Command::new(self.binary()?).args(&all).status().context("starting sqlora")?;
        if !status.success() {
            bail!("sqlora {} failed ({status}): its error is printed above", args.join(" "));
        }
        Ok(())
    }

    /// The project's release binary (`$SQLORA_BIN` names another), built once if missing.
    pub fn binary(&self) -> Result<PathBuf> {
        if let Some(b) = std::env::var_os("SQLORA_BIN") {
            return Ok(PathBuf::from(b));
        }
        let bin = self.root.join("target/release/sqlora");
        if !bin.is_file() {
            println!("building the sqlora binary once (cargo build --release)");
            let ok =
                std::process::Command::new("cargo").args(["build", "--release", "--bin", "sqlora"]).current_dir(&self.root).status()?;
            if !ok.success() {
                bail!("cargo build --release failed");
            }
        }
        Ok(bin)
    }

    /// The results folder's path as the commands take it.
    pub fn out(&self) -> String {
        self.results.display().to_string()
    }

    /// `--stratified N` for the dev questions this size asks for (none for the whole split).
    fn dev_limit(&self) -> Vec<String> {
        self.size.dev_questions.map_or(vec![], |n| vec!["--stratified".into(), n.to_string()])
    }

    /// The adapters the notebooks trained (finished runs, in name order).
    pub fn trained_adapters(&self) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.adapters).with_context(|| format!("reading {}", self.adapters.display()))? {
            let p = e?.path();
            if p.join("adapter_model.safetensors").is_file() && p.join("training.json").is_file() {
                out.push(p);
            }
        }
        out.sort();
        Ok(out)
    }

    /// The trained adapters, or an error that says to run notebook 02 first.
    pub fn adapters_or_hint(&self) -> Result<Vec<PathBuf>> {
        let a = self.trained_adapters()?;
        if a.is_empty() {
            bail!("no trained adapter in {}: run fase-02 (the fine-tuning sweep) first", self.adapters.display());
        }
        Ok(a)
    }
}
