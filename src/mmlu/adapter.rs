//! Attaching a LoRA adapter (PEFT directory) to the loaded engine, or detaching it: the one place
//! the MMLU harness touches the kernel's adapter API.
use anyhow::{Context, Result};
use sqlora_kernel::lora::Adapter;
use sqlora_kernel::Engine;
use std::path::Path;
use std::sync::Arc;

/// `Some(dir)`: load the adapter and put it on the model; `None`: the base model alone.
pub fn attach(engine: &mut Engine, dir: Option<&Path>) -> Result<()> {
    let adapter = match dir {
        Some(d) => Some(Arc::new(Adapter::load(d).with_context(|| format!("loading the adapter {}", d.display()))?)),
        None => None,
    };
    engine.model.set_adapter(adapter).context("attaching the adapter to the model")?;
    Ok(())
}
