//! Argument groups that several commands share, flattened into each command's arguments
//! (`#[command(flatten)]`): each flag is declared and documented once.
use crate::device::{Device, WithBackend, WithTrainBackend};
use anyhow::Result;
use sqlora_kernel::backend::Numerics;
use std::path::PathBuf;

/// `--model`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ModelArg {
    /// GGUF file or Hugging Face model directory (config.json, *.safetensors, tokenizer.json); default:
    /// the model `sqlora setup` fetched.
    #[arg(long)]
    pub model: Option<PathBuf>,
}

impl ModelArg {
    /// The model's path, checked to exist (with a hint to run setup for the default).
    pub fn resolve(&self) -> Result<PathBuf> {
        crate::assets::resolve_model(self.model.as_deref())
    }
}

/// `--data-dir`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct DataArg {
    /// Data directory holding spider/ and mmlu/ (default: $SQLORA_DATA, else ../shared/data).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

impl DataArg {
    pub fn resolve(&self) -> Result<PathBuf> {
        crate::datadir::resolve(self.data_dir.as_deref())
    }
}

/// `--out-dir` of the commands that write into a results folder.
#[derive(clap::Args, Debug, Clone)]
pub struct OutDirArg {
    /// The results folder (Parquet files, checkpoints, report).
    #[arg(long, default_value = "results")]
    pub out_dir: PathBuf,
}

/// `--int8`.
#[derive(clap::Args, Debug, Clone, Copy, Default)]
pub struct NumericsArg {
    /// Multiply with 8-bit activations (integer dot products, as llama.cpp does): faster, approximate
    /// (docs/numerics.md has its agreement with PyTorch and llama.cpp). Default: the exact f32 path.
    #[arg(long)]
    pub int8: bool,
}

impl NumericsArg {
    pub fn numerics(self) -> Numerics {
        if self.int8 {
            Numerics::Int8
        } else {
            Numerics::Exact
        }
    }
}

/// `--device`.
#[derive(clap::Args, Debug, Clone, Copy, Default)]
pub struct DeviceArg {
    /// Where the model runs: cpu; cuda (an NVIDIA GPU; in builds with `--features cuda`); or
    /// cuda-emulated (the GPU backend's CUDA kernels compiled for the CPU and run thread by thread: every
    /// GPU code path with no GPU, slowly). The GPU devices run inference commands only, for now.
    #[arg(long, default_value = "cpu", value_parser = parse_device)]
    pub device: Device,
}

fn parse_device(s: &str) -> Result<Device, String> {
    Device::parse(s).map_err(|e| e.to_string())
}

impl DeviceArg {
    /// Builds the chosen device's backend with `numerics` and runs the inference `task` on it.
    pub fn run<T: WithBackend<Output = anyhow::Result<O>>, O>(self, numerics: NumericsArg, task: T) -> anyhow::Result<O> {
        self.device.run(numerics.numerics(), task)
    }

    /// The same for a training task.
    pub fn run_train<T: WithTrainBackend<Output = anyhow::Result<O>>, O>(self, numerics: NumericsArg, task: T) -> anyhow::Result<O> {
        self.device.run_train(numerics.numerics(), task)
    }
}

/// The engine a command runs: `--model`, `--int8`, `--device`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct EngineArgs {
    #[command(flatten)]
    pub model: ModelArg,
    #[command(flatten)]
    pub numerics: NumericsArg,
    #[command(flatten)]
    pub device: DeviceArg,
}

impl EngineArgs {
    /// Builds the chosen device's backend with the chosen numerics and runs the inference `task` on it.
    pub fn run<T: WithBackend<Output = anyhow::Result<O>>, O>(&self, task: T) -> anyhow::Result<O> {
        self.device.run(self.numerics, task)
    }
}
