//! Phase 1: the base model answers every Spider dev question with the fixed 3-shot prompt.
//!
//! Questions are grouped by database: the shots' KV cache is computed once, each database's schema
//! once behind it, and the questions of a database decode together in batches. Every finished
//! batch is appended to a JSONL checkpoint, so an interrupted run resumes without redoing or losing
//! an example; at the end all predictions are scored (execution accuracy, both modes) and written
//! to `spider_predictions.parquet` with a summary.
use crate::chat::{CHAT_HEAD, CHAT_TAIL};
use crate::cli_args::{DataArg, EngineArgs, OutDirArg};
use crate::device::WithBackend;
use crate::metric::accuracy::ExConfig;
use crate::metric::batch::{score_all, Pair};
use crate::metric::summary::{summarize, Summary};
use crate::progress::Progress;
use crate::results::predictions::{record_predictions, PredictionRow, SPIDER_PREDICTIONS_FILE};
use crate::spider::extract::extract_sql;
use crate::spider::prompt::{check_split, question_block, schema_block, INSTRUCTION, SHOTS};
use crate::spider::{dataset::load_split, Example, Split};
use anyhow::{bail, Context, Result};
use sqlora_kernel::backend::Backend;
use sqlora_kernel::generate::{GenConfig, Generator};
use sqlora_kernel::Engine;
use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The checkpoint of an unfinished run: `spider_predictions.partial.<run>.jsonl` (see `checkpoint_path`).
pub const CHECKPOINT_PREFIX: &str = "spider_predictions.partial";

/// Which prompt the model answers: the fixed 3-shot prompt (phase 1, the apples-to-apples
/// comparison), or the fine-tuning format (instruction, schema, question: no shots).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PromptArg {
    #[default]
    #[value(name = "3shot")]
    ThreeShot,
    #[value(name = "0shot")]
    ZeroShot,
}

impl PromptArg {
    pub fn label(self) -> &'static str {
        match self {
            PromptArg::ThreeShot => "3shot",
            PromptArg::ZeroShot => "0shot",
        }
    }

    /// The text before the first database's schema.
    pub fn head(self) -> &'static str {
        match self {
            PromptArg::ThreeShot => SHOTS,
            PromptArg::ZeroShot => INSTRUCTION,
        }
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct BaselineArgs {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// A PEFT LoRA adapter directory to apply to the model (fused in, not merged).
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// 3shot: the fixed 3-shot prompt (data/prompts/spider_3shot.txt); 0shot: the fine-tuning format
    /// (instruction, schema, question). A 0shot run's split is named "dev@0shot" in runs.parquet.
    #[arg(long, value_enum, default_value = "3shot")]
    pub prompt: PromptArg,
    #[command(flatten)]
    pub data: DataArg,
    #[command(flatten)]
    pub out: OutDirArg,
    /// Only the first N questions (after --db).
    #[arg(long)]
    pub limit: Option<usize>,
    /// A fixed stratified slice of N questions instead: dev's hardness mix, databases taking turns
    /// (split "dev-strat-N"; the same questions every time, for comparing many adapters cheaply).
    #[arg(long, conflicts_with_all = ["limit", "db"])]
    pub stratified: Option<usize>,
    /// Only the questions on this database (repeatable).
    #[arg(long)]
    pub db: Vec<String>,
    /// Questions decoded together.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Maximum new tokens per answer.
    #[arg(long, default_value_t = 160)]
    pub max_tokens: usize,
    /// Wrap the prompt in the model's chat template (a user turn) instead of plain completion.
    #[arg(long)]
    pub chat: bool,
    /// Time limit for each query when scoring.
    #[arg(long, default_value_t = 30)]
    pub timeout_s: u64,
    /// Ignore an existing checkpoint and start over.
    #[arg(long)]
    pub fresh: bool,
}

/// Stops generation at the end of the statement or of the answer line.
const STOPS: [&str; 3] = [";", "\n\n", "\n--"];

/// `sqlora evaluate`: the same run with an adapter, which it requires.
pub fn run_evaluate(a: BaselineArgs) -> Result<()> {
    if a.adapter.is_none() {
        bail!("evaluate needs --adapter DIR (a PEFT adapter folder); `sqlora baseline` runs the base model");
    }
    run(a)
}

