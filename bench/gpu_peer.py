#!/usr/bin/env python3
"""PyTorch + transformers (bf16, sdpa attention, eager mode) doing what gpu/examples/gpu_bench.rs
measures, on a model of the same shape with random weights: prefill tokens/s, decode tokens/s at batch
1 and 64 (128-token prompts), the dev-shaped workload's wall time (each batch of 64 prompts, prefix +
suffix, left-padded, `generate` with 48 new greedy tokens: transformers has no shared-prefix cache),
and peak GPU memory (torch.cuda.max_memory_allocated). One JSON line per measure, as gpu_bench prints.

    python3 bench/gpu_peer.py --config smollm2|llama1b|tiny [--dev-lengths FILE] [--device cuda|cpu]
    python3 bench/gpu_peer.py --train [--train-batch 8] [--train-len 512] [--peak-tflops T] --config …

--train measures PyTorch + peft LoRA training instead, as gpu_bench --train does: r = 16 (alpha 32) on
all seven projections of the bf16 model, the loss on the second half of each sequence, clipping to
1.0, torch.optim.AdamW on the LoRA weights; tokens/s (median of 3 steps after a warm-up), the model
FLOP utilisation (4·N·tokens/s against --peak-tflops), peak memory (torch.cuda.max_memory_allocated).

--device cpu exists only to try the script without a GPU (gpu/bench.sh always uses cuda).
"""
import argparse
import json
import statistics
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

SHAPES = {
    "smollm2": dict(hidden_size=576, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                    intermediate_size=1536, vocab_size=49152, rope_theta=100000.0),
    "llama1b": dict(hidden_size=2048, num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8,
                    intermediate_size=8192, vocab_size=128256, rope_theta=500000.0),
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 intermediate_size=160, vocab_size=320, rope_theta=10000.0),
}


def tokens(n, seed, vocab):
    return [((i * 7919 + seed * 104729) % (vocab - 1)) + 1 for i in range(n)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="smollm2", choices=SHAPES)
    ap.add_argument("--dev-lengths")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--prefill", type=int, default=512)
    ap.add_argument("--decode-steps", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=48)
    ap.add_argument("--train", action="store_true")
    ap.add_argument("--train-batch", type=int, default=8)
    ap.add_argument("--train-len", type=int, default=512)
    ap.add_argument("--peak-tflops", type=float)
    a = ap.parse_args()
    dev = torch.device(a.device)
    dtype = torch.bfloat16 if a.device == "cuda" else torch.float32
    shape = SHAPES[a.config]
    cfg = LlamaConfig(**shape, head_dim=shape["hidden_size"] // shape["num_attention_heads"], tie_word_embeddings=True,
                      max_position_embeddings=8192)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    model = LlamaForCausalLM._from_config(cfg, attn_implementation="sdpa", torch_dtype=dtype).to(dev).eval()
    vocab = shape["vocab_size"]

    def sync():
        if a.device == "cuda":
            torch.cuda.synchronize()

    def emit(measure, value, unit):
        print(json.dumps({"engine": "pytorch", "backend": f"transformers {dtype} sdpa on {dev}", "model": a.config,
                          "measure": measure, "value": value, "unit": unit}), flush=True)

    sync()
    emit("load", time.perf_counter() - t0, "s")
    if a.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    if a.train:
        train(a, model, vocab, dev, sync, emit)
        return
    with torch.inference_mode():
        ids = torch.tensor([tokens(a.prefill, 1, vocab)], device=dev)
        times = []
        for rep in range(4):
            sync()
            t = time.perf_counter()
            model(ids, use_cache=True, logits_to_keep=1)
            sync()
            if rep:
                times.append(time.perf_counter() - t)
        emit(f"prefill {a.prefill}", a.prefill / statistics.median(times), "tokens/s")

        for batch in (1, 64):
            ids = torch.tensor([tokens(128, b + 2, vocab) for b in range(batch)], device=dev)
            out = model(ids, use_cache=True, logits_to_keep=1)
            past, nxt = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
            sync()
            t = time.perf_counter()
            for _ in range(a.decode_steps):
                out = model(nxt, past_key_values=past, use_cache=True)
                past, nxt = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
            sync()
            emit(f"decode batch {batch}", batch * a.decode_steps / (time.perf_counter() - t), "tokens/s")

        if a.dev_lengths:
            d = json.load(open(a.dev_lengths))
            prefix, suffixes = d["prefix"], d["suffixes"]
        else:
            prefix, suffixes = 40, [10 + i * 3 for i in range(12)]
        prefix_ids = tokens(prefix, 9, vocab)
        sync()
        t = time.perf_counter()
        for c in range(0, len(suffixes), 64):
            chunk = suffixes[c:c + 64]
            prompts = [prefix_ids + tokens(n, 1000 + c + i, vocab) for i, n in enumerate(chunk)]
            width = max(len(p) for p in prompts)
            ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts], device=dev)
            mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=dev)
            model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=a.new_tokens, min_new_tokens=a.new_tokens,
                           do_sample=False, pad_token_id=0)
        sync()
        emit(f"dev-shaped: {len(suffixes)} prompts, prefix {prefix}, {a.new_tokens} new tokens",
             time.perf_counter() - t, "s")
    if a.device == "cuda":
        emit("GPU memory in use (peak of samples)", torch.cuda.max_memory_allocated() / 2**20, "MiB")


def train(a, model, vocab, dev, sync, emit):
    from peft import LoraConfig, get_peft_model
    n_params = sum(p.numel() for p in model.parameters())  # tied embedding counted once, as gpu_bench
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    model = get_peft_model(model.train(), LoraConfig(r=16, lora_alpha=32, target_modules=targets, lora_dropout=0.0))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.tensor([tokens(a.train_len, b + 50, vocab) for b in range(a.train_batch)], device=dev)
    labels = ids.clone()
    labels[:, : a.train_len // 2] = -100
    times = []
    for rep in range(4):
        sync()
        t = time.perf_counter()
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync()
        if rep:
            times.append(time.perf_counter() - t)
    rate = a.train_batch * a.train_len / statistics.median(times)
    emit(f"train LoRA r16 all 7, {a.train_batch} × {a.train_len}", rate, "tokens/s")
    if a.peak_tflops:
        emit("train MFU (4·N·tokens/s of the dense bf16 peak)", 100.0 * 4 * n_params * rate / (a.peak_tflops * 1e12), "%")
    if a.device == "cuda":
        emit("train GPU memory in use (peak of samples)", torch.cuda.max_memory_allocated() / 2**20, "MiB")


if __name__ == "__main__":
    main()
