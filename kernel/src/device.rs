//! Which backend runs a command (`--device`), and the one place that builds it. The task layer never
//! names a backend type: it hands a `WithBackend` task to `Device::run`, which builds the chosen
//! backend and runs the task's generic body on it (monomorphized once per backend).
use crate::backend::{Numerics, TrainBackend};
use crate::{Error, Result};

/// A device a command can run on. The CUDA backend adds its values here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    #[default]
    Cpu,
}

impl Device {
    pub const ALL: [Device; 1] = [Device::Cpu];

    pub fn name(self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
        }
    }

    pub fn parse(s: &str) -> Result<Device> {
        Device::ALL.into_iter().find(|d| d.name().eq_ignore_ascii_case(s.trim())).ok_or_else(|| {
            let known: Vec<&str> = Device::ALL.iter().map(|d| d.name()).collect();
            Error::BadInput(format!("unknown device \"{s}\" (known: {})", known.join(", ")))
        })
    }

    /// Builds this device's backend with the given numerics and runs `task` on it.
    pub fn run<T: WithBackend>(self, numerics: Numerics, task: T) -> T::Output {
        match self {
            Device::Cpu => task.with(crate::cpu::CpuBackend::new(numerics)),
        }
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Device {
    type Err = Error;
    fn from_str(s: &str) -> Result<Device> {
        Device::parse(s)
    }
}

/// A task whose body is written once over any backend: `Device::run` calls `with` with the backend it
/// built.
pub trait WithBackend {
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
        let e = Device::parse("tpu").unwrap_err().to_string();
        assert!(e.contains("unknown device \"tpu\"") && e.contains("cpu"), "{e}");
    }
}
