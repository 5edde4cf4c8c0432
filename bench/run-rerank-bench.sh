#!/usr/bin/env bash
# Reranking on the CPU: `distilbert rerank` against sentence-transformers' CrossEncoder.rank on the
# same cross-encoder (distilbert-base-uncased's shape, random weights), lines and machine; writes
# bench/results/rerank-cpu-<yyyy-mm-dd>-<host-kind>.md.
#
#   bench/run-rerank-bench.sh [--python PY] [--queries Q] [--documents D] [--repeats R] [--host-kind NAME] [--out FILE]
#
#   --python   a python3 with torch and sentence-transformers (default: python3)
#   Q, D       8 queries of 16 documents (40 to 120 words each) by default; R = 3 timed runs per side
#
# The peer (bench/peer/rerank_peer.py, torch on as many threads as the machine has cores) writes the
# model directory and the lines, and times CrossEncoder.rank in-process after a warm-up. Ours is timed
# as a user runs it: the whole command (JVM start, model load, every line), and the same command on
# one line of one short document, whose time is the fixed cost; the difference is the reranking.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
py=python3 queries=8 documents=16 repeats=3 host_kind="cpu$(nproc)" out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --python) py=$2; shift ;;
    --queries) queries=$2; shift ;;
    --documents) documents=$2; shift ;;
    --repeats) repeats=$2; shift ;;
    --host-kind) host_kind=$2; shift ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-rerank-bench: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
out=${out:-bench/results/rerank-cpu-$(date -u +%F)-$host_kind.md}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -d build/models/bert-base-uncased ] || ./dev mvn -o -q -pl tests generate-test-resources
./distilbert --version > /dev/null   # builds the launcher's jars on first use
threads=$(nproc)
peer_cmd="$py bench/peer/rerank_peer.py --out \$work --tokenizer build/models/bert-base-uncased --queries $queries --documents $documents --threads $threads --repeats $repeats"
echo "== peer: $peer_cmd"
"$py" bench/peer/rerank_peer.py --out "$work" --tokenizer build/models/bert-base-uncased --queries "$queries" \
  --documents "$documents" --threads "$threads" --repeats "$repeats" > "$work/peer.json" 2> "$work/peer.log" \
  || { cat "$work/peer.log"; exit 1; }
ours_cmd="./distilbert rerank --model \$work/cross-encoder --device cpu --input \$work/lines.jsonl --output \$work/ours.jsonl"
echo "== ours: $ours_cmd"
echo '{"query": "a", "documents": ["b"]}' > "$work/one.jsonl"
: > "$work/ours.times"
for i in $(seq 0 "$repeats"); do    # run 0 warms the file cache
  for input in lines one; do
    t0=$(date +%s.%N)
    ./distilbert rerank --model "$work/cross-encoder" --device cpu --input "$work/$input.jsonl" --output "$work/ours-$input.jsonl" 2> "$work/ours.log" \
      || { cat "$work/ours.log"; exit 1; }
    t1=$(date +%s.%N)
    [ "$i" = 0 ] || echo "$input $(echo "$t1 - $t0" | bc)" >> "$work/ours.times"
  done
done

# steady state: the same pairs through `distilbert bench --input` (the encoder over the commands' batches, after
# the JIT's warm-up; the one-label head is a 768-value dot product per pair)
"$py" -c "
import json, sys
with open(sys.argv[2], 'w') as f:
    for l in open(sys.argv[1]):
        o = json.loads(l)
        for d in o['documents']: f.write(json.dumps({'text': o['query'], 'text_pair': d}) + '\\n')
" "$work/lines.jsonl" "$work/pairs.jsonl"
bench_cmd="./distilbert bench --model \$work/cross-encoder --device cpu --input \$work/pairs.jsonl --batch 1 --length 8 --seconds 30 --json"
echo "== ours, steady state: $bench_cmd"
./distilbert bench --model "$work/cross-encoder" --device cpu --input "$work/pairs.jsonl" --batch 1 --length 8 --seconds 30 \
  --json --output "$work/bench.json" 2> "$work/bench.log" || { cat "$work/bench.log"; exit 1; }

