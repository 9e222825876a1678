//! The model's chat template, for prompts sent as a user turn (`--chat`).

/// SmolLM2's ChatML template (from its GGUF metadata), with its default system turn: the text before
/// and after a user message.
pub const CHAT_HEAD: &str =
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\n";
pub const CHAT_TAIL: &str = "<|im_end|>\n<|im_start|>assistant\n";

pub fn chatml(user: &str) -> String {
    format!("{CHAT_HEAD}{user}{CHAT_TAIL}")
}
