//! The training batch of a reference fixture (make_tiny_train.py, make_smollm2_train.py):
//! right-padded `input_ids`, `lengths`, `loss_mask` and the reference `loss`.
#![allow(dead_code)]
use safetensors::SafeTensors;
use sqlora_kernel::model::TrainSeq;

pub struct RefBatch {
    pub tokens: Vec<Vec<u32>>,
    pub targets: Vec<Vec<bool>>,
    pub loss: f64,
}

fn i64s(st: &SafeTensors, name: &str) -> Vec<i64> {
    st.tensor(name).unwrap().data().chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect()
}

impl RefBatch {
    pub fn read(st: &SafeTensors) -> Self {
        let (ids, lengths, mask) = (i64s(st, "input_ids"), i64s(st, "lengths"), i64s(st, "loss_mask"));
        let t = ids.len() / lengths.len();
        let rows = |b: usize| b * t..b * t + lengths[b] as usize;
        RefBatch {
            tokens: (0..lengths.len()).map(|b| ids[rows(b)].iter().map(|&v| v as u32).collect()).collect(),
            targets: (0..lengths.len()).map(|b| mask[rows(b)].iter().map(|&v| v != 0).collect()).collect(),
            loss: f64::from_le_bytes(st.tensor("loss").unwrap().data().try_into().unwrap()),
        }
    }

    pub fn seqs(&self) -> Vec<TrainSeq<'_>> {
        self.tokens.iter().zip(&self.targets).map(|(tokens, target)| TrainSeq { tokens, target }).collect()
    }
}

/// One `loss_and_grads` of `model` + `adapter` on the batch of the fixture file `reference`:
/// (our loss, the reference's loss, the parameters, their gradients).
pub fn run_step<B: sqlora_kernel::backend::TrainBackend>(
    model: &sqlora_kernel::model::Model<B>,
    adapter: &sqlora_kernel::lora::Adapter,
    reference: &std::path::Path,
) -> (f64, f64, sqlora_kernel::model::LoraParams<B>, sqlora_kernel::model::LoraParams<B>) {
    let bytes = std::fs::read(reference).unwrap();
    let rb = RefBatch::read(&SafeTensors::deserialize(&bytes).unwrap());
    let params = model.lora_params(adapter).unwrap();
    let mut grads = model.lora_zeros(&params);
    let loss = model.loss_and_grads(&rb.seqs(), &params, &mut grads).unwrap();
    (loss, rb.loss, params, grads)
}
