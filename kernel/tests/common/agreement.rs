//! Agreement of our log-probabilities with a reference's top-k per position (the teacher-forced
//! fixtures): top-1 agreement and KL(reference ‖ ours) over the reference's top-k plus one tail bucket.
#![allow(dead_code)]

#[derive(Default)]
pub struct Agreement {
    pub n: usize,
    pub top1: usize,
    pub kl_sum: f64,
    pub kl_max: f64,
}

impl Agreement {
    /// One position: `ours` are our log-probabilities over the vocabulary.
    pub fn add(&mut self, ours: &[f64], ref_ids: &[i32], ref_lp: &[f32]) {
        let our_top = ours.iter().enumerate().fold(0, |b, (i, &v)| if v > ours[b] { i } else { b });
        self.n += 1;
        self.top1 += (our_top == ref_ids[0] as usize) as usize;
        let (mut kl, mut p_sum, mut q_sum) = (0.0, 0.0, 0.0);
        for (&id, &lp) in ref_ids.iter().zip(ref_lp) {
            let (p, lq) = ((lp as f64).exp(), ours[id as usize]);
            kl += p * (lp as f64 - lq);
            p_sum += p;
            q_sum += lq.exp();
        }
        let (pt, qt) = ((1.0 - p_sum).max(0.0), (1.0 - q_sum).max(1e-300));
        if pt > 0.0 {
            kl += pt * (pt.ln() - qt.ln());
        }
        self.kl_sum += kl;
        self.kl_max = self.kl_max.max(kl);
    }
    pub fn top1(&self) -> f64 {
        self.top1 as f64 / self.n as f64
    }
    pub fn kl(&self) -> f64 {
        self.kl_sum / self.n as f64
    }
}

pub fn log_softmax(x: &[f32]) -> Vec<f64> {
    let max = x.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
    let lse = x.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln() + max;
    x.iter().map(|&v| v as f64 - lse).collect()
}
