//! `sqlora generate`: greedy continuations from the command line, one prompt or a JSONL batch.
use crate::chat::chatml;
use crate::cli_args::EngineArgs;
use crate::device::WithBackend;
use anyhow::{bail, Context, Result};
use sqlora_kernel::backend::Backend;
use sqlora_kernel::generate::{GenConfig, Generator};
use std::io::{BufRead, Write};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// A PEFT LoRA adapter directory (adapter_config.json + adapter_model.safetensors) to apply.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// The prompt text, used as given (no chat template unless --chat); it may start with "-"
    /// (`--prompt "-- Database schema: ..."`).
    #[arg(long, conflicts_with_all = ["file", "batch"], allow_hyphen_values = true)]
    pub prompt: Option<String>,
    /// Read the prompt from a file.
    #[arg(long, conflicts_with = "batch")]
    pub file: Option<PathBuf>,
    /// One prompt per JSONL line (a JSON string, or an object with a "prompt" field); writes one JSON
    /// line per prompt {"continuation": ...} in the same order, all prompts decoded as one batch.
    #[arg(long)]
    pub batch: Option<PathBuf>,
    /// Where --batch writes its JSONL (default: stdout).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Maximum new tokens.
    #[arg(long, default_value_t = 128)]
    pub max_tokens: usize,
    /// Stop when the continuation contains this string (repeatable); the text is cut before it.
    #[arg(long)]
    pub stop: Vec<String>,
    /// Wrap each prompt in the model's chat template as a user turn.
    #[arg(long)]
    pub chat: bool,
    /// Keep generating past the end-of-sequence token.
    #[arg(long)]
    pub ignore_eos: bool,
}

pub fn run(a: GenerateArgs) -> Result<()> {
    let engine = a.engine.clone();
    engine.run(Generate(a))
}

struct Generate(GenerateArgs);

impl WithBackend for Generate {
    type Output = Result<()>;
    fn with<B: Backend>(self, backend: B) -> Result<()> {
        generate_on(backend, self.0)
    }
}

fn generate_on<B: Backend>(backend: B, a: GenerateArgs) -> Result<()> {
    let prompts: Vec<String> = if let Some(p) = &a.prompt {
        vec![p.clone()]
    } else if let Some(f) = &a.file {
        vec![std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?]
    } else if let Some(f) = &a.batch {
        read_batch(f)?
    } else {
        bail!("give --prompt TEXT, --file F or --batch FILE");
    };
    let model_path = a.engine.model.resolve()?;
    let mut engine = crate::assets::load_engine(backend, &model_path)?;
    if let Some(dir) = &a.adapter {
        crate::assets::attach_adapter(&mut engine, dir)?;
    }
    let mut ids = Vec::with_capacity(prompts.len());
    for (i, p) in prompts.iter().enumerate() {
        if p.is_empty() {
            bail!("prompt {} is empty", i + 1);
        }
        let text = if a.chat { chatml(p) } else { p.clone() };
        ids.push(engine.tokenizer.encode(&text, a.chat)?);
    }
    let cfg = GenConfig { max_new_tokens: a.max_tokens, stop_strings: a.stop.clone(), stop_at_eos: !a.ignore_eos, ..Default::default() };
    let gens = Generator::new(&engine.model, &engine.tokenizer).generate(&ids, None, &cfg)?;
    if a.batch.is_some() {
        let mut w: Box<dyn Write> = match &a.out {
            Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?)),
            None => Box::new(std::io::stdout().lock()),
        };
        for g in &gens {
            writeln!(w, "{}", serde_json::json!({ "continuation": g.text }))?;
        }
    } else {
        print!("{}", gens[0].text);
        std::io::stdout().flush()?;
    }
    Ok(())
}

fn read_batch(path: &PathBuf) -> Result<Vec<String>> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line).with_context(|| format!("{}:{}: not valid JSON", path.display(), n + 1))?;
        let p = match &v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Object(o) => match o.get("prompt").and_then(|p| p.as_str()) {
                Some(s) => s.to_string(),
                None => bail!("{}:{}: object without a string \"prompt\" field", path.display(), n + 1),
            },
            _ => bail!("{}:{}: expected a JSON string or object", path.display(), n + 1),
        };
        out.push(p);
    }
    if out.is_empty() {
        bail!("{}: no prompts", path.display());
    }
    Ok(out)
}
