//! Tokenizers through the `tokenizers` crate: from a tokenizer.json, or rebuilt from GGUF metadata
//! (`tokenizer.ggml.model` = gpt2: byte-level BPE from the token list and merges, with the
//! pre-tokenizer that `tokenizer.ggml.pre` names).
use crate::formats::gguf::{GgufFile, Value};
use crate::{Error, Result};
use std::path::Path;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, Tokenizer as HfTokenizer};

pub struct Tokenizer {
    inner: HfTokenizer,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    /// Extra ids that end a generation (e.g. <|im_end|> for chat models).
    pub stop_ids: Vec<u32>,
    pub add_bos: bool,
}

fn terr(e: impl std::fmt::Display) -> Error {
    Error::Tokenizer(e.to_string())
}

impl Tokenizer {
    pub fn from_file(path: &Path) -> Result<Self> {
        let inner = HfTokenizer::from_file(path).map_err(|e| Error::Tokenizer(format!("{}: {e}", path.display())))?;
        let id = |s: &str| inner.token_to_id(s);
        let eos = id("<|im_end|>").or(id("<|endoftext|>")).or(id("</s>"));
        let stop_ids = ["<|im_end|>", "<|endoftext|>", "</s>"].iter().filter_map(|s| id(s)).collect();
        Ok(Tokenizer { bos: None, eos, stop_ids, add_bos: false, inner })
    }

    /// Writes the tokenizer as a Hugging Face tokenizer.json (e.g. the one rebuilt from a GGUF).
    pub fn save_json(&self, path: &Path) -> Result<()> {
        self.inner.save(path, false).map_err(|e| Error::Tokenizer(format!("{}: {e}", path.display())))
    }

    pub fn from_gguf(f: &GgufFile) -> Result<Self> {
        let model = f.get_str("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(Error::Unsupported(format!("tokenizer.ggml.model \"{model}\" (gpt2 byte-level BPE is)")));
        }
        let strings = |key: &str| -> Result<Vec<String>> {
            let arr = f.get(key).and_then(Value::as_array).ok_or_else(|| Error::Tokenizer(format!("metadata {key} missing")))?;
            Ok(arr.iter().map(|v| v.as_str().unwrap_or("").to_string()).collect())
        };
        let tokens = strings("tokenizer.ggml.tokens")?;
        let merges_raw = strings("tokenizer.ggml.merges")?;
        let types: Vec<u64> = f
            .get("tokenizer.ggml.token_type")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|v| v.as_u64().unwrap_or(1)).collect())
            .unwrap_or_default();
        let mut vocab = ahash::AHashMap::new();
        for (i, t) in tokens.iter().enumerate() {
            vocab.insert(t.clone(), i as u32);
        }
        let merges: Vec<(String, String)> =
            merges_raw.iter().filter_map(|m| m.split_once(' ').map(|(a, b)| (a.to_string(), b.to_string()))).collect();
        let bpe = BPE::builder().vocab_and_merges(vocab, merges).ignore_merges(false).build().map_err(terr)?;
        let mut inner = HfTokenizer::new(bpe);
        let pre = f.get_str("tokenizer.ggml.pre").unwrap_or("default");
        // GPT-2's byte-level split; "smollm" (and starcoder-like vocabularies) first isolate every digit.
        let byte_level = ByteLevel::new(false, true, true);
        let pre_tok: PreTokenizerWrapper = match pre {
            "smollm" | "starcoder" | "refact" | "qwen2" | "deepseek-llm" => {
                Sequence::new(vec![PreTokenizerWrapper::Digits(Digits::new(true)), PreTokenizerWrapper::ByteLevel(byte_level)]).into()
            }
            "gpt2" | "default" | "gpt-2" => byte_level.into(),
            other => return Err(Error::Unsupported(format!("tokenizer.ggml.pre \"{other}\""))),
        };
        inner.with_pre_tokenizer(Some(pre_tok));
        inner.with_decoder(Some(ByteLevel::default()));
        // Control tokens (type 3) are matched whole, as llama.cpp does with special parsing on.
        let specials: Vec<AddedToken> =
            tokens.iter().zip(&types).filter(|(_, &t)| t == 3 || t == 4).map(|(s, _)| AddedToken::from(s.clone(), true)).collect();
        inner.add_special_tokens(specials).map_err(terr)?;
        let id = |k: &str| f.get(k).and_then(Value::as_u64).map(|v| v as u32);
        let eos = id("tokenizer.ggml.eos_token_id");
        let mut stop_ids: Vec<u32> = eos.into_iter().collect();
        for s in ["<|im_end|>", "<|endoftext|>"] {
            if let Some(i) = inner.token_to_id(s) {
                if !stop_ids.contains(&i) {
                    stop_ids.push(i);
                }
            }
        }
        Ok(Tokenizer {
            bos: id("tokenizer.ggml.bos_token_id"),
            eos,
            stop_ids,
            add_bos: f.get("tokenizer.ggml.add_bos_token").is_some_and(|v| *v == Value::Bool(true)),
            inner,
        })
    }

    /// Token ids of `text` as given; special-token strings are parsed as such only when `special`.
    pub fn encode(&self, text: &str, special: bool) -> Result<Vec<u32>> {
        let mut ids = if self.add_bos { self.bos.into_iter().collect() } else { Vec::new() };
        if special {
            ids.extend(self.inner.encode(text, false).map_err(terr)?.get_ids());
        } else {
            // Without special parsing, "<|im_start|>" is ordinary text: pre-tokenize and run the BPE model
            // directly, bypassing the added-token matcher (as llama.cpp's parse_special = false does).
            ids.extend(self.encode_plain(text)?);
        }
        Ok(ids)
    }

    fn encode_plain(&self, text: &str) -> Result<Vec<u32>> {
        use tokenizers::{Model, OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer};
        let mut pts = PreTokenizedString::from(text);
        if let Some(p) = self.inner.get_pre_tokenizer() {
            p.pre_tokenize(&mut pts).map_err(terr)?;
        }
        let model = self.inner.get_model();
        pts.tokenize(|s| model.tokenize(s.get())).map_err(terr)?;
        Ok(pts
            .get_splits(OffsetReferential::Original, OffsetType::Byte)
            .into_iter()
            .flat_map(|(_, _, toks)| toks.as_ref().map(|t| t.iter().map(|t| t.id).collect::<Vec<_>>()).unwrap_or_default())
            .collect())
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, false).map_err(terr)
    }

    pub fn token_to_id(&self, s: &str) -> Option<u32> {
        self.inner.token_to_id(s)
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }
}
