//! Writes a PEFT adapter the way a trainer does, for the check that peft loads it
//! (tests/adapters/test_peft_load.py):
//!     save_peft_probe MODEL OUT_DIR
//! `Adapter::init_peft` (r = 4, α = 8, rsLoRA, all seven projections, seed 7), every lora_B then
//! filled from `lora::Rng` (so the adapter changes the logits), through `Model::lora_params` and
//! `Model::adapter_from_params` (the trainer's path) into `Adapter::save_peft(OUT_DIR)`; beside it
//! `ours.safetensors`: `input_ids` I64 [1, 24] and our logits F32 [1, 24, vocab] with that adapter;
//! and `OUT_DIR/merged/`: the model with the adapter merged (`lora::merge_hf`, f32); and
//! `OUT_DIR/f16/`: the same adapter saved in F16 (`save_peft_as`), with `ours.safetensors` of our
//! logits with it as loaded back (the F16-rounded weights).
use sqlora_kernel::cpu::CpuBackend;
use sqlora_kernel::loader::ModelSource;
use sqlora_kernel::lora::{merge_hf, Adapter, Proj, Storage};
use sqlora_kernel::model::{Logits, Model};
use sqlora_kernel::rng::Rng;
use std::path::Path;
use std::sync::Arc;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model_path, out] = args.as_slice() else {
        anyhow::bail!("usage: save_peft_probe MODEL OUT_DIR");
    };
    let src = ModelSource::open(model_path)?;
    let mut model = Model::load(CpuBackend::default(), &src)?;
    let mut a = Adapter::init_peft(&model.cfg, 4, 8.0, true, &Proj::ALL, 7);
    let mut rng = Rng::new(8);
    for w in a.modules.values_mut() {
        w.b.iter_mut().for_each(|x| *x = rng.uniform(-0.2, 0.2));
    }
    let params = model.lora_params(&a)?;
    let trained = model.adapter_from_params(&params, 8.0, true, out.into());
    trained.save_peft(Path::new(out), model_path)?;
    let ids: Vec<u32> = (0..24).map(|_| 3 + rng.below(model.cfg.vocab as u64 - 3) as u32).collect();
    merge_hf(&src, &trained, &Path::new(out).join("merged"), false)?;
    let f16_dir = Path::new(out).join("f16");
    trained.save_peft_as(&f16_dir, model_path, Storage::F16)?;
    let rounded = Adapter::load(&f16_dir)?;
    for (adapter, dir) in [(trained, Path::new(out).to_path_buf()), (rounded, f16_dir)] {
        model.set_adapter(Some(Arc::new(adapter)))?;
        let mut cache = model.new_cache();
        let logits = model.forward(&mut [(&ids, &mut cache)], Logits::All)?;
        let ids_b: Vec<u8> = ids.iter().flat_map(|&i| (i as i64).to_le_bytes()).collect();
        let lg_b: Vec<u8> = logits.iter().flat_map(|x| x.to_le_bytes()).collect();
        let views = vec![
            ("input_ids".to_string(), safetensors::tensor::TensorView::new(safetensors::Dtype::I64, vec![1, ids.len()], &ids_b)?),
            (
                "logits".to_string(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1, ids.len(), model.cfg.vocab], &lg_b)?,
            ),
        ];
        safetensors::serialize_to_file(views, None, &dir.join("ours.safetensors"))?;
    }
    println!("{out}: adapter ({} pairs) and ours.safetensors", a.modules.len());
    Ok(())
}
