#!/usr/bin/env python3
"""The HuggingFace peer of `distilbert embed`: JSONL texts in, one mean-pooled sentence embedding per line
out, the way a Python user writes it with transformers, timed end to end and by stage.

    python3 bench/peer/hf_embed.py --model DIR --input IN.jsonl --output OUT.jsonl [--precision bf16|fp32]
        [--attn sdpa|eager] [--max-length 256] [--batch-tokens 8192] [--normalize] [--device cuda|cpu]
        [--json TIMES.json]
    python3 bench/peer/hf_embed.py --compare OURS.jsonl HF.jsonl [--min-cosine 0.999]
    python3 bench/peer/hf_embed.py --make-model DIR --tokenizer tokenizer.json [--seed 42]
    python3 bench/peer/hf_embed.py --make-input OUT.jsonl --corpus corpus.jsonl.gz --rows N

Embedding, as `distilbert embed --pooling mean` does it: AutoTokenizer (the fast tokenizer of DIR) on all
texts at once, truncated to --max-length; rows sorted by length and cut into batches of at most
--batch-tokens real tokens (a longer row alone), each padded to its longest row; AutoModel.from_pretrained
(DIR, dtype=..., attn_implementation=...) under torch.inference_mode(); sentence-transformers' mean pooling
(sum of the hidden states where the mask is 1 over the clamped mask sum) in float32 on the device; the
vectors copied to the host and written in input order as {"embedding": [...]} with json.dumps.

Stages timed with time.perf_counter() (the device synchronized at each boundary): load (tokenizer and
model), read, tokenize, model (host ids to host vectors, pooling included), write; total is their sum.

--compare prints, over rows in order, the smallest cosine similarity between the two files' embeddings
and the largest relative L2 difference; exit code 1 when the smallest cosine is under --min-cosine.

--make-model writes a randomly initialized DistilBertModel of DistilBERT-base's shape (torch seed --seed)
with safetensors weights, the given tokenizer.json and a tokenizer_config.json (model_max_length 512,
lower case), which both `distilbert embed` and AutoTokenizer read. --make-input writes N rows of
{"text": ...} taken from the corpus's texts in turn.
"""
import argparse
import gzip
import json
import math
import os
import shutil
import sys
import time


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--model", help="a DistilBERT model directory with its tokenizer")
    p.add_argument("--input", help="JSONL, one {\"text\": ...} per line")
    p.add_argument("--output", help="JSONL to write, one {\"embedding\": [...]} per line")
    p.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    p.add_argument("--attn", choices=["sdpa", "eager"], default="sdpa")
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--batch-tokens", type=int, default=8192)
    p.add_argument("--normalize", action="store_true", help="scale each embedding to unit L2 norm")
    p.add_argument("--device", default="cuda")
    p.add_argument("--json", help="write the stage times here")
    p.add_argument("--compare", nargs=2, metavar=("OURS", "HF"))
    p.add_argument("--min-cosine", type=float, default=0.999)
    p.add_argument("--make-model", metavar="DIR")
    p.add_argument("--tokenizer", help="tokenizer.json for --make-model")
    p.add_argument("--tiny", action="store_true",
                   help="--make-model writes a 2-layer dim-64 model (rehearsals without a GPU) instead of DistilBERT-base")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--make-input", metavar="OUT")
    p.add_argument("--corpus", help="a JSONL(.gz) corpus with \"text\" keys, for --make-input")
    p.add_argument("--rows", type=int, default=20000)
    return p.parse_args(argv)


