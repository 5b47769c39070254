#!/usr/bin/env python3
"""Writes a Hugging Face folder of a Llama/Qwen2 shape with real bf16 safetensors, using only the
standard library (no numpy or torch here): config.json from a preset, the tokenizer files from
another folder, and model.safetensors whose values are a seeded random block of small bf16
numbers repeated. The values mean nothing; what matters is that loading reads real tensors from
a memory-mapped file, so resident memory after loading can be measured per pipeline stage.

Usage: make_checkpoint.py PRESET_CONFIG_JSON TOKENIZER_DIR OUT_DIR
"""
import json
import os
import random
import shutil
import struct
import sys


def tensors(c):
    h, i, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    nh, nkv = c["num_attention_heads"], c["num_key_value_heads"]
    hd = c.get("head_dim", h // nh)
    bias = c.get("model_type") == "qwen2"
    out = [("model.embed_tokens.weight", [v, h])]
    for layer in range(c["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        out += [(p + "input_layernorm.weight", [h]), (p + "post_attention_layernorm.weight", [h])]
        for name, rows in (("q_proj", nh * hd), ("k_proj", nkv * hd), ("v_proj", nkv * hd)):
            out.append((p + f"self_attn.{name}.weight", [rows, h]))
            if bias:
                out.append((p + f"self_attn.{name}.bias", [rows]))
        out += [(p + "self_attn.o_proj.weight", [h, nh * hd]), (p + "mlp.gate_proj.weight", [i, h]),
                (p + "mlp.up_proj.weight", [i, h]), (p + "mlp.down_proj.weight", [h, i])]
    out.append(("model.norm.weight", [h]))
    if not c.get("tie_word_embeddings", False):
        out.append(("lm_head.weight", [v, h]))
    return out


def main():
    preset, tokenizer_dir, out_dir = sys.argv[1:4]
    with open(preset) as f:
        c = json.load(f)
    os.makedirs(out_dir, exist_ok=True)
    shutil.copy(preset, os.path.join(out_dir, "config.json"))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(tokenizer_dir, name), os.path.join(out_dir, name))
    rng = random.Random(0)
    # bf16 of magnitude 2^-7..2^-4 with random sign and mantissa: no inf or NaN.
    block = b"".join(struct.pack("<H", (rng.getrandbits(1) << 15) | (rng.randint(0x78, 0x7b) << 7) |
                                 rng.getrandbits(7)) for _ in range(1 << 15))
    header, offset = {}, 0
    for name, shape in tensors(c):
        n = 2
        for d in shape:
            n *= d
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(os.path.join(out_dir, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        left = offset
        while left > 0:
            f.write(block[: min(left, len(block))])
            left -= min(left, len(block))
    print(f"{out_dir}: {len(header)} tensors, {offset / 2**30:.2f} GiB of bf16")


if __name__ == "__main__":
    main()
