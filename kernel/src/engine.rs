//! A loaded model with its tokenizer: the one entry point the task layer uses.
use crate::backend::Backend;
use crate::backend::Numerics;
use crate::cpu::CpuBackend;
use crate::loader::ModelSource;
use crate::model::Model;
use crate::tokenizer::Tokenizer;
use crate::{Error, Result};
use std::path::Path;

pub struct Engine<B: Backend> {
    pub model: Model<B>,
    pub tokenizer: Tokenizer,
}

impl Engine<CpuBackend> {
    /// Loads a .gguf file or a Hugging Face directory onto the CPU.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        Self::load_on(CpuBackend::default(), path)
    }

    /// Loads onto the CPU with the chosen numerics for quantized weights.
    pub fn load_cpu(path: impl AsRef<Path>, numerics: Numerics) -> Result<Self> {
        Self::load_on(CpuBackend::new(numerics), path)
    }
}

impl<B: Backend> Engine<B> {
    pub fn load_on(backend: B, path: impl AsRef<Path>) -> Result<Self> {
        let src = ModelSource::open(path.as_ref())?;
        // The architecture and shapes first: an unsupported model should say so, not fail on a detail.
        src.config()?;
        let tokenizer = match &src {
            ModelSource::Gguf(f) => Tokenizer::from_gguf(f)?,
            ModelSource::Hf { dir, .. } => {
                let p = dir.join("tokenizer.json");
                if !p.exists() {
                    return Err(Error::BadInput(format!("{}: no tokenizer.json", dir.display())));
                }
                Tokenizer::from_file(&p)?
            }
        };
        let model = Model::load(backend, &src)?;
        Ok(Engine { model, tokenizer })
    }
}