pub fn run(a: BaselineArgs) -> Result<()> {
    let data = a.data.resolve()?;
    let mut examples = load_split(&data.join("spider"), Split::Dev)?;
    if !a.db.is_empty() {
        let known: HashSet<&str> = examples.iter().map(|e| e.db_id.as_str()).collect();
        if let Some(bad) = a.db.iter().find(|d| !known.contains(d.as_str())) {
            bail!("--db {bad}: no dev question uses that database");
        }
        examples.retain(|e| a.db.contains(&e.db_id));
    }
    if let Some(n) = a.limit {
        examples.truncate(n);
    }
    // A slice as large as dev is dev.
    let stratified = a.stratified.filter(|&n| n < examples.len());
    if let Some(n) = stratified {
        examples = crate::spider::slice::stratified(&examples, n);
    }
    std::fs::create_dir_all(&a.out.out_dir).with_context(|| format!("creating {}", a.out.out_dir.display()))?;
    let model_path = a.engine.model.resolve()?;
    if let Some(dir) = &a.adapter {
        if !dir.join("adapter_config.json").is_file() {
            bail!(
                "--adapter {}: no adapter_config.json there (a PEFT adapter folder, e.g. a finished `sqlora finetune` run)",
                dir.display()
            );
        }
    }
    let id = RunIdentity::of(&a, &model_path, examples.len(), stratified.is_some());
    let ckpt = checkpoint_path(&a.out.out_dir, &id.generation_key(a.chat));
    // One process generates a run's predictions at a time: a second identical run waits here, then
    // finds the first one's answers in the checkpoint instead of generating them again.
    let _generating = sqlora_results::lock::lock_exclusive(&ckpt, |lp| {
        println!("another sqlora process is generating this run into {} (lock {}); waiting for it", ckpt.display(), lp.display())
    })?;
    if a.fresh {
        std::fs::remove_file(&ckpt).ok();
    }
    let mut done = read_checkpoint(&ckpt)?;
    let todo: Vec<&Example> = examples.iter().filter(|e| !done.contains_key(&(e.index as i64))).collect();
    println!(
        "{} questions: {} already done (checkpoint {}), {} to generate",
        examples.len(),
        examples.len() - todo.len(),
        ckpt.display(),
        todo.len()
    );
    if !todo.is_empty() {
        let t0 = Instant::now();
        a.engine.run(GenerateAll { model_path: &model_path, data: &data, todo: &todo, args: &a, ckpt: &ckpt, done: &mut done })?;
        let secs = t0.elapsed().as_secs_f64();
        println!("generated {} answers in {:.1} s ({:.2} questions/s)", todo.len(), secs, todo.len() as f64 / secs);
    }
    let rows: Vec<PredictionRow> = examples.iter().map(|e| done[&(e.index as i64)].clone()).collect();
    let mut rows = score_rows(&data, rows, a.timeout_s)?;
    // Each row names its run, so the predictions of several runs live in one file and are compared
    // question by question; a rerun replaces only its own rows.
    for r in &mut rows {
        r.run_id = Some(id.run_id());
    }
    let out = a.out.out_dir.join(SPIDER_PREDICTIONS_FILE);
    record_predictions(&out, |r| r.run_id.as_deref().is_some_and(|other| id.same_generations(other)), rows.clone())?;
    println!("wrote {}", out.display());
    let summary = summarize(&rows);
    print!("{summary}");
    record_run(&a, &model_path, &id, &rows, &summary)?;
    Ok(())
}

/// How the split name of a run over a fixed stratified slice of dev begins.
pub const STRATIFIED_PREFIX: &str = "dev-strat-";

/// The split name of a run over a fixed stratified slice of `n` dev questions (`--stratified n`).
pub fn stratified_split(n: usize) -> String {
    format!("{STRATIFIED_PREFIX}{n}")
}

/// Which run a baseline is: a subset (--limit, --db, --stratified) is its own split, never mistaken for dev.
struct RunIdentity {
    split: String,
    model: String,
    adapter: Option<String>,
}

