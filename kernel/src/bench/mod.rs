//! Kernel-level benchmarking (`sqlora bench --kernels`): every op of a backend at the shapes the model
//! runs, checked against its f64 reference and then timed against the machine's measured limits;
//! and where a training or decode step's time goes, per op.
pub mod cases;
pub mod inputs;
pub mod peaks;
pub mod profile;
