"""References for the CUDA backend, made on the GPU machine by scripts/gpu_check.sh:

- builds "wide", a random Llama at Llama-3-8B width (hidden 4096, 32 heads / 8 KV heads of 128,
  intermediate 14336, vocab 128256, llama3 RoPE scaling) with only two layers, saved as bf16
  safetensors in Hugging Face layout;
- for it and the committed fixture models, writes <out>/<name>.json with prompts and the
  last-position logits transformers computes on this GPU in bf16 and (TF32 off) in fp32.

The C++ test (tests/gpu/gpu_backend_test.cpp) compares the backend's logits with both.

    python3 tests/reference/gpu_reference.py --fixtures tests/fixtures/models --wide DIR --out DIR
"""
import argparse
import json
import os

import torch
from safetensors.torch import save_file

PROMPT_LENGTHS = [1, 7, 16, 37, 100, 300]

WIDE = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama",
    "vocab_size": 128256, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 2,
    "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
    "hidden_act": "silu", "max_position_embeddings": 8192, "rms_norm_eps": 1e-5,
    "rope_theta": 500000.0,
    "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                     "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
    "attention_bias": False, "mlp_bias": False, "tie_word_embeddings": False,
    "bos_token_id": 128000, "eos_token_id": 128001, "torch_dtype": "bfloat16",
}


def build_wide(folder):
    from transformers import AutoConfig, LlamaForCausalLM

    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(WIDE, f, indent=2)
    cfg = AutoConfig.from_pretrained(folder)
    torch.manual_seed(42)
    with torch.device("cuda"):
        model = LlamaForCausalLM(cfg).to(torch.bfloat16)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p, dtype=torch.float32))
            else:
                p.copy_(0.02 * torch.randn_like(p, dtype=torch.float32))
    state = {k: v.contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
    del model
    torch.cuda.empty_cache()


def references(folder, name, out):
    from transformers import AutoModelForCausalLM

    with open(os.path.join(folder, "config.json")) as f:
        vocab = json.load(f)["vocab_size"]
    g = torch.Generator().manual_seed(99)
    prompts = [torch.randint(3, vocab, (n,), generator=g).tolist() for n in PROMPT_LENGTHS]
    logits = {}
    for dtype in (torch.bfloat16, torch.float32):
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).cuda().eval()
        with torch.no_grad():
            logits[dtype] = [model(torch.tensor([ids], device="cuda")).logits[0, -1].float().cpu().tolist()
                             for ids in prompts]
        del model
        torch.cuda.empty_cache()
    data = {"model": name, "prompts": [
        {"ids": ids, "bf16_logits": logits[torch.bfloat16][i], "fp32_logits": logits[torch.float32][i]}
        for i, ids in enumerate(prompts)]}
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump(data, f)
    print(name, "references written")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--wide", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    os.makedirs(args.out, exist_ok=True)
    build_wide(args.wide)
    references(args.wide, "wide", args.out)
    for name in ("tiny-llama3", "tiny-qwen2"):
        references(os.path.join(args.fixtures, name), name, args.out)


if __name__ == "__main__":
    main()
