//! The four phases as notebook cells: each method runs one step of its phase through the CLI's
//! commands (resumable: rerunning a cell continues or reuses what finished) and returns what the
//! cell shows.
use super::display::{Rich, Table};
use super::tables::{self, run_label};
use super::Notebook;
use crate::finetune::cli::read_sweep;
use crate::results::PredictionRow;
use anyhow::{bail, Context, Result};
use sqlora_results::train_log::{read_train_log, TrainLogRow};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

impl Notebook {
    /// The Spider split name the runs of this size are recorded under.
    pub fn dev_split(&self) -> String {
        match self.size.dev_questions {
            Some(n) if n < 1034 => crate::evaluation::cli::stratified_split(n),
            _ => "dev".into(),
        }
    }

    /// Phase 1: the fixed 3-shot prompt for dev question `i`, exactly the text the model reads.
    pub fn prompt(&self, i: usize) -> Result<Rich> {
        let spider = self.data_dir.join("spider");
        let dev = crate::spider::dataset::load_split(&spider, crate::spider::Split::Dev)?;
        let q = dev.get(i).with_context(|| format!("dev has {} questions, not {}", dev.len(), i + 1))?;
        let schema = crate::spider::prompt::schema_block(&crate::spider::dataset::db_path(&self.data_dir, &q.db_id))?;
        let text = crate::spider::prompt::full_prompt(&schema, &q.question);
        let head = Rich::note(&format!("Dev question {i} on {} ({}); gold SQL: {}", q.db_id, q.hardness, q.query));
        Ok(Rich::join([head, Rich::pre(&text)]))
    }

    /// Phase 1 (and 3 for the base): the base model over the dev questions of this size with
    /// `prompt` ("3shot", the fixed prompt, or "0shot", the training format).
    pub fn baseline(&self, prompt: &str) -> Result<()> {
        let out = self.out();
        let limit = self.dev_limit();
        let mut args = vec!["baseline", "--prompt", prompt, "--out-dir", &out];
        args.extend(limit.iter().map(String::as_str));
        self.run(&args)
    }

    /// Phase 3: an adapter over the same questions with `prompt`.
    pub fn evaluate(&self, adapter: &Path, prompt: &str) -> Result<()> {
        let (out, a) = (self.out(), adapter.display().to_string());
        let limit = self.dev_limit();
        let mut args = vec!["evaluate", "--adapter", &a, "--prompt", prompt, "--out-dir", &out];
        args.extend(limit.iter().map(String::as_str));
        self.run(&args)
    }

    /// Phase 3: the base model and every trained adapter, with both prompts, on the same questions
    /// (runs that finished before are reused).
    pub fn evaluate_all(&self) -> Result<()> {
        let adapters = self.adapters_or_hint()?;
        for prompt in ["3shot", "0shot"] {
            self.baseline(prompt)?;
            for a in &adapters {
                self.evaluate(a, prompt)?;
            }
        }
        Ok(())
    }

    /// The trained adapters' names (their folders' names, as the results label them).
    pub fn adapter_names(&self) -> Result<Vec<String>> {
        Ok(self.adapters_or_hint()?.iter().map(|p| crate::assets::file_label(p)).collect())
    }

    /// The Spider runs of this size in the results folder, by run id.
    pub fn spider_runs(&self) -> Result<BTreeMap<String, Vec<PredictionRow>>> {
        tables::spider_runs(&self.results, &self.dev_split())
    }

    /// The base model's run with `prompt`, or an error that says which cell makes it.
    pub fn base_run(&self, prompt: &str) -> Result<Vec<PredictionRow>> {
        self.run_of(None, prompt)
    }

    /// The run of `adapter` (None: the base) with `prompt` on this size's questions.
    pub fn run_of(&self, adapter: Option<&str>, prompt: &str) -> Result<Vec<PredictionRow>> {
        let want = format!("{}, {}", adapter.unwrap_or("base"), if prompt == "0shot" { "training format" } else { "3-shot" });
        let runs = self.spider_runs()?;
        match runs.into_iter().find(|(id, _)| run_label(id) == want) {
            Some((_, rows)) => Ok(rows),
            None => bail!("no run \"{want}\" on {} in {}: run its cell first", self.dev_split(), self.results.display()),
        }
    }

