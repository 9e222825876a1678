//! Which backend runs a command (`--device`), and the one place that builds it. The task layer never
//! names a backend type: it hands a task to `Device::run` (inference: generation, evaluation, MMLU) or
//! `Device::run_train` (fine-tuning), which builds the chosen backend and runs the task's generic body
//! on it (monomorphized once per backend).
use anyhow::{bail, Result};
use sqlora_gpu::{EmulatedGpu, GpuBackend};
use sqlora_kernel::backend::{Backend, Numerics, TrainBackend};
use sqlora_kernel::cpu::CpuBackend;

/// A device a command can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    #[default]
    Cpu,
    /// The GPU backend's host code and CUDA kernels, the kernels compiled for the CPU and run thread
    /// by thread (gpu/emu): every command's GPU path, end to end, with no GPU — slowly.
    CudaEmulated,
    /// The GPU backend on an NVIDIA GPU (cargo feature `cuda`).
    #[cfg(feature = "cuda")]
    Cuda,
}

impl Device {
    pub const ALL: &'static [Device] = &[
        Device::Cpu,
        Device::CudaEmulated,
        #[cfg(feature = "cuda")]
        Device::Cuda,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            Device::CudaEmulated => "cuda-emulated",
            #[cfg(feature = "cuda")]
            Device::Cuda => "cuda",
        }
    }

    pub fn parse(s: &str) -> Result<Device> {
        match Device::ALL.iter().find(|d| d.name().eq_ignore_ascii_case(s.trim())) {
            Some(d) => Ok(*d),
            None => {
                let known: Vec<&str> = Device::ALL.iter().map(|d| d.name()).collect();
                let hint = if s.trim().eq_ignore_ascii_case("cuda") {
                    " (this build has no CUDA: build with `cargo build --release --features cuda`; cuda-emulated runs the same kernels on the CPU)"
                } else {
                    ""
                };
                bail!("unknown device \"{s}\" (known: {}){hint}", known.join(", "))
            }
        }
    }

    /// Builds this device's backend with the given numerics and runs the inference task on it.
    pub fn run<T: WithBackend<Output = Result<O>>, O>(self, numerics: Numerics, task: T) -> Result<O> {
        match self {
            Device::Cpu => task.with(CpuBackend::new(numerics)),
            Device::CudaEmulated => task.with(self.emulated_gpu(numerics)?),
            #[cfg(feature = "cuda")]
            Device::Cuda => task.with(self.cuda_gpu(numerics)?),
        }
    }

    /// Builds this device's backend and runs the training task on it.
    pub fn run_train<T: WithTrainBackend<Output = Result<O>>, O>(self, numerics: Numerics, task: T) -> Result<O> {
        match self {
            Device::Cpu => task.with(CpuBackend::new(numerics)),
            Device::CudaEmulated => task.with(self.emulated_gpu(numerics)?),
            #[cfg(feature = "cuda")]
            Device::Cuda => task.with(self.cuda_gpu(numerics)?),
        }
    }

    /// The GPU devices compute with f32 activations: the 8-bit numerics is the CPU's own path.
    fn gpu_numerics(self, numerics: Numerics) -> Result<()> {
        if numerics != Numerics::Exact {
            bail!(
                "the 8-bit numerics (--int8, finetune --numerics int8, the default of a new fine-tune) is the CPU's path; \
                 {} computes with f32 activations: pass --numerics exact to finetune, drop --int8 elsewhere",
                self.name()
            );
        }
        Ok(())
    }

    fn emulated_gpu(self, numerics: Numerics) -> Result<GpuBackend<EmulatedGpu>> {
        self.gpu_numerics(numerics)?;
        Ok(GpuBackend::new(EmulatedGpu::default()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_gpu(self, numerics: Numerics) -> Result<GpuBackend<sqlora_gpu::CudaGpu>> {
        self.gpu_numerics(numerics)?;
        Ok(GpuBackend::new(sqlora_gpu::CudaGpu::new(0).map_err(anyhow::Error::msg)?))
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Device {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Device> {
        Device::parse(s)
    }
}

/// An inference task whose body is written once over any backend: `Device::run` calls `with` with
/// the backend it built.
pub trait WithBackend {
    type Output;
    fn with<B: Backend>(self, backend: B) -> Self::Output;
}

/// A training task, written once over any backend with the training ops: `Device::run_train`.
pub trait WithTrainBackend {
    type Output;
    fn with<B: TrainBackend>(self, backend: B) -> Self::Output;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_devices_and_names_them_in_the_error() {
        assert_eq!(Device::parse("cpu").unwrap(), Device::Cpu);
        assert_eq!(Device::parse(" CPU ").unwrap(), Device::Cpu);
        assert_eq!(Device::parse("cuda-emulated").unwrap(), Device::CudaEmulated);
        let e = Device::parse("tpu").unwrap_err().to_string();
        assert!(e.contains("unknown device \"tpu\"") && e.contains("cpu, cuda-emulated"), "{e}");
        #[cfg(not(feature = "cuda"))]
        {
            let e = Device::parse("cuda").unwrap_err().to_string();
            assert!(e.contains("--features cuda"), "{e}");
        }
    }

    struct Name;
    impl WithTrainBackend for Name {
        type Output = Result<String>;
        fn with<B: TrainBackend>(self, backend: B) -> Result<String> {
            Ok(backend.name())
        }
    }

    #[test]
    fn training_runs_on_the_emulated_gpu_in_exact_numerics_only() {
        assert!(Device::Cpu.run_train(Numerics::Exact, Name).unwrap().starts_with("cpu"));
        assert!(Device::CudaEmulated.run_train(Numerics::Exact, Name).unwrap().starts_with("cuda-emulated"));
        let e = Device::CudaEmulated.run_train(Numerics::Int8, Name).unwrap_err().to_string();
        assert!(e.contains("--numerics exact"), "{e}");
    }
}
