//! `sqlora export`: an adapter written again as a folder to ship (what `models/` holds): the PEFT
//! files and `adapter.gguf` in F16 (half the size of the trainer's F32; peft and llama.cpp load it)
//! or F32, beside the run's record when it has one (settings.json, training.json, train_log.parquet),
//! so the shipped folder is evaluated, gathered and reported like the run it came from.
use crate::cli_args::ModelArg;
use crate::finetune::run::{ADAPTER_GGUF, SETTINGS_FILE, SUMMARY_FILE};
use crate::results::train_log::TRAIN_LOG_FILE;
use anyhow::{Context, Result};
use sqlora_kernel::lora::{save_gguf_as, Adapter, Storage};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The adapter folder to export (PEFT files: a `sqlora finetune` run folder or any PEFT LoRA).
    #[arg(long)]
    pub adapter: PathBuf,
    /// The base model the adapter was trained on (its layout decides adapter.gguf's q/k row order).
    #[command(flatten)]
    pub model: ModelArg,
    /// The folder to write (created; files of the same names are replaced).
    #[arg(long)]
    pub out: PathBuf,
    /// Keep the weights in f32 instead of f16.
    #[arg(long)]
    pub f32: bool,
}

pub fn run(a: ExportArgs) -> Result<()> {
    let model_path = a.model.resolve()?;
    let storage = if a.f32 { Storage::F32 } else { Storage::F16 };
    let files = export(&a.adapter, &model_path, &a.out, storage)?;
    for (name, bytes) in files {
        println!("{}: {:.1} MB", a.out.join(name).display(), bytes as f64 / 1e6);
    }
    Ok(())
}

/// Writes the export; returns each file written with its size.
pub fn export(adapter_dir: &Path, model_path: &Path, out: &Path, storage: Storage) -> Result<Vec<(String, u64)>> {
    let adapter = Adapter::load(adapter_dir).with_context(|| format!("loading the adapter {}", adapter_dir.display()))?;
    let cfg = sqlora_kernel::loader::ModelSource::open(model_path)
        .and_then(|s| s.config())
        .with_context(|| format!("reading the model {}", model_path.display()))?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    adapter.save_peft_as(out, &model_path.display().to_string(), storage)?;
    save_gguf_as(&adapter, &cfg, &out.join(ADAPTER_GGUF), storage)?;
    let mut names = vec!["adapter_config.json", "adapter_model.safetensors", ADAPTER_GGUF];
    for f in [SETTINGS_FILE, SUMMARY_FILE, TRAIN_LOG_FILE] {
        if adapter_dir.join(f).is_file() {
            std::fs::copy(adapter_dir.join(f), out.join(f)).with_context(|| format!("copying {f} into {}", out.display()))?;
            names.push(f);
        }
    }
    names.iter().map(|n| Ok((n.to_string(), std::fs::metadata(out.join(n))?.len()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// F16 halves the weights' bytes; what is read back, from the PEFT files and from adapter.gguf,
    /// is the F16 rounding of every weight; the run's record travels with it.
    #[test]
    fn an_f16_export_holds_the_rounded_weights_in_both_forms() {
        let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny");
        let (src, model) = (fx.join("llama_train"), fx.join("llama"));
        let tmp = tempfile::tempdir().unwrap();
        std::fs::copy(src.join("adapter_config.json"), tmp.path().join("adapter_config.json")).unwrap();
        std::fs::copy(src.join("adapter_model.safetensors"), tmp.path().join("adapter_model.safetensors")).unwrap();
        std::fs::write(tmp.path().join(SETTINGS_FILE), "{\"rank\": 4}").unwrap();
        let (full, half) = (tmp.path().join("f32"), tmp.path().join("f16"));
        let size = |files: Vec<(String, u64)>, n: &str| files.iter().find(|(f, _)| f == n).unwrap().1;
        let f32_files = export(tmp.path(), &model, &full, Storage::F32).unwrap();
        let f16_files = export(tmp.path(), &model, &half, Storage::F16).unwrap();
        let weights = |files: &Vec<(String, u64)>| size(files.clone(), "adapter_model.safetensors");
        assert!(weights(&f16_files) * 2 < weights(&f32_files) + 4096, "{f16_files:?} vs {f32_files:?}");
        assert!(size(f16_files.clone(), ADAPTER_GGUF) * 2 < size(f32_files, ADAPTER_GGUF) + 4096);
        assert_eq!(std::fs::read_to_string(half.join(SETTINGS_FILE)).unwrap(), "{\"rank\": 4}");

        let orig = Adapter::load(tmp.path()).unwrap();
        let round = |v: &[f32]| v.iter().map(|x| half::f16::from_f32(*x).to_f32()).collect::<Vec<_>>();
        let cfg = sqlora_kernel::loader::ModelSource::open(&model).unwrap().config().unwrap();
        for back in [Adapter::load(&half).unwrap(), sqlora_kernel::lora::load_gguf(&half.join(ADAPTER_GGUF), &cfg).unwrap()] {
            assert_eq!((back.r, back.scale), (orig.r, orig.scale));
            assert_eq!(back.modules.len(), orig.modules.len());
            for (k, w) in &orig.modules {
                assert_eq!(back.modules[k].a, round(&w.a), "{k:?} A");
                assert_eq!(back.modules[k].b, round(&w.b), "{k:?} B");
            }
            assert!(orig.modules.values().any(|w| round(&w.a) != w.a), "the rounding is visible");
        }
    }
}
