//! `sqlora mmlu`: score the base model and each adapter on MMLU (the frozen 150-question sample by
//! default, `--full` for the 14,042-question test split, `--split val`), writing
//! `mmlu_answers.parquet` and rows of `runs.parquet` in the output directory.
use super::categories::Categories;
use super::dataset::{self, Question, Shots, Split};
use super::run::{self as runner, RunId};
use super::sample;
use super::score::Scorer;
use super::summary::summarize;
use crate::cli_args::{DataArg, EngineArgs, OutDirArg};
use crate::device::WithBackend;
use crate::results::mmlu_answers::{record_answers, MMLU_ANSWERS_FILE};
use crate::results::runs::{record_runs, run_id, RunRow, RUNS_FILE};
use anyhow::{Context, Result};
use sqlora_kernel::backend::Backend;
use std::path::{Path, PathBuf};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitArg {
    /// The frozen 150-question sample of the test split (data/mmlu/sample150.tsv).
    Sample150,
    /// All 14,042 test questions.
    Test,
    /// All 1,531 validation questions.
    Val,
}

impl SplitArg {
    pub fn label(self) -> &'static str {
        match self {
            SplitArg::Sample150 => "sample150",
            SplitArg::Test => "test",
            SplitArg::Val => "val",
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct MmluArgs {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// A LoRA adapter directory (PEFT format) to score after the base model; repeatable.
    #[arg(long)]
    pub adapter: Vec<PathBuf>,
    /// Score all 14,042 test questions (same as --split test).
    #[arg(long, conflicts_with = "split")]
    pub full: bool,
    /// Which questions to score.
    #[arg(long, value_enum, default_value = "sample150")]
    pub split: SplitArg,
    /// Where mmlu_answers.parquet, runs.parquet and the checkpoints of unfinished runs go.
    #[command(flatten)]
    pub out: OutDirArg,
    #[command(flatten)]
    pub data: DataArg,
    /// New tokens per forward call.
    #[arg(long, default_value_t = 4096)]
    pub batch_tokens: usize,
    /// Skip the base model (score only the adapters).
    #[arg(long)]
    pub no_base: bool,
    /// Score only N questions of the split, spread evenly over it (every subject's share kept roughly):
    /// a quick look, recorded as its own split ("<split>-spread<N>"), never mistaken for the whole.
    #[arg(long)]
    pub limit: Option<usize>,
}

/// The split name of `n` questions spread over `split` (`--limit n`).
pub fn spread_label(split: &str, n: usize) -> String {
    format!("{split}-spread{n}")
}

/// `n` questions spread evenly over `all` (the split is ordered by subject), in split order.
fn spread<T: Clone>(all: &[T], n: usize) -> Vec<T> {
    let n = n.min(all.len());
    (0..n).map(|i| all[i * all.len() / n].clone()).collect()
}

/// The questions of a split, with every subject's dev rows (the shots).
pub fn load_questions(data_dir: &Path, cats: &Categories, split: SplitArg) -> Result<(Vec<Question>, Shots)> {
    dataset::verify(data_dir)?;
    let questions = match split {
        SplitArg::Sample150 => sample::select(&dataset::load_split(data_dir, cats, Split::Test)?, &sample::sample150())?,
        SplitArg::Test => dataset::load_split(data_dir, cats, Split::Test)?,
        SplitArg::Val => dataset::load_split(data_dir, cats, Split::Val)?,
    };
    let mut shots = Shots::new();
    for q in dataset::load_split(data_dir, cats, Split::Dev)? {
        shots.entry(q.subject.clone()).or_default().push(q);
    }
    Ok((questions, shots))
}

pub fn run(a: MmluArgs) -> Result<()> {
    let split = if a.full { SplitArg::Test } else { a.split };
    let data_dir = a.data.resolve()?;
    let cats = Categories::original();
    let (mut questions, shots) = load_questions(&data_dir, &cats, split)?;
    let mut label = split.label().to_string();
    if let Some(n) = a.limit.filter(|&n| n < questions.len()) {
        questions = spread(&questions, n);
        label = spread_label(&label, n);
    }
    let model_path = a.engine.model.resolve()?;
    a.engine.run(Score {
        args: &a,
        split,
        label,
        data_dir: &data_dir,
        cats: &cats,
        questions: &questions,
        shots: &shots,
        model_path: &model_path,
    })
}

/// The base model and each adapter scored on the chosen backend.
struct Score<'a> {
    args: &'a MmluArgs,
    split: SplitArg,
    /// The split's name in the results (with --limit, the subset's).
    label: String,
    data_dir: &'a Path,
    cats: &'a Categories,
    questions: &'a [Question],
    shots: &'a Shots,
    model_path: &'a Path,
}

impl WithBackend for Score<'_> {
    type Output = Result<()>;
    fn with<B: Backend>(self, backend: B) -> Result<()> {
        let mut engine = crate::assets::load_engine(backend, self.model_path)?;
        self.score_all(&mut engine)
    }
}

