//! A backend that wraps another and hands every op to an observer (tests count host transfers with it;
//! the training probe times each op). Generic over the wrapped backend, so the same wrapper serves
//! every backend.
use super::{
    AdamWStep, AttnSaved, AttnSeq, AttnShape, Backend, HostMatrix, LoraGradMut, LoraRef, NormShape, Qkv, QkvMut, RopeShape, Rows,
    TrainBackend,
};

/// Sees each op of an `Instrumented` backend by name, around its call.
pub trait Observer: Send + Sync {
    fn observe<R>(&self, op: &'static str, f: impl FnOnce() -> R) -> R;
}

/// `inner`'s ops, each called through `observer`.
#[derive(Clone)]
pub struct Instrumented<B, O> {
    pub inner: B,
    pub observer: O,
}

impl<B: Backend, O: Observer> Backend for Instrumented<B, O> {
    type Tensor = B::Tensor;
    type Matrix = B::Matrix;
    fn name(&self) -> String {
        self.inner.name()
    }
    fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.inner.run(f)
    }
    fn zeros(&self, n: usize) -> B::Tensor {
        self.observer.observe("zeros", || self.inner.zeros(n))
    }
    fn upload(&self, data: &[f32]) -> B::Tensor {
        self.observer.observe("upload", || self.inner.upload(data))
    }
    fn download(&self, t: &B::Tensor) -> Vec<f32> {
        self.observer.observe("download", || self.inner.download(t))
    }
    fn len(&self, t: &B::Tensor) -> usize {
        self.inner.len(t)
    }
    fn ensure_len(&self, t: &mut B::Tensor, n: usize) {
        self.inner.ensure_len(t, n)
    }
    fn matrix(&self, w: &HostMatrix) -> crate::Result<B::Matrix> {
        self.observer.observe("matrix", || self.inner.matrix(w))
    }
    fn copy(&self, src: &B::Tensor, dst: &mut B::Tensor, n: usize) {
        self.observer.observe("copy", || self.inner.copy(src, dst, n))
    }
    fn copy_rows(&self, src: &B::Tensor, src_row: usize, dst: &mut B::Tensor, dst_row: usize, rows: Rows) {
        self.observer.observe("copy_rows", || self.inner.copy_rows(src, src_row, dst, dst_row, rows))
    }
    fn gather_rows(&self, x: &B::Tensor, rows: &[usize], n: usize, out: &mut B::Tensor) {
        self.observer.observe("gather_rows", || self.inner.gather_rows(x, rows, n, out))
    }
    fn argmax_rows(&self, x: &B::Tensor, rows: Rows) -> Vec<u32> {
        self.observer.observe("argmax_rows", || self.inner.argmax_rows(x, rows))
    }
    fn matmul(&self, x: &B::Tensor, m: usize, w: &B::Matrix, out: &mut B::Tensor) {
        self.observer.observe("matmul", || self.inner.matmul(x, m, w, out))
    }
    fn lora(&self, x: &B::Tensor, m: usize, l: LoraRef<'_, B::Tensor>, xa: &mut B::Tensor, y: &mut B::Tensor) {
        self.observer.observe("lora", || self.inner.lora(x, m, l, xa, y))
    }
    fn embed(&self, table: &B::Matrix, ids: &[u32], out: &mut B::Tensor) {
        self.observer.observe("embed", || self.inner.embed(table, ids, out))
    }
    fn add_bias(&self, x: &mut B::Tensor, m: usize, bias: &B::Tensor) {
        self.observer.observe("add_bias", || self.inner.add_bias(x, m, bias))
    }
    fn add(&self, x: &mut B::Tensor, y: &B::Tensor, n: usize) {
        self.observer.observe("add", || self.inner.add(x, y, n))
    }
    fn rmsnorm(&self, x: &B::Tensor, w: &B::Tensor, s: NormShape, out: &mut B::Tensor) {
        self.observer.observe("rmsnorm", || self.inner.rmsnorm(x, w, s, out))
    }
    fn rope(&self, x: &mut B::Tensor, positions: &[u32], s: RopeShape) {
        self.observer.observe("rope", || self.inner.rope(x, positions, s))
    }
    fn swiglu(&self, gate: &B::Tensor, up: &B::Tensor, n: usize, out: &mut B::Tensor) {
        self.observer.observe("swiglu", || self.inner.swiglu(gate, up, n, out))
    }
    fn attention(&self, q: &B::Tensor, seqs: &[AttnSeq<'_, B::Tensor>], shape: AttnShape, out: &mut B::Tensor) {
        self.observer.observe("attention", || self.inner.attention(q, seqs, shape, out))
    }
}

impl<B: TrainBackend, O: Observer> TrainBackend for Instrumented<B, O> {
    fn scatter_rows(&self, x: &B::Tensor, rows: &[usize], n: usize, out: &mut B::Tensor) {
        self.observer.observe("scatter_rows", || self.inner.scatter_rows(x, rows, n, out))
    }
    fn dropout(&self, x: &B::Tensor, n: usize, p: f32, seed: u64, out: &mut B::Tensor) {
        self.observer.observe("dropout", || self.inner.dropout(x, n, p, seed, out))
    }
    fn rmsnorm_bwd(&self, dy: &B::Tensor, x: &B::Tensor, w: &B::Tensor, s: NormShape, dx: &mut B::Tensor, dw: Option<&mut B::Tensor>) {
        self.observer.observe("rmsnorm_bwd", || self.inner.rmsnorm_bwd(dy, x, w, s, dx, dw))
    }
    fn rope_bwd(&self, d: &mut B::Tensor, positions: &[u32], s: RopeShape) {
        self.observer.observe("rope_bwd", || self.inner.rope_bwd(d, positions, s))
    }
    fn swiglu_bwd(&self, dy: &B::Tensor, gate: &B::Tensor, up: &B::Tensor, n: usize, dgate: &mut B::Tensor, dup: &mut B::Tensor) {
        self.observer.observe("swiglu_bwd", || self.inner.swiglu_bwd(dy, gate, up, n, dgate, dup))
    }
    fn matmul_bwd(&self, dy: &B::Tensor, m: usize, w: &B::Matrix, dx: &mut B::Tensor, accumulate: bool) {
        self.observer.observe("matmul_bwd", || self.inner.matmul_bwd(dy, m, w, dx, accumulate))
    }
    fn lora_bwd(
        &self,
        dy: &B::Tensor,
        x: &B::Tensor,
        xa: &B::Tensor,
        m: usize,
        l: LoraRef<'_, B::Tensor>,
        grads: LoraGradMut<'_, B::Tensor>,
    ) {
        self.observer.observe("lora_bwd", || self.inner.lora_bwd(dy, x, xa, m, l, grads))
    }
    fn attention_packed(
        &self,
        qkv: Qkv<'_, B::Tensor>,
        seqs: &[(usize, usize)],
        shape: AttnShape,
        out: &mut B::Tensor,
        lse: &mut B::Tensor,
    ) {
        self.observer.observe("attention_packed", || self.inner.attention_packed(qkv, seqs, shape, out, lse))
    }
    fn attention_packed_bwd(
        &self,
        dout: &B::Tensor,
        qkv: Qkv<'_, B::Tensor>,
        saved: AttnSaved<'_, B::Tensor>,
        seqs: &[(usize, usize)],
        shape: AttnShape,
        grads: QkvMut<'_, B::Tensor>,
    ) {
        self.observer.observe("attention_packed_bwd", || self.inner.attention_packed_bwd(dout, qkv, saved, seqs, shape, grads))
    }
    fn cross_entropy(&self, hidden: &B::Tensor, targets: &[u32], weights: &[f32], head: &B::Matrix, dhidden: &mut B::Tensor) -> f64 {
        self.observer.observe("cross_entropy", || self.inner.cross_entropy(hidden, targets, weights, head, dhidden))
    }
    fn sum_squares(&self, x: &B::Tensor, n: usize) -> f64 {
        self.observer.observe("sum_squares", || self.inner.sum_squares(x, n))
    }
    fn adamw(&self, p: &mut B::Tensor, g: &B::Tensor, m: &mut B::Tensor, v: &mut B::Tensor, n: usize, step: AdamWStep) {
        self.observer.observe("adamw", || self.inner.adamw(p, g, m, v, n, step))
    }
}