    /// Phase 1's summary: success/failure rate and EX per run, then by hardness.
    pub fn spider_summary(&self) -> Result<Rich> {
        let runs = self.spider_runs()?;
        if runs.is_empty() {
            return Ok(Rich::note("No Spider run of this size yet."));
        }
        Ok(Rich::join([tables::ex_table(&runs), tables::by_hardness(&runs)]))
    }

    /// Phase 3: EX by database for every run of this size.
    pub fn by_database(&self, top: usize) -> Result<Rich> {
        Ok(tables::by_database(&self.spider_runs()?, top))
    }

    /// A few of a run's failures with their SQLite errors.
    pub fn failures(&self, adapter: Option<&str>, prompt: &str, n: usize) -> Result<Rich> {
        Ok(tables::failures(&self.run_of(adapter, prompt)?, n))
    }

    /// Phase 3: the questions `adapter` fixed and broke against the base, same prompt.
    pub fn fixed_and_broken(&self, adapter: &str, prompt: &str, n: usize) -> Result<Rich> {
        let base = self.base_run(prompt)?;
        let other = self.run_of(Some(adapter), prompt)?;
        Ok(tables::fixed_and_broken(&self.data_dir, &base, &other, n))
    }

    /// Phase 2: trains every setting of this size's sweep file into `adapters/<name>` (a finished
    /// one is skipped, a torn one resumes), printing each run's losses as it finishes; returns all
    /// the curves in one chart. (evcxr 0.22 shows one rich output per cell, its last, so a chart
    /// per run mid-cell would be lost: the lines stand in for them.)
    pub fn sweep(&self) -> Result<Rich> {
        let file = self.root.join(self.size.sweep);
        let names: Vec<String> = read_sweep(&file)?.into_iter().map(|(n, _)| n).collect();
        let (cfg, out) = (file.display().to_string(), self.adapters.display().to_string());
        let steps = self.size.train_steps.map(|k| k.to_string());
        for (i, name) in names.iter().enumerate() {
            println!("setting {} of {}: {name}", i + 1, names.len());
            let mut args = vec!["finetune", "--config", &cfg, "--only", name, "--out-dir", &out];
            if let Some(k) = &steps {
                args.extend(["--max-steps", k.as_str()]);
            }
            self.run(&args)?;
            println!("{}", tables::loss_chart(&read_train_log(&self.adapters.join(name).join("train_log.parquet"))?).plain);
        }
        self.loss_curves()
    }

    /// Every trained adapter's training and validation loss in one chart.
    pub fn loss_curves(&self) -> Result<Rich> {
        let mut log: Vec<TrainLogRow> = Vec::new();
        for a in self.trained_adapters()? {
            log.extend(read_train_log(&a.join("train_log.parquet"))?);
        }
        if log.is_empty() {
            return Ok(Rich::note("No training log yet: run the sweep cell."));
        }
        Ok(tables::loss_chart(&log))
    }

    /// Phase 2: the study's committed runs (`study/`), shown without retraining: the runs table the
    /// viewer draws (the report as plain text beside it), the committed adapters' loss curves, and
    /// the adapters `models/` ships, which evaluate without training.
    pub fn study(&self) -> Result<Rich> {
        let dir = self.root.join("study");
        let report = dir.join(crate::report::cli::REPORT_FILE);
        if !report.is_file() {
            return Ok(Rich::note(&format!(
                "The study's results are not in {} yet (scripts/study.sh writes them; they are committed when it finishes).",
                dir.display()
            )));
        }
        let text = std::fs::read_to_string(&report).with_context(|| format!("reading {}", report.display()))?;
        let folder = crate::viewer::listing::read_folder(&dir)?;
        let arms = sqlora_results::view::arms::arms(&folder);
        let reference = sqlora_results::view::arms::default_reference(&arms);
        let v = sqlora_results::compare::verdicts(&folder.predictions);
        let deltas = sqlora_results::view::runs_table::arm_deltas(&arms, &v, reference);
        let t = sqlora_results::view::runs_table::runs_table(&arms, &deltas, reference, true);
        let mut parts = vec![Rich::new(sqlora_results::view::html::runs_table(&t, None), text)];
        let log = dir.join(sqlora_results::train_log::TRAIN_LOG_FILE);
        if log.is_file() {
            parts.push(tables::loss_chart(&read_train_log(&log)?));
        }
        parts.push(self.shipped_adapters());
        Ok(Rich::join(parts))
    }

