//! What the four phase notebooks (`notebooks/fase-0N.ipynb`, Rust on the evcxr kernel) call. Each
//! cell is one call here, so a notebook holds no logic of its own and what it shows is library code,
//! tested as such: the long work runs the CLI's own commands (the same code, the same resumable
//! results folder), and the tables and charts come from the results files through the viewer's and
//! the report's code.
//!
//! A notebook's settings cell makes a [`Notebook`]: `full` switches from the laptop-sized defaults
//! (a few minutes on a laptop CPU) to the full run, `device` picks the backend: `cpu`, `cuda` (an
//! NVIDIA GPU: the commands run in a binary built with `--features cuda`, fine-tunes in the exact
//! numerics) or `cuda-emulated`. `SQLORA_NOTEBOOK_SIZE=ci` shrinks the defaults further for CI.
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

/// Where the notebooks' `cuda` binary is built (`cargo build --release --features cuda --target-dir`
/// this): the Colab setup cell builds it there when the machine has a GPU.
pub const CUDA_TARGET: &str = "target/cuda";

fn is_cuda(device: &str) -> bool {
    device.trim().eq_ignore_ascii_case("cuda")
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
        // An unknown device is named now, before any work. `cuda` is checked by the binary that runs
        // the commands (built with the feature), not by this library, which evcxr builds plainly.
        if !is_cuda(device) {
            crate::device::Device::parse(device)?;
        }
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
        all.extend(self.device_numerics(args).iter().map(|s| s.to_string()));
        println!("$ sqlora {}", all.join(" "));
        let status = std::process::Command::new(self.binary()?).args(&all).status().context("starting sqlora")?;
        if !status.success() {
            bail!("sqlora {} failed ({status}): its error is printed above", args.join(" "));
        }
        Ok(())
    }

    /// A fine-tune on a GPU device runs in the exact numerics: the 8-bit one (the CPU's default) is
    /// the CPU's own path, and the GPU backend refuses it.
    fn device_numerics(&self, args: &[&str]) -> &'static [&'static str] {
        let gpu = !self.device.trim().eq_ignore_ascii_case("cpu");
        if gpu && args.first() == Some(&"finetune") && !args.contains(&"--numerics") {
            &["--numerics", "exact"]
        } else {
            &[]
        }
    }

    /// The project's release binary (`$SQLORA_BIN` names another), built once if missing: on `cuda`
    /// the build with the CUDA backend, in its own target folder so the plain one stays as it is.
    pub fn binary(&self) -> Result<PathBuf> {
        if let Some(b) = std::env::var_os("SQLORA_BIN") {
            return Ok(PathBuf::from(b));
        }
        let (bin, args) = self.binary_build();
        if !bin.is_file() {
            println!("building the sqlora binary once (cargo {})", args.join(" "));
            let ok = std::process::Command::new("cargo").args(&args).current_dir(&self.root).status()?;
            if !ok.success() {
                bail!("cargo {} failed", args.join(" "));
            }
        }
        Ok(bin)
    }

    /// The binary this device runs and the cargo arguments that build it.
    fn binary_build(&self) -> (PathBuf, Vec<&'static str>) {
        let mut args = vec!["build", "--release", "--bin", "sqlora"];
        let target = if is_cuda(&self.device) {
            args.extend(["--features", "cuda", "--target-dir", CUDA_TARGET]);
            CUDA_TARGET
        } else {
            "target"
        };
        (self.root.join(target).join("release/sqlora"), args)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn on(device: &str) -> Notebook {
        let p = PathBuf::from("/p");
        Notebook {
            full: false,
            device: device.into(),
            size: Size::of(false, true),
            root: p.clone(),
            results: p.clone(),
            adapters: p.clone(),
            data_dir: p,
        }
    }

    /// `cuda` runs a binary built with the CUDA backend, apart from the plain one; fine-tunes on
    /// either GPU device ask for the exact numerics, which is all the GPU backend trains in.
    #[test]
    fn a_gpu_device_gets_its_binary_and_the_exact_numerics() {
        let (bin, args) = on("cuda").binary_build();
        assert_eq!(bin, PathBuf::from("/p/target/cuda/release/sqlora"));
        assert_eq!(args.join(" "), "build --release --bin sqlora --features cuda --target-dir target/cuda");
        assert_eq!(on("cpu").binary_build(), (PathBuf::from("/p/target/release/sqlora"), vec!["build", "--release", "--bin", "sqlora"]));
        assert_eq!(on("cuda-emulated").binary_build().0, PathBuf::from("/p/target/release/sqlora"));
        let ft = ["finetune", "--config", "x.toml"];
        assert_eq!(on("cuda").device_numerics(&ft), ["--numerics", "exact"]);
        assert_eq!(on("cuda-emulated").device_numerics(&ft), ["--numerics", "exact"]);
        assert!(on("cpu").device_numerics(&ft).is_empty(), "the CPU keeps the sweep file's numerics");
        assert!(on("cuda").device_numerics(&["finetune", "--numerics", "exact"]).is_empty(), "never twice");
        assert!(on("cuda").device_numerics(&["evaluate", "--adapter", "a"]).is_empty());
    }
}
