//! The `sqlora` command line: a thin layer over the library. Each subcommand's arguments live in the
//! module that implements it.
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "sqlora", version, about = "Measure what LoRA fine-tuning does to a small LLM: \
Text-to-SQL on Spider (execution accuracy) and general knowledge on MMLU.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Put the default model in $SQLORA_HOME and verify the data sets against data/MANIFEST.
    Setup(sqlora::assets::SetupArgs),
    /// Greedy continuation of a prompt (stdout gets only the continuation), or of a JSONL batch.
    Generate(sqlora::generate_cmd::GenerateArgs),
    /// Phase 1: the base model (or --adapter) answers Spider dev with the fixed 3-shot prompt; scored, resumable.
    Baseline(sqlora::spider::baseline::BaselineArgs),
    /// Phase 2: LoRA fine-tuning on Spider train, one setting from flags or a sweep (--config); resumable.
    Finetune(sqlora::finetune::cli::FinetuneArgs),
    /// Phase 3 on a fine-tuned model: Spider dev with --adapter fused in (--prompt 3shot|0shot), scored, resumable.
    Evaluate(sqlora::spider::baseline::BaselineArgs),
    /// Fold an adapter into a dense copy of the model: a Hugging Face directory (config.json, model.safetensors, tokenizer.json).
    Merge(sqlora::merge_cmd::MergeArgs),
    /// Execution accuracy of a predictions file (JSONL or Parquet), both modes, in parallel.
    Score(sqlora::metric::cli::ScoreArgs),
    /// Speed of the engine (prefill, decode, batched decode, peak RSS), optionally beside its peers.
    Bench(sqlora::bench_cmd::BenchArgs),
    /// MMLU 4-shot letter scoring of the base model and each adapter (the frozen 150-question sample by default).
    Mmlu(sqlora::mmlu::cli::MmluArgs),
    /// Regression report: MMLU per category vs the base with bootstrap intervals and McNemar p, Spider beside it.
    Report(sqlora::report::cli::ReportArgs),
    /// The results viewer: serve the page with a results folder on 127.0.0.1, or --export a static folder.
    View(sqlora::viewer::cli::ViewArgs),
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = sqlora_kernel::cpu::isa::from_env() {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
    let result = match cli.command {
        Command::Setup(a) => sqlora::assets::run_setup(a),
        Command::Generate(a) => sqlora::generate_cmd::run(a),
        Command::Baseline(a) => sqlora::spider::baseline::run(a),
        Command::Finetune(a) => sqlora::finetune::cli::run_finetune(a),
        Command::Evaluate(a) => sqlora::spider::baseline::run_evaluate(a),
        Command::Merge(a) => sqlora::merge_cmd::run(a),
        Command::Score(a) => sqlora::metric::cli::run_score(a),
        Command::Bench(a) => sqlora::bench_cmd::run(a),
        Command::Mmlu(a) => sqlora::mmlu::cli::run_mmlu(a),
        Command::Report(a) => sqlora::report::cli::run_report(a),
        Command::View(a) => sqlora::viewer::cli::run_view(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
