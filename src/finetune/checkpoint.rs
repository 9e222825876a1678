//! Training checkpoints: the LoRA weights and AdamW's moments (the model's own row layout, bit-exact
//! f32) in `state.safetensors`, and the step count, tokens seen, wall time and log rows so far in
//! `state.json`, with the tensors' sha256. A checkpoint is written whole into its own folder before
//! the `latest` pointer (written by rename) names it, so a kill at any moment leaves the previous
//! checkpoint intact; a damaged one is reported by name, never half-read.
use anyhow::{bail, Context, Result};
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlora_kernel::atomic_file::write_atomic;
use sqlora_kernel::backend::TrainBackend;
use sqlora_kernel::lora::Proj;
use sqlora_kernel::model::LoraParams;
use sqlora_kernel::train::Optimizer;
use sqlora_results::train_log::TrainLogRow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const LATEST: &str = "latest";
const TENSORS: &str = "state.safetensors";
const STATE: &str = "state.json";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    /// Optimizer steps done.
    pub step: usize,
    pub tokens_seen: usize,
    pub elapsed_s: f64,
    pub log: Vec<TrainLogRow>,
    /// sha256 of state.safetensors.
    pub tensors_sha256: String,
}

/// The checkpoint's tensor names of each module: "{tag}.{layer}.{projection index}.a" / ".b".
fn tensor_names<B: TrainBackend>(p: &LoraParams<B>, tag: &str) -> Vec<((usize, Proj), String, String)> {
    p.modules.keys().map(|&(l, pr)| ((l, pr), format!("{tag}.{l}.{}.a", pr.index()), format!("{tag}.{l}.{}.b", pr.index()))).collect()
}

/// Writes the checkpoint of `state.step` into `dir/checkpoint-NNNNNN/`, points `latest` at it and
/// removes older checkpoints.
pub fn save<B: TrainBackend>(dir: &Path, b: &B, params: &LoraParams<B>, opt: &Optimizer<B>, state: &mut State) -> Result<PathBuf> {
    let name = format!("checkpoint-{:06}", state.step);
    let ck = dir.join(&name);
    std::fs::create_dir_all(&ck).with_context(|| format!("creating {}", ck.display()))?;
    let mut data: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut shapes: BTreeMap<String, usize> = BTreeMap::new();
    for (tag, p) in [("p", params), ("m", &opt.m), ("v", &opt.v)] {
        for (key, na, nb) in tensor_names(p, tag) {
            let m = &p.modules[&key];
            for (n, t) in [(na, &m.a), (nb, &m.b)] {
                let v = b.download(t);
                shapes.insert(n.clone(), v.len());
                data.insert(n, v.iter().flat_map(|x| x.to_le_bytes()).collect());
            }
        }
    }
    let views: Vec<(String, safetensors::tensor::TensorView)> = data
        .iter()
        .map(|(n, bytes)| (n.clone(), safetensors::tensor::TensorView::new(Dtype::F32, vec![shapes[n]], bytes).unwrap()))
        .collect();
    let meta = Some(std::collections::HashMap::from([("adam_t".to_string(), opt.t.to_string())]));
    let bytes = safetensors::serialize(views, meta).context("serializing the checkpoint")?;
    state.tensors_sha256 = hex::encode(Sha256::digest(&bytes));
    write_atomic(&ck.join(TENSORS), &bytes)?;
    write_atomic(&ck.join(STATE), &serde_json::to_vec(state)?)?;
    write_atomic(&dir.join(LATEST), name.as_bytes())?;
    for e in std::fs::read_dir(dir)?.flatten() {
        let n = e.file_name().to_string_lossy().to_string();
        if n.starts_with("checkpoint-") && n != name {
            std::fs::remove_dir_all(e.path()).ok();
        }
    }
    Ok(ck)
}

/// The latest checkpoint, loaded into `params` and `opt` (shaped as the run's); None when the run
/// has none yet.
pub fn load<B: TrainBackend>(dir: &Path, b: &B, params: &mut LoraParams<B>, opt: &mut Optimizer<B>) -> Result<Option<State>> {
    let Ok(name) = std::fs::read_to_string(dir.join(LATEST)) else { return Ok(None) };
    let ck = dir.join(name.trim());
    let torn =
        |what: String| anyhow::anyhow!("torn checkpoint {}: {what} (start the run over with --fresh, or remove the folder)", ck.display());
    let state: State = serde_json::from_slice(&std::fs::read(ck.join(STATE)).map_err(|e| torn(format!("{STATE}: {e}")))?)
        .map_err(|e| torn(format!("{STATE}: {e}")))?;
    let bytes = std::fs::read(ck.join(TENSORS)).map_err(|e| torn(format!("{TENSORS}: {e}")))?;
    if hex::encode(Sha256::digest(&bytes)) != state.tensors_sha256 {
        return Err(torn(format!("{TENSORS} does not match the checksum in {STATE}")));
    }
    let st = SafeTensors::deserialize(&bytes).map_err(|e| torn(format!("{TENSORS}: {e}")))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| torn(format!("{TENSORS}: {e}")))?;
    let adam_t =
        meta.metadata().as_ref().and_then(|m| m.get("adam_t")).and_then(|t| t.parse().ok()).ok_or_else(|| torn("no adam_t".into()))?;
    for (tag, p) in [("p", &mut *params), ("m", &mut opt.m), ("v", &mut opt.v)] {
        for (key, na, nb) in tensor_names(p, tag) {
            let m = p.modules.get_mut(&key).unwrap();
            for (n, t) in [(na, &mut m.a), (nb, &mut m.b)] {
                let view = st.tensor(&n).map_err(|_| torn(format!("no tensor {n}: the checkpoint is of another setting")))?;
                if view.data().len() != 4 * b.len(t) {
                    bail!(
                        "checkpoint {}: tensor {n} has {} values, the run needs {}: the checkpoint is of another setting",
                        ck.display(),
                        view.data().len() / 4,
                        b.len(t)
                    );
                }
                let v: Vec<f32> = view.data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
                *t = b.upload(&v);
            }
        }
    }
    opt.t = adam_t;
    Ok(Some(state))
}

