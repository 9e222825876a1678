//! The training half's small ops on the GPU: row scatter, dropout, the RMSNorm and SwiGLU backwards,
//! the sum of squares and AdamW, as launches of gpu/kernels/train_ops.cu.
