"""The PyTorch + peft peer of `sqlora bench --train`: the same LoRA training step on the same GGUF, tokens
and thread count. fp32 (transformers dequantizes the GGUF), sdpa attention, LoRA (peft) on all seven
linear projections, the loss only on the target tokens (labels -100 elsewhere, as our mask), then
gradient clipping and an AdamW step. Prints one JSON object: tok_s (median over the timed steps, the
first step excluded), step_s, peak_rss_mb (VmHWM), first_loss, torch_cpu_capability.

Needs torch, transformers (with gguf) and peft.
"""
import argparse
import json
import os
import statistics
import sys
import time

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def rss_mb():
    # VmHWM of this process (not ru_maxrss, which Linux keeps across exec: it would show the bench's).
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch-file", required=True, help='JSON {"ids": [[...]], "target": [[bool...]]}')
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--r", type=int, default=16)
    ap.add_argument("--alpha", type=float, default=32)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--lr", type=float, default=1e-4)
    a = ap.parse_args()

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(a.threads)
    cap = torch.backends.cpu.get_cpu_capability()
    print(f"torch CPU capability: {cap}", file=sys.stderr)
    batch = json.load(open(a.batch_file))
    ids = torch.tensor(batch["ids"], dtype=torch.long)
    labels = ids.clone()
    labels[~torch.tensor(batch["target"], dtype=torch.bool)] = -100
    d, f = os.path.split(os.path.abspath(a.model))
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32, attn_implementation="sdpa")
    model.config.use_cache = False
    cfg = LoraConfig(r=a.r, lora_alpha=a.alpha, lora_dropout=0.0, target_modules=TARGETS, bias="none", task_type="CAUSAL_LM")
    model = get_peft_model(model, cfg)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.0)
    times, losses = [], []
    for s in range(a.steps + 1):
        t = time.perf_counter()
        out = model(input_ids=ids, labels=labels, use_cache=False)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        el = time.perf_counter() - t
        losses.append(out.loss.item())
        print(f"torch step {s}: loss {losses[-1]:.4f}, {el:.2f} s", file=sys.stderr)
        if s:
            times.append(el)
        del out
    step = statistics.median(times)
    print(json.dumps({"tok_s": ids.numel() / step, "step_s": step, "peak_rss_mb": rss_mb(), "first_loss": losses[0],
                      "torch_cpu_capability": cap}))


if __name__ == "__main__":
    main()
