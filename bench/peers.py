"""The peers of `sqlora bench`, on the same GGUF and thread count: llama.cpp (llama-cpp-python) and
PyTorch + transformers (fp32, the GGUF dequantized). Prints one JSON object:
{"llama_cpp": {...}, "torch": {...}} with prefill_tok_s, decode_tok_s, batched_decode_tok_s, peak_rss_mb.

Each peer runs in its own process (so peak RSS is its own). Needs: llama-cpp-python (on this VM build it
without AMX: CMAKE_ARGS="-DGGML_NATIVE=ON -DCMAKE_C_FLAGS='-mno-amx-tile -mno-amx-int8 -mno-amx-bf16'
-DCMAKE_CXX_FLAGS='-mno-amx-tile -mno-amx-int8 -mno-amx-bf16'"), torch, transformers, gguf, accelerate.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time


def filler_ids(n, vocab=49152):
    # Any fixed ids do for timing; keep away from control tokens.
    return [(t * 7919 + 13) % (vocab - 200) + 100 for t in range(n)]


def rss_mb():
    # VmHWM of this process's own memory map. Not getrusage's ru_maxrss: Linux keeps that across exec,
    # so a peer started by `sqlora bench` would report the bench's own peak when its own is lower.
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_llama(a):
    import llama_cpp
    from llama_cpp import Llama

    # The instruction set this build uses (fixed when llama.cpp was compiled): bench reports it.
    print("llama.cpp system info: " + llama_cpp.llama_print_system_info().decode(), file=sys.stderr)
    llm = Llama(model_path=a.model, n_ctx=4096, n_batch=512, n_ubatch=512, n_threads=a.threads,
                n_threads_batch=a.threads, logits_all=False, verbose=False)
    p = filler_ids(a.prefill)
    times = []
    for r in range(a.reps + 1):
        llm.reset()
        t = time.perf_counter()
        llm.eval(p)
        if r:
            times.append(time.perf_counter() - t)
    prefill = a.prefill / statistics.median(times)
    times = []
    for _ in range(min(a.reps, 3)):
        llm.reset()
        llm.eval(filler_ids(16))
        t = time.perf_counter()
        for i in range(a.decode):
            llm.eval([100 + i])
        times.append(time.perf_counter() - t)
    decode = a.decode / statistics.median(times)
    batched = None
    try:
        batched = llama_batched(llm, a)
    except Exception as e:  # the low-level API differs between versions: report, do not fail
        print(f"llama.cpp batched decode not measured: {e}", file=sys.stderr)
    return {"prefill_tok_s": prefill, "decode_tok_s": decode, "batched_decode_tok_s": batched, "peak_rss_mb": rss_mb()}


def llama_batched(llm, a):
    """`a.batch` sequences of 128 prompt tokens, then a.decode steps of one token each, all sequences
    in one llama_decode per step (as llama-batched-bench's S_TG)."""
    import llama_cpp

    n = a.batch
    # A context of its own: the high-level Llama object allows one sequence only (n_seq_max = 1).
    params = llama_cpp.llama_context_default_params()
    params.n_ctx = n * (128 + a.decode + 16)
    params.n_batch = params.n_ubatch = 512
    params.n_seq_max = n
    params.n_threads = params.n_threads_batch = a.threads
    ctx = llama_cpp.llama_init_from_model(llm.model, params)
    if not ctx:
        raise RuntimeError("could not create a multi-sequence context")
    batch = llama_cpp.llama_batch_init(max(128 * n, n), 0, n)

    def fill(tokens_per_seq, pos0):
        batch.n_tokens = 0
        for s, toks in enumerate(tokens_per_seq):
            for j, t in enumerate(toks):
                i = batch.n_tokens
                batch.token[i] = t
                batch.pos[i] = pos0 + j
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = s
                batch.logits[i] = j == len(toks) - 1
                batch.n_tokens += 1

    prompts = [filler_ids(128 + s)[s:] for s in range(n)]
    # Prompts one sequence at a time (n_batch = 512 bounds a single decode call).
    for s in range(n):
        batch.n_tokens = 0
        for j, t in enumerate(prompts[s]):
            i = batch.n_tokens
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = t, j, 1
            batch.seq_id[i][0] = s
            batch.logits[i] = j == 127
            batch.n_tokens += 1
        if llama_cpp.llama_decode(ctx, batch) != 0:
            raise RuntimeError("llama_decode failed on a prompt (n_seq_max too small?)")
    t = time.perf_counter()
    for step in range(a.decode):
        fill([[100 + step + s] for s in range(n)], 128 + step)
        if llama_cpp.llama_decode(ctx, batch) != 0:
            raise RuntimeError("llama_decode failed while decoding")
    secs = time.perf_counter() - t
    llama_cpp.llama_batch_free(batch)
    llama_cpp.llama_free(ctx)
    return n * a.decode / secs


def run_torch(a):
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(a.threads)
    print(f"torch CPU capability: {torch.backends.cpu.get_cpu_capability()}", file=sys.stderr)
    d, f = os.path.split(os.path.abspath(a.model))
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, torch_dtype=torch.float32)
    model.eval()
    p = torch.tensor([filler_ids(a.prefill)])
    times = []
    with torch.inference_mode():
        for r in range(a.reps + 1):
            t = time.perf_counter()
            model(p, use_cache=False, logits_to_keep=1)
            if r:
                times.append(time.perf_counter() - t)
        prefill = a.prefill / statistics.median(times)
        q = torch.tensor([filler_ids(16)])
        t = time.perf_counter()
        out = model.generate(q, max_new_tokens=a.decode, min_new_tokens=a.decode, do_sample=False)
        decode = (out.shape[1] - 16) / (time.perf_counter() - t)
    return {"prefill_tok_s": prefill, "decode_tok_s": decode, "batched_decode_tok_s": None, "peak_rss_mb": rss_mb()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prefill", type=int, default=512)
    ap.add_argument("--decode", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--only", choices=["llama_cpp", "torch"])
    a = ap.parse_args()
    if a.only:
        res = run_llama(a) if a.only == "llama_cpp" else run_torch(a)
        print(json.dumps(res))
        return
    out = {}
    for peer in ["llama_cpp", "torch"]:
        cmd = [sys.executable, __file__, "--only", peer] + sys.argv[1:]
        print(f"peer {peer} …", file=sys.stderr)
        r = subprocess.run(cmd, capture_output=True, text=True)
        # Pass on what the peer reports about itself (e.g. a measure it could not take), not its logs.
        for line in r.stderr.splitlines():
            if "not measured" in line:
                print(f"  {line}", file=sys.stderr)
        if r.returncode != 0:
            print(r.stderr[-2000:], file=sys.stderr)
            out[peer] = {}
        else:
            out[peer] = json.loads(r.stdout.strip().splitlines()[-1])
            print(f"  {out[peer]}", file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