def batches(lengths, batch_tokens):
    """Row indices per batch: rows sorted by length (stably), cut at batch_tokens real tokens (LengthBatches.plan)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    out, start, tokens = [], 0, 0
    for i, row in enumerate(order):
        if i > start and tokens + lengths[row] > batch_tokens:
            out.append(order[start:i])
            start, tokens = i, 0
        tokens += lengths[row]
    if start < len(order):
        out.append(order[start:])
    return out


def embed(args):
    import torch
    from transformers import AutoModel, AutoTokenizer

    def sync():
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    times = {}
    t = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32
    if args.precision == "fp32":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    model = AutoModel.from_pretrained(args.model, dtype=dtype, attn_implementation=args.attn).to(args.device).eval()
    sync()
    times["load"] = time.perf_counter() - t

    t = time.perf_counter()
    with open(args.input, encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    times["read"] = time.perf_counter() - t

    t = time.perf_counter()
    ids = tokenizer(texts, truncation=True, max_length=args.max_length)["input_ids"]
    times["tokenize"] = time.perf_counter() - t

    t = time.perf_counter()
    vectors = [None] * len(ids)
    pad = tokenizer.pad_token_id or 0
    with torch.inference_mode():
        for rows in batches([len(r) for r in ids], args.batch_tokens):
            L = max(len(ids[r]) for r in rows)
            batch = torch.full((len(rows), L), pad, dtype=torch.long)
            mask = torch.zeros((len(rows), L), dtype=torch.long)
            for b, r in enumerate(rows):
                batch[b, :len(ids[r])] = torch.tensor(ids[r])
                mask[b, :len(ids[r])] = 1
            batch, mask = batch.to(args.device), mask.to(args.device)
            hidden = model(input_ids=batch, attention_mask=mask).last_hidden_state.float()
            m = mask.unsqueeze(-1).float()
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
            if args.normalize:
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
            host = pooled.cpu().numpy()
            for b, r in enumerate(rows):
                vectors[r] = host[b]
    sync()
    times["model"] = time.perf_counter() - t

    t = time.perf_counter()
    with open(args.output, "w", encoding="utf-8") as f:
        for v in vectors:
            f.write(json.dumps({"embedding": v.tolist()}) + "\n")
    times["write"] = time.perf_counter() - t
    times["total"] = sum(times.values())
    rows = len(texts)
    tokens = sum(len(r) for r in ids)
    report = {"rows": rows, "tokens": tokens, "precision": args.precision, "attn": args.attn,
              "max_length": args.max_length, "batch_tokens": args.batch_tokens, "seconds": times,
              "rows_per_s_total": rows / times["total"], "rows_per_s_without_load": rows / (times["total"] - times["load"]),
              "torch": torch.__version__, "transformers": __import__("transformers").__version__,
              "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"}
    print(json.dumps(report, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


def compare(ours_path, hf_path, min_cosine):
    worst_cos, worst_rel, n = 1.0, 0.0, 0
    with open(ours_path, encoding="utf-8") as a, open(hf_path, encoding="utf-8") as b:
        for i, (la, lb) in enumerate(zip(a, b)):
            x, y = json.loads(la)["embedding"], json.loads(lb)["embedding"]
            if len(x) != len(y):
                print(f"row {i + 1}: {len(x)} values against {len(y)}")
                return 1
            dot = sum(p * q for p, q in zip(x, y))
            nx, ny = math.sqrt(sum(p * p for p in x)), math.sqrt(sum(q * q for q in y))
            cos = dot / (nx * ny) if nx > 0 and ny > 0 else (1.0 if nx == ny else 0.0)
            diff = math.sqrt(sum((p - q) ** 2 for p, q in zip(x, y)))
            worst_cos, worst_rel = min(worst_cos, cos), max(worst_rel, diff / ny if ny > 0 else diff)
            n += 1
        if a.readline() or b.readline():
            print(f"the files differ in rows after row {n}")
            return 1
    print(f"{n} rows: smallest cosine {worst_cos:.7f}, largest relative L2 {worst_rel:.2e} (min cosine {min_cosine})")
    return 0 if worst_cos >= min_cosine else 1


def make_model(directory, tokenizer_json, seed, tiny=False):
    import torch
    from transformers import DistilBertConfig, DistilBertModel
    torch.manual_seed(seed)
    # DistilBERT-base: dim 768, 6 layers, 12 heads, vocab 30522; tiny keeps the vocabulary (the tokenizer's)
    config = DistilBertConfig(dim=64, n_layers=2, n_heads=4, hidden_dim=128) if tiny else DistilBertConfig()
    model = DistilBertModel(config)
    model.save_pretrained(directory, safe_serialization=True)
    shutil.copy(tokenizer_json, os.path.join(directory, "tokenizer.json"))
    with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "DistilBertTokenizer", "model_max_length": 512, "do_lower_case": True}, f)


def make_input(out, corpus, rows):
    opener = gzip.open if corpus.endswith(".gz") else open
    with opener(corpus, "rt", encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f if line.strip()]
    texts = [t for t in texts if t.strip()]
    with open(out, "w", encoding="utf-8") as f:
        for i in range(rows):
            f.write(json.dumps({"text": texts[i % len(texts)]}, ensure_ascii=False) + "\n")


def main(argv):
    args = parse_args(argv)
    if args.compare:
        return compare(args.compare[0], args.compare[1], args.min_cosine)
    if args.make_model:
        if not args.tokenizer:
            sys.exit("--make-model needs --tokenizer")
        make_model(args.make_model, args.tokenizer, args.seed, args.tiny)
        return 0
    if args.make_input:
        if not args.corpus:
            sys.exit("--make-input needs --corpus")
        make_input(args.make_input, args.corpus, args.rows)
        return 0
    if not (args.model and args.input and args.output):
        sys.exit("embedding needs --model, --input and --output (or --compare, --make-model, --make-input)")
    embed(args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
