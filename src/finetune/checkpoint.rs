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
