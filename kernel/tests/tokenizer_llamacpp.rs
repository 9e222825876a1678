//! SmolLM2's tokenizer rebuilt from GGUF metadata gives llama.cpp's ids on every Spider dev question
//! and gold query (fixture made by tests/fixtures/ref/make_tokens.py with llama-cpp-python).
mod common;
use sqlora_kernel::formats::gguf::GgufFile;
use sqlora_kernel::tokenizer::Tokenizer;

#[test]
fn smollm2_ids_equal_llama_cpp_on_spider_dev() {
    let Some(model) = common::smollm2() else { return };
    let tok = Tokenizer::from_gguf(&GgufFile::open(&model).unwrap()).unwrap();
    let text = std::fs::read_to_string(common::fixtures().join("smollm2/tokens_llamacpp.jsonl")).unwrap();
    let (mut n, mut bad) = (0, Vec::new());
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let s = v["text"].as_str().unwrap();
        let special = v.get("special").and_then(|x| x.as_bool()).unwrap_or(false);
        let want: Vec<u32> = v["ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect();
        let got = tok.encode(s, special).unwrap();
        n += 1;
        if got != want {
            bad.push(format!("{s:?}: ours {got:?} llama.cpp {want:?}"));
        }
    }
    assert!(n > 1500, "fixture has only {n} texts");
    assert!(bad.is_empty(), "{} of {n} differ:\n{}", bad.len(), bad.iter().take(10).cloned().collect::<Vec<_>>().join("\n"));
    // Decoding gives the text back.
    let s = "SELECT count(*) FROM singer WHERE age  >  20 -- é 中文";
    assert_eq!(tok.decode(&tok.encode(s, false).unwrap()).unwrap(), s);
}
