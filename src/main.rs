//! The `sqlora` command line: a thin layer over the library. Each subcommand's arguments live in the
//! module that implements it.
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "sqlora",
    version,
    about = "Measure what LoRA fine-tuning does to a small LLM: \
Text-to-SQL on Spider (execution accuracy) and general knowledge on MMLU."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// One value per process, parsed once: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Put the default model in $SQLORA_HOME and verify the data sets against data/MANIFEST.
    Setup(sqlora::assets::cli::SetupArgs),
    /// Greedy continuation of a prompt (stdout gets only the continuation), or of a JSONL batch.
    Generate(sqlora::generate::cli::GenerateArgs),
    /// Phase 1: the base model (or --adapter) answers Spider dev with the fixed 3-shot prompt; scored, resumable.
    Baseline(sqlora::evaluation::cli::BaselineArgs),
    /// Phase 2: LoRA fine-tuning on Spider train, one setting from flags or a sweep (--config); resumable.
    Finetune(sqlora::finetune::cli::FinetuneArgs),
    /// Phase 3 on a fine-tuned model: Spider dev with --adapter fused in (--prompt 3shot|0shot), scored, resumable.
    Evaluate(sqlora::evaluation::cli::BaselineArgs),
    /// Fold an adapter into a dense copy of the model: a Hugging Face directory (config.json, model.safetensors, tokenizer.json).
    Merge(sqlora::merge::cli::MergeArgs),
    /// Execution accuracy of a predictions file (JSONL or Parquet), both modes, in parallel.
    Score(sqlora::metric::cli::ScoreArgs),
    /// Speed of the engine (prefill, decode, batched decode, peak RSS), optionally beside its peers.
    Bench(sqlora::bench::args::BenchArgs),
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
        Command::Setup(a) => sqlora::assets::cli::run(a),
        Command::Generate(a) => sqlora::generate::cli::run(a),
        Command::Baseline(a) => sqlora::evaluation::cli::run(a),
        Command::Finetune(a) => sqlora::finetune::cli::run(a),
        Command::Evaluate(a) => sqlora::evaluation::cli::run_evaluate(a),
        Command::Merge(a) => sqlora::merge::cli::run(a),
        Command::Score(a) => sqlora::metric::cli::run(a),
        Command::Bench(a) => sqlora::bench::cli::run(a),
        Command::Mmlu(a) => sqlora::mmlu::cli::run(a),
        Command::Report(a) => sqlora::report::cli::run(a),
        Command::View(a) => sqlora::viewer::cli::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