/// A run's state moves between devices through its checkpoint: the tiny Llama's LoRA trained on the
/// emulated GPU, checkpointed and continued on the CPU (and the other way round), ends within f32
/// rounding of the run that stayed on one device; on one device, a resumed run is the uninterrupted
/// one bit for bit.
#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use sqlora_gpu::{EmulatedGpu, GpuBackend};
    use sqlora_kernel::cpu::CpuBackend;
    use sqlora_kernel::loader::ModelSource;
    use sqlora_kernel::lora::Adapter;
    use sqlora_kernel::model::{Model, TrainSeq};
    use sqlora_kernel::train::{train_step, AdamW};

    fn fixtures() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny")
    }

    /// Steps `from..to` of a fixed tiny run on `be`, resuming from `resume` (a run folder) when given
    /// and checkpointing into `save` at the end when given; every LoRA weight at the end.
    fn run<B: TrainBackend>(be: B, from: usize, to: usize, resume: Option<&Path>, save: Option<&Path>) -> Vec<f32> {
        let model = Model::load(be, &ModelSource::open(fixtures().join("llama")).unwrap()).unwrap();
        let adapter = Adapter::load(fixtures().join("llama_train")).unwrap();
        let mut params = model.lora_params(&adapter).unwrap();
        let mut opt = Optimizer::new(&model, &params, AdamW::default());
        let b = &model.backend;
        if let Some(dir) = resume {
            let state = load(dir, b, &mut params, &mut opt).unwrap().expect("a checkpoint");
            assert_eq!(state.step, from);
        }
        let tokens: Vec<Vec<u32>> = vec![(1..24).map(|i| i * 7 % 300).collect(), (3..14).map(|i| i * 11 % 300).collect()];
        let targets: Vec<Vec<bool>> = tokens.iter().map(|t| (0..t.len()).map(|i| i >= t.len() / 2).collect()).collect();
        let batch: Vec<TrainSeq<'_>> = tokens.iter().zip(&targets).map(|(tokens, target)| TrainSeq { tokens, target }).collect();
        for _ in from..to {
            train_step(&model, &mut params, &mut opt, std::slice::from_ref(&batch), 1e-2, Some(1.0)).unwrap();
        }
        if let Some(dir) = save {
            let mut state = State { step: to, tokens_seen: 0, elapsed_s: 0.0, log: Vec::new(), tensors_sha256: String::new() };
            super::save(dir, b, &params, &opt, &mut state).unwrap();
        }
        params.modules.values().flat_map(|m| b.download(&m.a).into_iter().chain(b.download(&m.b))).collect()
    }

    fn max_rel(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).map(|(x, y)| (x - y).abs() / (1e-3 + y.abs())).fold(0.0, f32::max)
    }

    #[test]
    fn a_checkpoint_resumes_on_the_same_device_exactly_and_on_the_other_device_within_rounding() {
        let tmp = tempfile::tempdir().unwrap();
        let (on_gpu, on_cpu) = (tmp.path().join("gpu"), tmp.path().join("cpu"));
        let gpu = || GpuBackend::new(EmulatedGpu::default());
        let gpu_whole = run(gpu(), 0, 4, None, None);
        let cpu_whole = run(CpuBackend::default(), 0, 4, None, None);
        run(gpu(), 0, 2, None, Some(&on_gpu));
        run(CpuBackend::default(), 0, 2, None, Some(&on_cpu));
        assert!(run(gpu(), 2, 4, Some(&on_gpu), None) == gpu_whole, "the GPU run resumed on the GPU differs");
        assert!(run(CpuBackend::default(), 2, 4, Some(&on_cpu), None) == cpu_whole, "the CPU run resumed on the CPU differs");
        // Across devices the two backends' f32 sums round differently (4.5e-5 here, relative to the
        // weight or 1e-3, AVX-512); the four steps move the weights by far more (`moved`, ~40 on the
        // same scale), so agreement within 2e-4 says the state carried over.
        let gpu_then_cpu = run(CpuBackend::default(), 2, 4, Some(&on_gpu), None);
        let cpu_then_gpu = run(gpu(), 2, 4, Some(&on_cpu), None);
        let moved = max_rel(&gpu_whole, &run(gpu(), 0, 0, None, None));
        for (what, got, want) in [("GPU → CPU", &gpu_then_cpu, &gpu_whole), ("CPU → GPU", &cpu_then_gpu, &cpu_whole)] {
            let d = max_rel(got, want);
            println!("{what}: max relative difference {d:.2e} (the run moved the weights by up to {moved:.2e})");
            assert!(d < 2e-4, "{what}: {d}");
        }
        assert!(moved > 1e-2, "the steps moved the weights ({moved})");
    }
}