impl RunIdentity {
    fn of(a: &BaselineArgs, model_path: &Path, n: usize, stratified: bool) -> RunIdentity {
        let mut split = if stratified {
            stratified_split(n)
        } else if a.limit.is_none() && a.db.is_empty() {
            "dev".to_string()
        } else {
            format!("dev-subset-{n}")
        };
        if a.prompt == PromptArg::ZeroShot {
            split.push_str("@0shot");
        }
        RunIdentity {
            split,
            model: crate::assets::model_label(model_path, a.engine.numerics.int8),
            adapter: a.adapter.as_deref().map(crate::assets::file_label),
        }
    }

    fn run_id(&self) -> String {
        crate::results::runs::run_id("spider", &self.split, &self.model, self.adapter.as_deref())
    }

    fn zero_shot(split: &str) -> bool {
        split.ends_with("@0shot")
    }

    /// What a question's answer depends on (not which subset was asked): the checkpoint's name, so a
    /// larger --limit resumes a smaller one.
    fn generation_key(&self, chat: bool) -> String {
        let prompt = if Self::zero_shot(&self.split) { "0shot" } else { "3shot" };
        format!("{}_{}_{prompt}{}", self.model, self.adapter.as_deref().unwrap_or("base"), if chat { "_chat" } else { "" })
    }

    /// Whether `other` (a run_id) answered with the same model, adapter and prompt: its predictions
    /// are the ones this run's replace (a subset run replaces an earlier subset of the same run, the
    /// whole split replaces its subsets). A stratified slice is a run of its own: it neither replaces
    /// nor is replaced by the whole split or a --limit subset (a study keeps both: the slice for its
    /// data-scaling curve, the whole split for everything else).
    fn same_generations(&self, other: &str) -> bool {
        let parts: Vec<&str> = other.splitn(4, '/').collect();
        let stratified = |split: &str| split.starts_with(STRATIFIED_PREFIX);
        parts.len() == 4
            && parts[0] == "spider"
            && parts[2] == self.model
            && parts[3] == self.adapter.as_deref().unwrap_or("-")
            && Self::zero_shot(parts[1]) == Self::zero_shot(&self.split)
            && (parts[1] == self.split || !stratified(parts[1]) && !stratified(&self.split))
    }
}

/// One row in runs.parquet (task "spider"), so `sqlora report` shows what fine-tuning gained on Spider
/// beside what it cost on MMLU.
fn record_run(a: &BaselineArgs, model_path: &Path, id: &RunIdentity, rows: &[PredictionRow], s: &Summary) -> Result<()> {
    use crate::results::runs::{record_runs, unix_now, RunRow, RUNS_FILE};
    let gen_s: f64 = rows.iter().filter_map(|r| r.gen_ms).sum::<f64>() / 1000.0;
    let hardness: serde_json::Map<String, serde_json::Value> = s
        .by_hardness
        .iter()
        .map(|(h, acc)| (h.as_str().to_string(), serde_json::json!({"n": acc.n, "ex_seed": acc.seed(), "ex_official": acc.official()})))
        .collect();
    let metrics = serde_json::json!({
        "ex_seed": s.all.seed(), "ex_official": s.all.official(), "executed": s.executed, "failed": s.failed,
        "data_errors": s.data_errors, "dev972_ex_seed": s.exact_dbs.seed(), "dev972_ex_official": s.exact_dbs.official(),
        "by_hardness": hardness,
    });
    let settings = serde_json::json!({
        "prompt": match a.prompt { PromptArg::ThreeShot => "data/prompts/spider_3shot.txt", PromptArg::ZeroShot => "0shot (instruction, schema, question)" },
        "chat": a.chat, "adapter_path": a.adapter.as_ref().map(|p| p.display().to_string()),
        "batch": a.batch, "max_tokens": a.max_tokens,
        "int8": a.engine.numerics.int8, "timeout_s": a.timeout_s, "model_path": model_path.display().to_string(),
    });
    let row = RunRow {
        run_id: id.run_id(),
        task: "spider".into(),
        split: id.split.clone(),
        model: id.model.clone(),
        adapter: id.adapter.clone(),
        metric: "ex_official".into(),
        score: s.all.official(),
        n: rows.len() as i64,
        metrics: Some(metrics.to_string()),
        settings: Some(settings.to_string()),
        finished_unix: Some(unix_now()),
        // Generation time from the rows themselves (each holds its share of its batch's time), so a
        // run resumed from its checkpoint still reports the time its answers took.
        wall_s: Some(gen_s),
        per_s: (gen_s > 0.0).then(|| rows.len() as f64 / gen_s),
        sqlora_version: Some(env!("CARGO_PKG_VERSION").into()),
    };
    record_runs(&a.out.out_dir.join(RUNS_FILE), vec![row])?;
    // The adapter's training (settings, curve) beside its evaluation, where the viewer looks.
    if let (Some(dir), Some(name)) = (&a.adapter, &id.adapter) {
        crate::finetune::gather::gather_training(dir, name, &a.out.out_dir)?;
    }
    Ok(())
}