"$py" - "$work" "$out" "$peer_cmd" "$ours_cmd" "$bench_cmd" <<'PY'
import json, os, platform, statistics, subprocess, sys
work, out, peer_cmd, ours_cmd, bench_cmd = sys.argv[1:6]
steady = [json.loads(l) for l in open(os.path.join(work, "bench.json")) if l.strip()]
steady = next(c for c in steady if c.get("case") == "input")
peer = json.load(open(os.path.join(work, "peer.json")))
want = json.load(open(os.path.join(work, "rankings.json")))
got = [json.loads(l)["hits"] for l in open(os.path.join(work, "ours-lines.jsonl"))]
worst, swaps = 0.0, 0
for w, g in zip(want, got):
    ours = {h["corpus_id"]: h["score"] for h in g}
    worst = max(worst, max(abs(ours[h["corpus_id"]] - h["score"]) for h in w))
    for k, (a, b) in enumerate(zip(w, g)):
        if a["corpus_id"] != b["corpus_id"]:
            close = any(abs(a["score"] - w[j]["score"]) <= 2e-6 for j in (k - 1, k + 1) if 0 <= j < len(w))
            swaps += 0 if close else 1
times = {"lines": [], "one": []}
for l in open(os.path.join(work, "ours.times")):
    kind, t = l.split()
    times[kind].append(float(t))
whole, fixed = statistics.median(times["lines"]), statistics.median(times["one"])
ours = whole - fixed
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
version = subprocess.run(["./distilbert", "--version"], capture_output=True, text=True).stdout.strip().splitlines()[0]
pairs, tokens = peer["pairs"], peer["tokens"]
with open(out, "w") as f:
    f.write(f"""# Reranking on the CPU: `distilbert rerank` vs CrossEncoder.rank ({os.path.basename(out)[11:-3]})

Written by `bench/run-rerank-bench.sh`. A cross-encoder of distilbert-base-uncased's shape (dim 768,
6 layers, 12 heads, FFN 3072; one label; random weights, which do not change the speed) with
bert-base-uncased's tokenizer, saved by `CrossEncoder.save`; {pairs // len(want)} documents of 40 to 120
words for each of {len(want)} queries: {pairs} (query, document) pairs, {tokens} tokens. The peer is
sentence-transformers {peer['sentence_transformers']}'s `CrossEncoder.rank` (batch_size 32) on torch
{peer['torch']}, transformers {peer['transformers']}, timed in-process after a warm-up; ours is
`{version}` timed as a user runs it, minus the time of the same command on one line of one short
document (JVM start and model load: {fixed:.2f} s), so that both sides count the reranking alone.

| | |
| --- | --- |
| CPU | {cpu}, {os.cpu_count()} cores |
| threads | {peer['threads']} (torch.set_num_threads; ours: one per core) |

Commands (`$work` holds the model and the lines the peer wrote):

```
{peer_cmd}
{ours_cmd}
{bench_cmd}
```

Same rankings: largest score difference {worst:.2e}; {swaps} documents out of place where the peer's
neighbouring scores are more than 2e-6 apart.

| | median of {len(times['lines'])} | pairs/s | tokens/s |
| --- | --- | --- | --- |
| CrossEncoder.rank (peer) | {peer['median_s']:.2f} s (runs: {', '.join(f'{t:.2f}' for t in peer['times_s'])}) | {pairs / peer['median_s']:.1f} | {tokens / peer['median_s']:.0f} |
| distilbert rerank, whole command | {whole:.2f} s (runs: {', '.join(f'{t:.2f}' for t in times['lines'])}) | | |
| distilbert rerank, minus the fixed cost | {ours:.2f} s | {pairs / ours:.1f} | {tokens / ours:.0f} |
| distilbert bench --input, the same pairs after warm-up (median of {steady['calls']} calls) | {steady['median_ms'] / 1000:.2f} s | {pairs / (steady['median_ms'] / 1000):.1f} | {tokens / (steady['median_ms'] / 1000):.0f} |

**Ratio (peer time / ours): {peer['median_s'] / ours:.2f}x** for the reranking as one command runs it (its JIT
warming up on these 128 pairs); **{peer['median_s'] / (steady['median_ms'] / 1000):.2f}x** warmed up, as a
long run or a `--serve` process runs; {peer['median_s'] / whole:.2f}x against our whole command (JVM start and
model load included, which the peer's in-process time leaves out).
""")
print(open(out).read())
PY
