"""Builds two tiny random models in Hugging Face layout and records what `transformers` computes
for them in fp32, as fixtures for the CPU forward pass (tests/fixtures/models/<name>/).

- tiny-llama3: LlamaForCausalLM, GQA, head_dim != hidden/heads, llama3 RoPE scaling, untied
  lm_head, weights sharded over two safetensors files with model.safetensors.index.json.
- tiny-qwen2: Qwen2ForCausalLM, q/k/v bias, tied embeddings, one safetensors file.

Weights are saved in bf16; the reference runs on those same bf16 values widened to fp32, so the
engine (which widens at load) must match to fp32 rounding. For each prompt it records the logits
at the last prompt position and 32 greedy tokens (full recompute each step, no cache).

Run where torch and transformers are installed (the GPU machine; the CPU is used, TF32 is off):
    python3 tests/reference/make_model_fixtures.py --out tests/fixtures/models
"""
import argparse
import json
import os

import torch
from safetensors.torch import save_file

PROMPT_LENGTHS = [1, 7, 16, 37, 100]  # 16 fills one KV block exactly; 100 spans seven blocks
GREEDY_TOKENS = 32

LLAMA3 = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama",
    "vocab_size": 512, "hidden_size": 96, "intermediate_size": 160, "num_hidden_layers": 3,
    "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32,
    "hidden_act": "silu", "max_position_embeddings": 4096, "rms_norm_eps": 1e-5,
    "rope_theta": 500000.0,
    "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                     "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
    "attention_bias": False, "mlp_bias": False, "tie_word_embeddings": False,
    "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16",
}
QWEN2 = {
    "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
    "vocab_size": 384, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2,
    "hidden_act": "silu", "max_position_embeddings": 2048, "rms_norm_eps": 1e-6,
    "rope_theta": 1000000.0, "tie_word_embeddings": True, "use_sliding_window": False,
    "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16",
}


def randomize(model, seed):
    # Larger than HF's default init so logits are well separated and greedy choices are stable.
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.08 * torch.randn(p.shape, generator=g))
            # Round to bf16 so the fp32 reference sees exactly the saved values.
            p.copy_(p.to(torch.bfloat16).to(torch.float32))


def save_weights(model, folder, tied, shards):
    state = {k: v.to(torch.bfloat16).contiguous() for k, v in model.state_dict().items()
             if not (tied and k == "lm_head.weight")}
    if shards == 1:
        save_file(state, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
        return
    names = sorted(state)
    weight_map = {}
    for i in range(shards):
        fname = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        part = {k: state[k] for k in names[i::shards]}
        save_file(part, os.path.join(folder, fname), metadata={"format": "pt"})
        weight_map.update({k: fname for k in part})
    total = sum(v.numel() * v.element_size() for v in state.values())
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)


def build(name, config, model_cls, seed, shards, out):
    from transformers import AutoConfig

    folder = os.path.join(out, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    cfg = AutoConfig.from_pretrained(folder)
    torch.manual_seed(seed)
    model = model_cls(cfg).to(torch.float32).eval()
    randomize(model, seed)
    save_weights(model, folder, config["tie_word_embeddings"], shards)

    g = torch.Generator().manual_seed(seed + 1)
    prompts = []
    with torch.no_grad():
        for n in PROMPT_LENGTHS:
            ids = torch.randint(3, config["vocab_size"], (n,), generator=g).tolist()
            logits = model(torch.tensor([ids])).logits[0, -1].tolist()
            seq = list(ids)
            greedy = []
            for _ in range(GREEDY_TOKENS):
                nxt = int(model(torch.tensor([seq])).logits[0, -1].argmax())
                greedy.append(nxt)
                seq.append(nxt)
            prompts.append({"ids": ids, "last_logits": logits, "greedy": greedy})
    with open(os.path.join(folder, "expected.json"), "w") as f:
        json.dump({"model": name, "dtype": "float32", "prompts": prompts}, f)
    print(name, "params", sum(p.numel() for p in model.parameters()), "prompts", len(prompts))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_num_threads(4)
    from transformers import LlamaForCausalLM, Qwen2ForCausalLM

    build("tiny-llama3", LLAMA3, LlamaForCausalLM, 1234, 2, args.out)
    build("tiny-qwen2", QWEN2, Qwen2ForCausalLM, 5678, 1, args.out)


if __name__ == "__main__":
    main()
