//! On-disk model formats: GGUF (with ggml quantizations) and Hugging Face safetensors.
pub mod gguf;
pub mod gguf_write;
pub mod quant;
#[cfg(test)]
mod quant_tests;