    /// The trained adapters `models/` ships (the study's headline and best sweep setting), each usable
    /// as `--adapter models/NAME` without training.
    fn shipped_adapters(&self) -> Rich {
        let models = self.root.join("models");
        let mut names: Vec<String> = std::fs::read_dir(&models)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.path().join("adapter_model.safetensors").is_file())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        if names.is_empty() {
            return Rich::note("models/ ships no adapter yet: it will hold the study's headline adapter and its best sweep setting, in the f16 form the study evaluated, once the sweep ends.");
        }
        Rich::note(&format!("Shipped in models/ (use as --adapter models/NAME, no training): {}.", names.join(", ")))
    }

    /// Phase 3.2: the DeepEval + pytest suite over one run's predictions (read from the results
    /// folder's Parquet file), as `tests/deepeval/run.sh --results DIR --run RUN_ID` runs it.
    pub fn deepeval(&self, adapter: Option<&str>, prompt: &str) -> Result<Rich> {
        let rows = self.run_of(adapter, prompt)?;
        let run_id = rows.first().and_then(|r| r.run_id.clone()).context("the run has no id")?;
        let bin = self.binary()?;
        let script = self.root.join("tests/deepeval/run.sh");
        println!("$ bash {} --results {} --run {run_id}", script.display(), self.results.display());
        let out = std::process::Command::new("bash")
            .arg(&script)
            .args(["--results", &self.out(), "--run", &run_id])
            .env("SQLORA_BIN", &bin)
            .env("SQLORA_DATA", &self.data_dir)
            .output()
            .context("starting tests/deepeval/run.sh")?;
        let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        let summary = text.lines().rev().find(|l| l.contains(" passed") || l.contains(" failed") || l.contains(" error")).unwrap_or("");
        if !out.status.success() {
            bail!(
                "the DeepEval suite failed ({}):\n{}",
                out.status,
                text.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        let mut t = Table::new("DeepEval + pytest over the run's predictions", &["run", "rows", "pytest"]);
        t.row(vec![run_label(&run_id), rows.len().to_string(), summary.trim_matches(|c| c == '=' || c == ' ').to_string()]);
        Ok(t.rich())
    }

    /// Phase 4: the base model and every adapter on this size's MMLU questions (4-shot).
    pub fn mmlu(&self, adapters: &[PathBuf]) -> Result<()> {
        let out = self.out();
        let limit = self.size.mmlu_questions.map(|n| n.to_string());
        let mut args = vec!["mmlu", "--split", self.size.mmlu_split, "--out-dir", &out];
        if let Some(n) = &limit {
            args.extend(["--limit", n.as_str()]);
        }
        let dirs: Vec<String> = adapters.iter().map(|a| a.display().to_string()).collect();
        for d in &dirs {
            args.extend(["--adapter", d.as_str()]);
        }
        self.run(&args)
    }

    /// The MMLU split name this size's answers are recorded under.
    pub fn mmlu_split(&self) -> String {
        match self.size.mmlu_questions {
            Some(n) => crate::mmlu::cli::spread_label(self.size.mmlu_split, n),
            None => self.size.mmlu_split.to_string(),
        }
    }

    /// Phase 4: the regression table and its charts.
    pub fn mmlu_regression(&self) -> Result<Rich> {
        tables::mmlu_regression(&self.results, &self.mmlu_split())
    }
}
