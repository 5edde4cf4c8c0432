#!/usr/bin/env bash
# Semantic search on the CPU: distilbert's SemanticSearch (what `distilbert search` runs once the
# embeddings are there) against sentence-transformers' util.semantic_search on the same embeddings
# and machine; writes bench/results/search-cpu-<yyyy-mm-dd>-<host-kind>.md.
#
#   bench/run-search-bench.sh [--python PY] [--queries Q] [--corpus N] [--dim D] [--host-kind NAME] [--out FILE]
#
#   --python   a python3 with torch and sentence-transformers (default: python3)
#   Q, N, D    1000 queries, 100,000 corpus rows, 384 dims (all-MiniLM-L6-v2's) by default; top 10, cosine
#
# The peer (bench/peer/search_peer.py, torch on as many threads as the machine has cores) writes the
# embeddings and its hits; SearchBenchmark (JMH, the same cores) checks that its hits are the same,
# then times one whole search per operation. Builds the bench module first (offline).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
py=python3 queries=1000 corpus=100000 dim=384 host_kind="cpu$(nproc)" out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --python) py=$2; shift ;;
    --queries) queries=$2; shift ;;
    --corpus) corpus=$2; shift ;;
    --dim) dim=$2; shift ;;
    --host-kind) host_kind=$2; shift ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-search-bench: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
out=${out:-bench/results/search-cpu-$(date -u +%F)-$host_kind.md}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. scripts/find-jdk.sh
find_jdk25

echo "== building the bench module"
./dev mvn -o -q -pl bench -am install -DskipTests
threads=$(nproc)
peer_cmd="$py bench/peer/search_peer.py --out \$work --queries $queries --corpus $corpus --dim $dim --threads $threads"
echo "== peer: $peer_cmd"
"$py" bench/peer/search_peer.py --out "$work" --queries "$queries" --corpus "$corpus" --dim "$dim" --threads "$threads" > "$work/peer.json"
java_cmd="./dev bench SearchBenchmark -p dir=\$work -rf json -rff java.json"
echo "== ours: $java_cmd"
./dev bench SearchBenchmark -p dir="$work" -rf json -rff "$work/java.json" > "$work/java.log" 2>&1 || { cat "$work/java.log"; exit 1; }
same=$(grep -o "same hits as util.semantic_search.*" "$work/java.log" | head -n 1)

"$py" - "$work" "$out" "$peer_cmd" "$java_cmd" "$same" <<'PY'
import json, os, platform, subprocess, sys
work, out, peer_cmd, java_cmd, same = sys.argv[1:6]
peer = json.load(open(os.path.join(work, "peer.json")))
java = json.load(open(os.path.join(work, "java.json")))[0]
m = java["primaryMetric"]
ours, err = m["score"], m["scoreError"]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
jdk = subprocess.run([os.path.join(os.environ["JAVA_HOME"], "bin", "java"), "-version"], capture_output=True, text=True).stderr.splitlines()[1]
with open(out, "w") as f:
    f.write(f"""# Semantic search on the CPU: ours vs util.semantic_search ({os.path.basename(out)[11:-3]})

Written by `bench/run-search-bench.sh`. {peer['queries']} queries against {peer['corpus']} corpus rows of {peer['dim']} float32
values (random normal, fixed seed), top 10 by cosine similarity: one operation is one whole search, the
embeddings already in memory. Ours is `distilbert.model.SemanticSearch` (what `distilbert search` runs
after embedding: float32 matrix products of 256-query by 32,768-row chunks on the CPU backend's
vectorised kernel, a bounded heap per query); the peer is sentence-transformers {peer['sentence_transformers']}'s
`util.semantic_search` on torch {peer['torch']} (torch.mm and torch.topk over 100-query by 500,000-row chunks).

| | |
| --- | --- |
| CPU | {cpu}, {os.cpu_count()} cores |
| JDK | {jdk} |
| threads | {peer['threads']} (torch.set_num_threads; our fork-join pool has one per core) |

Commands (after building `bench`; `$work` holds the embeddings the peer wrote):

```
{peer_cmd}
{java_cmd}
```

Same computation: {same} (the corpus ids wherever the peer's neighbouring scores are more than 1e-6 apart,
and every score within 1e-5).

| | ms per search | |
| --- | ---: | --- |
| ours (JMH, warmup 3 × 5 s, 5 × 5 s) | {ours:.1f} ± {err:.1f} | 99.9% interval |
| util.semantic_search (median of {len(peer['ms'])}, after a warm-up call) | {peer['median_ms']:.1f} | runs: {', '.join(f'{t:.1f}' for t in peer['ms'])} |
| **ratio** (peer / ours) | **{peer['median_ms'] / ours:.2f}×** | above 1: ours is faster |
""")
print(open(out).read())
PY
