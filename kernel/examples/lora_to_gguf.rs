//! Writes a PEFT adapter as a GGUF LoRA for llama.cpp (`lora::save_gguf`):
//!     cargo run --release -p sqlora-kernel --example lora_to_gguf -- MODEL ADAPTER_DIR OUT.gguf
//! MODEL (a GGUF file or Hugging Face directory) gives the shapes and the architecture.
use sqlora_kernel::loader::ModelSource;
use sqlora_kernel::lora::{save_gguf, Adapter};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, adapter, out] = args.as_slice() else {
        anyhow::bail!("usage: lora_to_gguf MODEL ADAPTER_DIR OUT.gguf");
    };
    let cfg = ModelSource::open(model)?.config()?;
    let a = Adapter::load(adapter)?;
    save_gguf(&a, &cfg, std::path::Path::new(out))?;
    println!("{out}: {} LoRA pairs, r = {}, alpha = {}", a.modules.len(), a.r, a.alpha);
    Ok(())
}
