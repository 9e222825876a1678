//! The CPU backend's ops, one file per op with its forward and backward side by side (llm.c's layout),
//! each over the SIMD layer (`cpu/simd`, `cpu/vector.rs`) and parallel over rows, heads or chunks.
//! `crate::reference` holds the f64 version of each, which kernel/tests/ checks them against.
pub mod adamw;
pub mod add;
pub mod attention;
pub mod attention_packed;
pub mod cross_entropy;
pub mod dropout;
pub mod embed;
pub mod lora;
pub mod matmul;
pub mod rmsnorm;
pub mod rope;
pub mod rows;
pub mod swiglu;
