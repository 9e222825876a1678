"""peft loads what `Adapter::save_peft` writes: on the tiny Llama fixture, the adapter written by
kernel/examples/save_peft_probe.rs (init_peft + random B, rsLoRA, through the trainer's
lora_params / adapter_from_params path) gives, through `peft.PeftModel.from_pretrained`, the logits our
engine gives with it (max |Δ| ≤ 1e-4 of the largest logit), and differs from the base model; the
same adapter merged by `lora::merge_hf` loads in transformers as a plain model with those logits; and
its F16 copy (`save_peft_as(.., Storage::F16)`) loads in peft with the logits our engine gives with
the F16-rounded weights.

Run by tests/adapters/run.sh (SQLORA_PROBE: the built example binary).
"""
import os
import subprocess
import sys

import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
TINY = os.path.join(REPO, "tests", "fixtures", "tiny", "llama")


def test_peft_loads_our_adapter_and_gives_our_logits(tmp_path):
    probe = os.environ.get("SQLORA_PROBE", os.path.join(REPO, "target", "release", "examples", "save_peft_probe"))
    out = tmp_path / "adapter"
    subprocess.run([probe, TINY, str(out)], check=True)
    ours = load_file(str(out / "ours.safetensors"))
    base = AutoModelForCausalLM.from_pretrained(TINY, dtype=torch.float32, attn_implementation="eager").eval()
    with torch.no_grad():
        base_logits = base(input_ids=ours["input_ids"]).logits
    model = PeftModel.from_pretrained(base, str(out)).eval()
    assert model.peft_config["default"].use_rslora
    with torch.no_grad():
        got = model(input_ids=ours["input_ids"]).logits
    scale = got.abs().max().item()
    diff = (got - ours["logits"]).abs().max().item()
    moved = (got - base_logits).abs().max().item()
    print(f"max |peft - ours| = {diff:.3e} (largest logit {scale:.3f}); the adapter moves logits by up to {moved:.3f}",
          file=sys.stderr)
    assert diff <= 1e-4 * scale
    assert moved > 100 * diff
    merged = AutoModelForCausalLM.from_pretrained(str(out / "merged"), dtype=torch.float32, attn_implementation="eager").eval()
    with torch.no_grad():
        got_m = merged(input_ids=ours["input_ids"]).logits
    diff_m = (got_m - ours["logits"]).abs().max().item()
    print(f"merged in transformers: max |Δ| = {diff_m:.3e}", file=sys.stderr)
    assert diff_m <= 1e-4 * scale
    # The F16 copy (what models/ ships): peft loads it and gives our logits with the rounded weights.
    half = out / "f16"
    assert load_file(str(half / "adapter_model.safetensors"))["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"].dtype == torch.float16
    ours_h = load_file(str(half / "ours.safetensors"))
    base_h = AutoModelForCausalLM.from_pretrained(TINY, dtype=torch.float32, attn_implementation="eager").eval()
    model_h = PeftModel.from_pretrained(base_h, str(half)).eval()
    with torch.no_grad():
        got_h = model_h(input_ids=ours_h["input_ids"]).logits
    diff_h = (got_h - ours_h["logits"]).abs().max().item()
    rounding = (ours_h["logits"] - ours["logits"]).abs().max().item()
    print(f"f16 copy in peft: max |Δ| = {diff_h:.3e} (the rounding itself moves our logits by {rounding:.3e})", file=sys.stderr)
    assert diff_h <= 1e-4 * scale


if __name__ == "__main__":
    import pathlib
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        test_peft_loads_our_adapter_and_gives_our_logits(pathlib.Path(d))
    print("ok: test_peft_loads_our_adapter_and_gives_our_logits")
