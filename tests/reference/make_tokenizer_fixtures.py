"""Records what Hugging Face `tokenizers` and `transformers` produce for the hard strings and chats of
tokenizer_cases.py on the real Qwen3 and Llama 3 tokenizer files, as tests/fixtures/tokenizer/<name>.json.

Run where `tokenizers` and `transformers` are installed (the GPU machine):
    python3 tests/reference/make_tokenizer_fixtures.py --tokenizers .cache/tokenizers --out tests/fixtures/tokenizer
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from tokenizer_cases import CHATS, STRINGS  # noqa: E402


def record(name, folder):
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    cfg = json.load(open(os.path.join(folder, "tokenizer_config.json"), encoding="utf-8"))
    encode, decode = [], []
    for s in STRINGS:
        ids = tok.encode(s).ids
        plain = tok.encode(s, add_special_tokens=False).ids
        encode.append({"text": s, "ids": ids, "ids_no_special": plain})
        decode.append({"ids": ids, "text": tok.decode(ids, skip_special_tokens=False),
                       "text_skip_special": tok.decode(ids, skip_special_tokens=True)})
    # Ids that cut a multi-byte character (HF decodes the broken tail to U+FFFD), and a special
    # token between ordinary ones (dropped with skip_special_tokens).
    emoji = tok.encode("😀👨‍👩‍👧", add_special_tokens=False).ids
    specials = [t for t in tok.get_added_tokens_decoder().keys()][:1]
    for ids in [emoji[:1], emoji[:-1], emoji[1:], tok.encode("ab", add_special_tokens=False).ids + specials
                + tok.encode(" cd", add_special_tokens=False).ids]:
        decode.append({"ids": ids, "text": tok.decode(ids, skip_special_tokens=False),
                       "text_skip_special": tok.decode(ids, skip_special_tokens=True)})

    fast = PreTrainedTokenizerFast(tokenizer_file=os.path.join(folder, "tokenizer.json"),
                                   bos_token=_content(cfg.get("bos_token")),
                                   eos_token=_content(cfg.get("eos_token")))
    template = cfg["chat_template"]
    chat = []
    for c in CHATS:
        text = fast.apply_chat_template(c["messages"], tokenize=False,
                                        add_generation_prompt=c["add_generation_prompt"],
                                        chat_template=template)
        chat.append({"messages": c["messages"], "add_generation_prompt": c["add_generation_prompt"],
                     "text": text})
    return {"tokenizer": name, "encode": encode, "decode": decode, "chat": chat}


def _content(tok):
    if isinstance(tok, dict):
        return tok.get("content")
    return tok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizers", required=True, help="folder holding qwen3/ and llama3/")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name in ["qwen3", "llama3"]:
        data = record(name, os.path.join(args.tokenizers, name))
        with open(os.path.join(args.out, name + ".json"), "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1)
        print(name, len(data["encode"]), "strings", len(data["chat"]), "chats")


if __name__ == "__main__":
    main()