/// The questions still to answer, on the chosen backend.
struct GenerateAll<'a> {
    model_path: &'a Path,
    data: &'a Path,
    todo: &'a [&'a Example],
    args: &'a BaselineArgs,
    ckpt: &'a Path,
    done: &'a mut BTreeMap<i64, PredictionRow>,
}

impl WithBackend for GenerateAll<'_> {
    type Output = Result<()>;
    fn with<B: Backend>(self, backend: B) -> Result<()> {
        let mut engine = crate::assets::load_engine(backend, self.model_path)?;
        if let Some(dir) = &self.args.adapter {
            crate::assets::attach_adapter(&mut engine, dir)?;
        }
        generate_all(&engine, self.data, self.todo, self.args, self.ckpt, self.done)
    }
}

fn generate_all<B: Backend>(
    engine: &Engine<B>,
    data: &Path,
    todo: &[&Example],
    a: &BaselineArgs,
    ckpt: &Path,
    done: &mut BTreeMap<i64, PredictionRow>,
) -> Result<()> {
    let tok = &engine.tokenizer;
    let gen = Generator::new(&engine.model, tok);
    let cfg = GenConfig { max_new_tokens: a.max_tokens, stop_strings: STOPS.iter().map(|s| s.to_string()).collect(), ..Default::default() };
    // Plain: [shots][schema][question]; chat: [template head + shots][schema + question + template tail].
    let head = if a.chat { format!("{CHAT_HEAD}{}", a.prompt.head()) } else { a.prompt.head().to_string() };
    let encode = |s: &str| Ok(tok.encode(s, a.chat)?);
    let shots = gen.prefix(&encode(&head)?)?;
    let mut by_db: BTreeMap<&str, Vec<&Example>> = BTreeMap::new();
    for e in todo {
        by_db.entry(e.db_id.as_str()).or_default().push(e);
    }
    let mut bar = Progress::new("questions", todo.len() as u64, 0);
    let mut pos = 0u64;
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(ckpt)?;
    for (db, qs) in by_db {
        bar.set(pos, db);
        let schema = schema_block(&crate::spider::db_path(data, db))?;
        let tail = |q: &str| if a.chat { format!("{}{CHAT_TAIL}", question_block(q)) } else { question_block(q) };
        let (schema_cache, per_question_schema) = if a.chat {
            (shots.clone(), schema.clone())
        } else {
            check_split(encode, &[&head, &schema, &tail(&qs[0].question)])?;
            (gen.prefix_after(Some(&shots), &encode(&schema)?)?, String::new())
        };
        for chunk in qs.chunks(a.batch.max(1)) {
            let prompts =
                chunk.iter().map(|e| encode(&format!("{per_question_schema}{}", tail(&e.question)))).collect::<Result<Vec<_>>>()?;
            let t = Instant::now();
            let gens = gen.generate(&prompts, Some(&schema_cache), &cfg)?;
            let ms = t.elapsed().as_secs_f64() * 1000.0 / chunk.len() as f64;
            for (e, g) in chunk.iter().zip(gens) {
                let row = PredictionRow {
                    id: e.index as i64,
                    db_id: e.db_id.clone(),
                    question: e.question.clone(),
                    hardness: Some(e.hardness.as_str().to_string()),
                    gold: e.query.clone(),
                    predicted: extract_sql(&g.text),
                    raw: Some(g.text),
                    gen_ms: Some(ms),
                    ..PredictionRow::default()
                };
                writeln!(file, "{}", serde_json::to_string(&row)?)?;
                done.insert(row.id, row);
            }
            file.flush()?;
            pos += chunk.len() as u64;
            bar.set(pos, db);
        }
    }
    bar.finish();
    Ok(())
}

