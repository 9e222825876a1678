//! The token lengths of the Spider dev baseline's prompts (the default model's tokenizer, the fixed
//! 3-shot prompt), for the GPU benchmark's dev-shaped workload (gpu/bench/dev_lengths.json): the
//! shared part (the shots) and each question's own part (its database's schema and the question; the
//! engine also shares each schema between a database's questions, which the benchmark does not).
//!
//!     cargo run --release --example dev_lengths -- DATA_DIR [MODEL.gguf] > gpu/bench/dev_lengths.json
use sqlora::spider::dataset::Dataset;
use sqlora::spider::prompt::{question_block, schema_block, SHOTS};
use sqlora_kernel::formats::gguf::GgufFile;
use sqlora_kernel::tokenizer::Tokenizer;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let data = std::path::PathBuf::from(args.next().ok_or_else(|| anyhow::anyhow!("usage: dev_lengths DATA_DIR [MODEL.gguf]"))?);
    let model = args.next().map(std::path::PathBuf::from).unwrap_or_else(sqlora::assets::default_model_path);
    let tok = Tokenizer::from_gguf(&GgufFile::open(&model)?)?;
    let ds = Dataset::load(&data)?;
    let prefix = tok.encode(SHOTS, false)?.len();
    let mut suffixes = Vec::with_capacity(ds.dev.len());
    for e in &ds.dev {
        let text = format!("{}{}", schema_block(&ds.db_path(&e.db_id))?, question_block(&e.question));
        suffixes.push(tok.encode(&text, false)?.len());
    }
    println!(
        "{}",
        serde_json::json!({"model": model.file_name().map(|f| f.to_string_lossy().into_owned()), "prompt": "3shot", "prefix": prefix, "suffixes": suffixes})
    );
    Ok(())
}
