//! `sqlora setup`: fetch the default model (or check a given one loads) and verify the data sets.
use super::{fetch_default_model, load_engine};
use crate::cli_args::{DataArg, DeviceArg, NumericsArg};
use crate::device::WithBackend;
use anyhow::{bail, Result};
use sqlora_kernel::backend::Backend;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct SetupArgs {
    /// Use this GGUF file or Hugging Face model directory (config.json, *.safetensors, tokenizer.json)
    /// instead of fetching the default model; it is checked to load, not copied.
    #[arg(long)]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArg,
    #[command(flatten)]
    pub device: DeviceArg,
    /// Only fetch the model; skip the data-set checksum verification.
    #[arg(long)]
    pub skip_data: bool,
}

pub fn run(a: SetupArgs) -> Result<()> {
    let model = match &a.model {
        Some(p) => {
            a.device.run(NumericsArg::default(), LoadCheck(p))?;
            p.clone()
        }
        None => fetch_default_model()?,
    };
    println!("model: {}", model.display());
    if !a.skip_data {
        let dir = a.data.resolve()?;
        println!("verifying {} against data/MANIFEST …", dir.display());
        let report = crate::datadir::verify_manifest(&dir)?;
        print!("{report}");
        if !report.is_ok() {
            bail!("the data directory {} does not match data/MANIFEST (see above)", dir.display());
        }
        println!("data ok: {}", dir.display());
    }
    Ok(())
}

/// Loads a given model on the chosen device and says what it is.
struct LoadCheck<'a>(&'a Path);

impl WithBackend for LoadCheck<'_> {
    type Output = Result<()>;
    fn with<B: Backend>(self, backend: B) -> Result<()> {
        let e = load_engine(backend, self.0)?;
        println!("model ok: {} ({:?}, {} layers, {})", self.0.display(), e.model.cfg.arch, e.model.cfg.n_layers, e.model.backend_name());
        Ok(())
    }
}