impl Score<'_> {
    fn score_all<B: Backend>(self, engine: &mut sqlora_kernel::Engine<B>) -> Result<()> {
        let Score { args: a, split, label: split_label, data_dir, cats, questions, shots, model_path } = self;
        std::fs::create_dir_all(&a.out.out_dir).with_context(|| format!("creating {}", a.out.out_dir.display()))?;
        let model = crate::assets::model_label(model_path, a.engine.numerics.int8);
        // Every adapter is loaded and checked first: a wrong path fails now, not after the base model's run.
        let adapters = a.adapter.iter().map(|d| Ok((d, super::adapter::load(engine, d)?))).collect::<Result<Vec<_>>>()?;
        let mut targets: Vec<Option<&(&PathBuf, _)>> = if a.no_base { vec![] } else { vec![None] };
        targets.extend(adapters.iter().map(Some));
        for entry in targets {
            super::adapter::attach(engine, entry.map(|(_, adapter)| adapter))?;
            let target = entry.map(|(dir, _)| *dir);
            let scorer = Scorer::new(engine, a.batch_tokens)?;
            let id = RunId { model: model.clone(), adapter: target.map(|p| crate::assets::file_label(p)), split: split_label.clone() };
            let settings = serde_json::json!({
                "model_path": model_path.display().to_string(),
                "adapter_path": target.map(|p| p.display().to_string()),
                "split": id.split,
                "questions": questions.len(),
                "k_shot": super::prompt::K_SHOT,
                "prompt": "original MMLU format, one space after 'about'; shots = first dev rows, dropped from the front to fit",
                "letter_token_ids": scorer.letters(),
                "sample_seed": (split == SplitArg::Sample150).then_some(sample::SEED),
            });
            let ckpt_path = a.out.out_dir.join(".checkpoints").join(format!(
                "mmlu-{}-{}-{}.jsonl",
                id.split,
                id.model,
                id.adapter.as_deref().unwrap_or("base")
            ));
            let (out, ckpt) = runner::run(&scorer, cats, questions, shots, &id, &ckpt_path, &settings)?;
            let summary = summarize(&out.rows);
            let per_s = out.scored_now as f64 / out.wall_s.max(1e-9);
            let label = id.adapter.as_deref().unwrap_or("base");
            println!(
                "{label}: {} questions ({} scored now) in {:.1} s, {per_s:.2} questions/s",
                out.rows.len(),
                out.scored_now,
                out.wall_s
            );
            println!("{label}: {}", summary.one_line());
            if scorer.whole_prompts.get() > 0 {
                println!(
                    "{label}: {} questions ran as whole prompts (their tokens differ when split after the shots)",
                    scorer.whole_prompts.get()
                );
            }
            let mut run_settings = settings.clone();
            run_settings["batch_tokens"] = a.batch_tokens.into();
            run_settings["threads"] = rayon::current_num_threads().into();
            run_settings["resumed_with"] = (out.rows.len() - out.scored_now).into();
            run_settings["data_dir"] = data_dir.display().to_string().into();
            let row = RunRow {
                run_id: run_id("mmlu", &id.split, &id.model, id.adapter.as_deref()),
                task: "mmlu".into(),
                split: id.split.clone(),
                model: id.model.clone(),
                adapter: id.adapter.clone(),
                metric: "accuracy".into(),
                score: summary.overall.accuracy,
                n: out.rows.len() as i64,
                metrics: Some(summary.to_json().to_string()),
                settings: Some(run_settings.to_string()),
                finished_unix: Some(crate::results::runs::unix_now()),
                wall_s: Some(out.wall_s),
                per_s: Some(per_s),
                sqlora_version: Some(env!("CARGO_PKG_VERSION").into()),
            };
            record_answers(&a.out.out_dir.join(MMLU_ANSWERS_FILE), &id.model, id.adapter.as_deref(), &id.split, out.rows)?;
            record_runs(&a.out.out_dir.join(RUNS_FILE), vec![row])?;
            if let (Some(dir), Some(name)) = (target, &id.adapter) {
                crate::finetune::gather::gather_training(dir, name, &a.out.out_dir)?;
            }
            ckpt.remove()?;
        }
        println!("wrote {} and {}", a.out.out_dir.join(MMLU_ANSWERS_FILE).display(), a.out.out_dir.join(RUNS_FILE).display());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::spread;

    #[test]
    fn a_spread_takes_evenly_spaced_questions_in_order() {
        let all: Vec<usize> = (0..150).collect();
        assert_eq!(spread(&all, 6), vec![0, 25, 50, 75, 100, 125]);
        assert_eq!(spread(&all, 200).len(), 150, "asking for more than the split gives the split");
        assert!(spread(&all, 0).is_empty());
    }
}
