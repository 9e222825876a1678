"""A random (untrained) PEFT LoRA adapter for SmolLM2-135M: exercises `sqlora mmlu --adapter` and the
regression report end to end before phase 2 produces trained adapters. Not a fixture; not committed output.

    /opt/refenv/bin/python bench/make_random_adapter.py OUT_DIR [--scale 0.02] [--r 16]

LoRA on q/k/v/o/gate/up/down, A as peft initializes it, B ~ N(0, scale²) (peft's default B = 0 would be
the identity), saved with `save_pretrained` (adapter_config.json + adapter_model.safetensors).
"""
import argparse
import os

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

HOME = os.environ.get("SQLORA_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "sqlora")
GGUF = os.environ.get("SMOLLM2_GGUF") or os.path.join(HOME, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--scale", type=float, default=0.02)
ap.add_argument("--r", type=int, default=16)
ap.add_argument("--seed", type=int, default=0)
a = ap.parse_args()
torch.manual_seed(a.seed)
model = AutoModelForCausalLM.from_pretrained(os.path.dirname(GGUF), gguf_file=os.path.basename(GGUF), torch_dtype=torch.float32)
cfg = LoraConfig(r=a.r, lora_alpha=2 * a.r, lora_dropout=0.0,
                 target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
peft_model = get_peft_model(model, cfg)
with torch.no_grad():
    for name, p in peft_model.named_parameters():
        if "lora_B" in name:
            p.copy_(torch.randn_like(p) * a.scale)
peft_model.save_pretrained(a.out)
print(f"wrote {a.out}")
