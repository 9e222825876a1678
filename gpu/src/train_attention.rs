//! The training half's attention on the GPU: `attention_packed` (causal GQA over a packed batch,
//! saving each row's log-sum-exp) and its backward, as launches of gpu/kernels/attention_train.cu.
