//! Every `sqlora` command, as the binary parses it and as a notebook cell or another program runs it
//! in-process: `sqlora::commands::run(["bench", "--kernels", "--tiny"])` does what the command line
//! `sqlora bench --kernels --tiny` does (its output on stdout, an error returned instead of an exit).
//! Each subcommand's arguments live in the module that implements it.
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "sqlora",
    version,
    about = "Measure what LoRA fine-tuning does to a small LLM: \
Text-to-SQL on Spider (execution accuracy) and general knowledge on MMLU."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// One value per process, parsed once: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum Command {
    /// Put the default model in $SQLORA_HOME and verify the data sets against data/MANIFEST.
    Setup(crate::assets::cli::SetupArgs),
    /// Greedy continuation of a prompt (stdout gets only the continuation), or of a JSONL batch.
    Generate(crate::generate::cli::GenerateArgs),
    /// Phase 1: the base model (or --adapter) answers Spider dev with the fixed 3-shot prompt; scored, resumable.
    Baseline(crate::evaluation::cli::BaselineArgs),
    /// Phase 2: LoRA fine-tuning on Spider train, one setting from flags or a sweep (--config); resumable.
    Finetune(crate::finetune::cli::FinetuneArgs),
    /// Phase 3 on a fine-tuned model: Spider dev with --adapter fused in (--prompt 3shot|0shot), scored, resumable.
    Evaluate(crate::evaluation::cli::BaselineArgs),
    /// Fold an adapter into a dense copy of the model: a Hugging Face directory (config.json, model.safetensors, tokenizer.json).
    Merge(crate::merge::cli::MergeArgs),
    /// An adapter as a folder to ship: PEFT files and adapter.gguf in f16 (or f32) with the run's settings and training record.
    Export(crate::export::ExportArgs),
    /// Execution accuracy of a predictions file (JSONL or Parquet), both modes, in parallel.
    Score(crate::metric::cli::ScoreArgs),
    /// Speed of the engine (prefill, decode, batched decode, peak RSS), optionally beside its peers.
    Bench(crate::bench::args::BenchArgs),
    /// MMLU 4-shot letter scoring of the base model and each adapter (the frozen 150-question sample by default).
    Mmlu(crate::mmlu::cli::MmluArgs),
    /// Regression report: MMLU per category vs the base with bootstrap intervals and McNemar p, Spider beside it.
    Report(crate::report::cli::ReportArgs),
    /// The results viewer: serve the page with a results folder on 127.0.0.1, or --export a static folder.
    View(crate::viewer::cli::ViewArgs),
}

/// Run one parsed command.
pub fn dispatch(command: Command) -> anyhow::Result<()> {
    sqlora_kernel::cpu::isa::from_env().map_err(anyhow::Error::msg)?;
    match command {
        Command::Setup(a) => crate::assets::cli::run(a),
        Command::Generate(a) => crate::generate::cli::run(a),
        Command::Baseline(a) => crate::evaluation::cli::run(a),
        Command::Finetune(a) => crate::finetune::cli::run(a),
        Command::Evaluate(a) => crate::evaluation::cli::run_evaluate(a),
        Command::Merge(a) => crate::merge::cli::run(a),
        Command::Export(a) => crate::export::run(a),
        Command::Score(a) => crate::metric::cli::run(a),
        Command::Bench(a) => crate::bench::cli::run(a),
        Command::Mmlu(a) => crate::mmlu::cli::run(a),
        Command::Report(a) => crate::report::cli::run(a),
        Command::View(a) => crate::viewer::cli::run(a),
    }
}

/// Run a command from its arguments (without the program name), as the command line would; a bad
/// argument or `--help` comes back as an error holding clap's text.
pub fn run<I, T>(args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::try_parse_from(std::iter::once(std::ffi::OsString::from("sqlora")).chain(args.into_iter().map(Into::into)))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    dispatch(cli.command)
}
