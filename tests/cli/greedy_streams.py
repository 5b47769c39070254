#!/usr/bin/env python3
"""Greedy streams through HTTP, and the rule two GPU runs of them are held to (standard library only:
the GPU machine has python3 but no jq).

  greedy_streams.py run URL DIR [N [T]]  N (32) streamed greedy completions of T (40) tokens at
                                      once, each asking for its top-2 logprobs; DIR/I.json per
                                      request once it ends, and DIR/events, the data events so far
                                      (a test kills a node once enough have arrived)
  greedy_streams.py compare REF GOT   each request's tokens equal, or parting only where REF's top
                                      two logprobs are within bf16 noise (a batch of another height
                                      rounds differently in bf16; see tests/gpu/greedy_compare.h);
                                      prints the counts, exits 1 on a clear parting or an error

Request I is the prompt cluster_lib.sh's `streams` sends, a stop string when I is even.
"""
import json
import os
import sys
import threading
import urllib.request

NEAR_TIE = 0.1  # nats between the top two logprobs: bf16 noise in logits of this size (|l| ~ 1-5)


def one(url, i, out_dir, counter, max_tokens):
    body = {"prompt": f"stream {i}: " + "word " * (i % 7 + 1), "max_tokens": max_tokens, "temperature": 0,
            "ignore_eos": True, "stream": True, "logprobs": 2}
    if i % 2 == 0:
        body["stop"] = ["ing"]
    req = urllib.request.Request(url + "/v1/completions", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    result = {"tokens": [], "top": [], "text": "", "error": None}
    try:
        with urllib.request.urlopen(req, timeout=300) as resp:
            for raw in resp:
                line = raw.decode().strip()
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                event = json.loads(line[6:])
                if "error" in event:
                    result["error"] = event["error"]
                    continue
                counter.add()
                choice = event["choices"][0]
                result["text"] += choice.get("text") or ""
                lp = choice.get("logprobs") or {}
                result["tokens"] += lp.get("tokens") or []
                for top in lp.get("top_logprobs") or []:
                    result["top"].append(sorted(top.values(), reverse=True)[:2])
    except Exception as e:  # noqa: BLE001 - any failure is this request's result
        result["error"] = repr(e)
    with open(os.path.join(out_dir, f"{i}.json"), "w") as f:
        json.dump(result, f)


class Counter:
    def __init__(self, path):
        self.n, self.path, self.lock = 0, path, threading.Lock()

    def add(self):
        with self.lock:
            self.n += 1
            with open(self.path + ".tmp", "w") as f:
                f.write(str(self.n))
            os.replace(self.path + ".tmp", self.path)  # a reader never sees it half written


def run(url, out_dir, n, max_tokens):
    os.makedirs(out_dir, exist_ok=True)
    counter = Counter(os.path.join(out_dir, "events"))
    threads = [threading.Thread(target=one, args=(url, i, out_dir, counter, max_tokens)) for i in range(1, n + 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def compare(ref_dir, got_dir):
    same = near = bad = 0
    for name in sorted(f for f in os.listdir(ref_dir) if f.endswith(".json")):
        ref = json.load(open(os.path.join(ref_dir, name)))
        got = json.load(open(os.path.join(got_dir, name)))
        if ref["error"] or got["error"] or not ref["tokens"]:
            print(f"{name}: error or empty: ref {ref['error']}, got {got['error']}")
            bad += 1
            continue
        if ref["tokens"] == got["tokens"] and ref["text"] == got["text"]:
            same += 1
            continue
        k = 0
        while k < min(len(ref["tokens"]), len(got["tokens"])) and ref["tokens"][k] == got["tokens"][k]:
            k += 1
        top = ref["top"][k] if k < len(ref["top"]) else []
        gap = top[0] - top[1] if len(top) == 2 else None
        if gap is not None and gap < NEAR_TIE:
            near += 1
            print(f"{name}: parts at token {k} at a near-tie (top two logprobs {gap:.3f} apart)")
        else:
            bad += 1
            print(f"{name}: parts at token {k} where the top two logprobs are {gap} apart: "
                  f"{got['text']!r} vs {ref['text']!r}")
    print(f"{same} identical, {near} parted at a near-tie, {bad} parted otherwise")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    if sys.argv[1] == "run":
        run(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 32,
            int(sys.argv[5]) if len(sys.argv) > 5 else 40)
    else:
        sys.exit(compare(sys.argv[2], sys.argv[3]))