/// The checkpoint file of the generations named `key` in `out_dir` (runs sharing a folder keep theirs apart).
pub fn checkpoint_path(out_dir: &Path, key: &str) -> PathBuf {
    let safe: String = key.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.@".contains(c) { c } else { '_' }).collect();
    out_dir.join(format!("{CHECKPOINT_PREFIX}.{safe}.jsonl"))
}

/// Rows finished by an earlier run. A torn last line (the run was killed mid-write) is dropped: that
/// example is generated again.
fn read_checkpoint(path: &Path) -> Result<BTreeMap<i64, PredictionRow>> {
    let mut out = BTreeMap::new();
    let Ok(f) = std::fs::File::open(path) else { return Ok(out) };
    for line in std::io::BufReader::new(f).lines() {
        let line = line?;
        if let Ok(r) = serde_json::from_str::<PredictionRow>(&line) {
            out.insert(r.id, r);
        }
    }
    Ok(out)
}

/// Scores every row (both modes) in parallel and fills the verdict columns.
pub fn score_rows(data: &Path, mut rows: Vec<PredictionRow>, timeout_s: u64) -> Result<Vec<PredictionRow>> {
    let pairs: Vec<Pair> =
        rows.iter().map(|r| Pair { db_id: Some(r.db_id.clone()), gold: Some(r.gold.clone()), predicted: r.predicted.clone() }).collect();
    let t = Instant::now();
    let outcomes = score_all(data, &pairs, &ExConfig::with_timeout(Duration::from_secs(timeout_s)), true);
    for (r, o) in rows.iter_mut().zip(&outcomes) {
        r.ex_seed = o.ex_seed;
        r.ex_official = o.ex_official;
        r.error = o.error();
        r.order_matters = o.data_error.is_none().then_some(o.order_matters);
        r.gold_rows = o.gold_rows.map(|n| n as i64);
        r.pred_rows = o.pred_rows.map(|n| n as i64);
        r.exec_ms = Some(o.elapsed_ms);
    }
    println!("scored {} predictions in {:.2} s", rows.len(), t.elapsed().as_secs_f64());
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(split: &str, adapter: Option<&str>) -> RunIdentity {
        RunIdentity { split: split.into(), model: "m.gguf".into(), adapter: adapter.map(Into::into) }
    }

    /// Which earlier predictions a run's replace: its own run's, and the subsets of the same
    /// generations (model, adapter, prompt) — never another prompt's or adapter's, and never across a
    /// stratified slice, which a study keeps beside the whole split.
    #[test]
    fn a_run_replaces_its_own_subsets_but_not_a_stratified_slice() {
        let id = |split: &str, adapter: &str| format!("spider/{split}/m.gguf/{adapter}");
        let dev0 = run("dev@0shot", Some("a"));
        assert!(dev0.same_generations(&id("dev@0shot", "a")));
        assert!(dev0.same_generations(&id("dev-subset-40@0shot", "a")), "the whole split replaces a --limit subset");
        assert!(!dev0.same_generations(&id("dev-strat-300@0shot", "a")), "the slice stays beside the whole split");
        assert!(!dev0.same_generations(&id("dev", "a")), "another prompt");
        assert!(!dev0.same_generations(&id("dev@0shot", "b")), "another adapter");
        let slice = run(&format!("{}@0shot", stratified_split(300)), None);
        assert!(slice.same_generations(&id("dev-strat-300@0shot", "-")), "a slice replaces its own run");
        assert!(!slice.same_generations(&id("dev@0shot", "-")), "and leaves the whole split");
        assert!(!slice.same_generations(&id("dev-strat-100@0shot", "-")), "and a slice of another size");
        assert!(run("dev-subset-80", None).same_generations(&id("dev-subset-40", "-")));
    }
}
