//! Attaching a LoRA adapter (PEFT directory) to the loaded engine, or detaching it: the one place
//! the MMLU harness touches the kernel's adapter API.
use anyhow::{Context, Result};
use sqlora_kernel::backend::Backend;
use sqlora_kernel::lora::Adapter;
use sqlora_kernel::Engine;
use std::path::Path;
use std::sync::Arc;

/// Loads the adapter in `dir` and checks that it fits the engine's model (it is put on the model and
/// taken off again), so a bad adapter fails before any scoring starts.
pub fn load<B: Backend>(engine: &mut Engine<B>, dir: &Path) -> Result<Arc<Adapter>> {
    let adapter = crate::assets::attach_adapter(engine, dir)?;
    engine.model.set_adapter(None).context("detaching the adapter")?;
    Ok(adapter)
}

/// `Some(adapter)`: put it on the model; `None`: the base model alone.
pub fn attach<B: Backend>(engine: &mut Engine<B>, adapter: Option<&Arc<Adapter>>) -> Result<()> {
    engine.model.set_adapter(adapter.cloned()).context("attaching the adapter to the model")?;
    Ok(())
}
