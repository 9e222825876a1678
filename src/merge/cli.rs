//! `sqlora merge`: an adapter folded into a dense copy of the base (W + s·B·A), written as a Hugging
//! Face model directory that transformers, llama.cpp's converter and `sqlora --model` all load.
use crate::cli_args::ModelArg;
use anyhow::{Context, Result};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// The PEFT LoRA adapter directory to merge.
    #[arg(long)]
    pub adapter: PathBuf,
    #[command(flatten)]
    pub model: ModelArg,
    /// The output directory (config.json, model.safetensors, tokenizer.json).
    #[arg(long)]
    pub out: PathBuf,
    /// Write the weights as f16 instead of f32.
    #[arg(long)]
    pub f16: bool,
}

pub fn run(a: MergeArgs) -> Result<()> {
    let model_path = a.model.resolve()?;
    let src = sqlora_kernel::loader::ModelSource::open(&model_path).with_context(|| format!("opening {}", model_path.display()))?;
    let adapter = sqlora_kernel::lora::Adapter::load(&a.adapter).with_context(|| format!("loading the adapter {}", a.adapter.display()))?;
    sqlora_kernel::lora::merge_hf(&src, &adapter, &a.out, a.f16).with_context(|| format!("merging into {}", a.out.display()))?;
    println!(
        "{}: {} merged with {} ({} LoRA pairs, scale {})",
        a.out.display(),
        model_path.display(),
        a.adapter.display(),
        adapter.modules.len(),
        adapter.scale
    );
    Ok(())
}
