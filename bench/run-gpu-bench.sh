#!/usr/bin/env bash
# End-to-end GPU inference, ours against HuggingFace transformers: GpuInferenceBench (DistilBERT-base
# sequence classification, host ids in, host logits out) and bench/peer/hf_inference.py (eager and sdpa)
# on the same random model and the same inputs, the device's ceilings (bench/peer/ceilings.py) and a
# logits check; writes gpu-inference-<yyyy-mm-dd>-<device>.md (bench/README.md, "GPU inference").
# The tarball ships this as bin/gpu-bench; it finds its Java runtime, jars, peer scripts, tokenizer and
# corpus from where it lies (the tarball, or a built repository).
#
#   bin/gpu-bench [--out DIR] [--work DIR] [--quick] [--budget S] [--precision LIST] [--batch LIST]
#                 [--length LIST] [--warmup N] [--iters N] [--seconds S] [--model DIR]
#                 [--random-size base|tiny] [--device cuda|cpu] [--python EXE] [--skip PARTS]
#   bin/gpu-bench harness ARGS...    GpuInferenceBench alone (bin/gpu-bench harness --help)
#   bin/gpu-bench peer ARGS...       bench/peer/hf_inference.py alone (--help; --check)
#   bin/gpu-bench ceilings ARGS...   bench/peer/ceilings.py alone
#   bin/gpu-bench report ARGS...     bench/peer/gpu_report.py alone (a report from a --work folder)
#
#   --out DIR       the report goes to DIR/gpu-inference-<date>-<device>.md and the raw files (JSON, logs,
#                   logits, the inputs' manifest) to DIR/raw/. Default: bench/results/ in the repository
#                   (report only), ./gpu-bench-results/ from the tarball
#   --work DIR      the random model, the inputs and the raw files; kept. Default: a temporary folder,
#                   removed at the end
#   --quick         batches 1,64, length 128, warmup 1, 3 timed calls: checks the pipeline (~2 minutes)
#   --budget S      seconds for everything (default 540): each part's time limit is cut to what is left,
#                   keeping 30 s for the check and the report; a part with under 15 s left is skipped
#   --precision     default bf16,fp32 (ours and both HF modes); --batch default 1,8,32,64,256,512;
#   --length        default 128,512; plus a length-mix case per batch size (the shipped parity corpus)
#   --warmup, --iters, --seconds   per case: default 2 warmup calls, 10 timed calls, at most 1.5 s of timing
#   --model DIR     an existing DistilBertForSequenceClassification directory instead of the random
#                   DistilBERT-base-uncased-shaped one (seed 42) written into the work folder
#   --random-size   tiny: a 2-layer dim-32 random model (pipeline checks)
#   --device cpu    ours on the CPU backend (fp32 only): the pipeline without a GPU
#   --skip PARTS    comma-separated parts not to run: ceilings, ours, eager, sdpa, check
#   --no-build      in the repository: use bench/target as it is (by default the bench module and what it
#                   depends on are built first, offline, when a JDK 25 is found)
#
# Parts, each in a process of its own under a time limit, in this order: nvidia-smi, ceilings, prepare
# (GpuInferenceBench --prepare-only: the random model and the inputs), ours, hf-eager, hf-sdpa, check
# (hf_inference.py --check), report. One that fails or runs out of time leaves the others running;
# the report lists every part with its exit code and shows the end of the log of each that failed.
# Exit code: 0 when every part ran and passed, 1 otherwise (the report is written either way), 2 for a
# bad command line.
set -uo pipefail
here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
help() { sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$(readlink -f "${BASH_SOURCE[0]}")"; }

# ---- where things are: the tarball (bin/gpu-bench) or the repository (bench/run-gpu-bench.sh) -----
if [ -x "$here/../runtime/bin/java" ]; then
  mode=tarball
  home=$(cd "$here/.." && pwd)
  java=$home/runtime/bin/java
  classpath="$home/bench/*:$home/lib/*"
  peer=$home/bench/peer
  tokenizer=$home/models/bert-base-uncased/tokenizer.json
  corpus=$home/data/parity-corpus.jsonl.gz
  default_out=$PWD/gpu-bench-results
else
  mode=repository
  home=$(cd "$here/.." && pwd)
  java=""
  classpath="$home/bench/target/bench.jar:$home/bench/target/lib/*"
  peer=$home/bench/peer
  tokenizer=$home/build/models/bert-base-uncased/tokenizer.json
  corpus=$home/tokenizer/src/test/resources/parity/corpus.jsonl.gz
  default_out=$home/bench/results
fi
python=${PYTHON:-python3}

find_java() { # the repository's JDK 25 (scripts/find-jdk.sh), once
  if [ -z "$java" ] && [ $mode = repository ]; then
    # shellcheck source=/dev/null
    . "$home/scripts/find-jdk.sh"
    if find_jdk25 2>/dev/null; then java=$JAVA_HOME/bin/java; else java=java; fi
  fi
}
harness() {
  find_java
  exec "$java" --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector ${DISTILBERT_JAVA_OPTS:-} \
    -cp "$classpath" distilbert.bench.GpuInferenceBench "$@"
}

case "${1:-}" in
  harness) shift; harness "$@" ;;
  peer) shift; exec "$python" "$peer/hf_inference.py" "$@" ;;
  ceilings) shift; exec "$python" "$peer/ceilings.py" "$@" ;;
  report) shift; exec "$python" "$peer/gpu_report.py" "$@" ;;
esac

# ---- options --------------------------------------------------------------------------------------
out="" work="" quick=false budget=540 precision=bf16,fp32 batch=1,8,32,64,256,512 length=128,512
warmup=2 iters=10 seconds=1.5 model="" random_size=base device=cuda skip="," build=true
args=("$@")
need() { [ $# -ge 2 ] && [ -n "$2" ] || { echo "gpu-bench: $1 needs a value" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
  case "$1" in
    --out) need "$@"; out=$2; shift ;;
    --work) need "$@"; work=$2; shift ;;
    --quick) quick=true ;;
    --budget) need "$@"; budget=$2; shift ;;
    --precision) need "$@"; precision=$2; shift ;;
    --batch) need "$@"; batch=$2; shift ;;
    --length) need "$@"; length=$2; shift ;;
    --warmup) need "$@"; warmup=$2; shift ;;
    --iters) need "$@"; iters=$2; shift ;;
    --seconds) need "$@"; seconds=$2; shift ;;
    --model) need "$@"; model=$2; shift ;;
    --random-size) need "$@"; random_size=$2; shift ;;
    --device) need "$@"; device=$2; shift ;;
    --python) need "$@"; python=$2; shift ;;
    --skip) need "$@"; skip=",$2,"; shift ;;
    --no-build) build=false ;;
    -h|--help) help; exit 0 ;;
    *) echo "gpu-bench: unknown argument '$1' (--help lists the options)" >&2; exit 2 ;;
  esac
  shift
done
case "$budget" in ''|*[!0-9]*) echo "gpu-bench: --budget takes whole seconds, not '$budget'" >&2; exit 2 ;; esac
case "$device" in cuda|cpu) ;; *) echo "gpu-bench: --device must be cuda or cpu" >&2; exit 2 ;; esac
if $quick; then
  batch=1,64; length=128; warmup=1; iters=3; seconds=0.5
  for a in "${args[@]}"; do case "$a" in --batch|--length|--warmup|--iters|--seconds)
    echo "gpu-bench: --quick sets --batch, --length, --warmup, --iters and --seconds; give either" >&2; exit 2 ;; esac; done
fi
ours_precision=$precision
if [ "$device" = cpu ]; then ours_precision=fp32; fi

keep=true
if [ -z "$work" ]; then work=$(mktemp -d "${TMPDIR:-/tmp}/gpu-bench.XXXXXX"); keep=false; fi
mkdir -p "$work" && work=$(cd "$work" && pwd) || { echo "gpu-bench: cannot create $work" >&2; exit 2; }
out=${out:-$default_out}
mkdir -p "$out" && out=$(cd "$out" && pwd) || { echo "gpu-bench: cannot create $out" >&2; exit 2; }
$keep || trap 'rm -rf "$work"' EXIT
date=$(date -u +%F)
: > "$work/parts.tsv"

# ---- parts ----------------------------------------------------------------------------------------
start=$SECONDS
reserve=30
have_timeout=false; command -v timeout >/dev/null 2>&1 && have_timeout=true
failed=0
# quote ARGS...: the command line as one could paste it into bash (quotes only where needed).
quote() {
  local a out=""
  for a in "$@"; do
    if [[ "$a" =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then out+="$a "; else out+="'${a//\'/\'\\\'\'}' "; fi
  done
  printf '%s' "${out% }"
}
# part NAME CAP CMD...: runs CMD with its output in $work/NAME.log, under min(CAP, what the budget has
# left) seconds; one line of parts.tsv: name, exit code (or "skipped"), seconds, log, command.
part() {
  local name=$1 cap=$2; shift 2
  local log=$work/$name.log cmd
  cmd=$(quote "$@")
  local left=$((budget - (SECONDS - start) - reserve))
  case "$name" in check|report) left=$((budget - (SECONDS - start))) ;; esac
  if [[ "$skip" == *",${name#hf-},"* ]]; then
    echo "skipped: --skip" > "$log"
    printf '%s\tskipped\t0\t%s\t%s\n' "$name" "$log" "$cmd" >> "$work/parts.tsv"
    echo "== $name: skipped (--skip)"; return 0
  fi
  if [ "$left" -lt 15 ]; then
    echo "skipped: the budget of $budget s had $left s left for it" > "$log"
    printf '%s\tout-of-time\t0\t%s\t%s\n' "$name" "$log" "$cmd" >> "$work/parts.tsv"
    echo "== $name: skipped (out of time)"; failed=$((failed + 1)); return 0
  fi
  local limit=$(( cap < left ? cap : left )) t0=$SECONDS rc
  echo "== $name (limit ${limit} s): $cmd"
  if $have_timeout; then timeout --kill-after=15 "$limit" "$@" > "$log" 2>&1; rc=$?
  else "$@" > "$log" 2>&1; rc=$?; fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - t0))" "$log" "$cmd" >> "$work/parts.tsv"
  if [ "$rc" -ne 0 ]; then
    failed=$((failed + 1))
    echo "   $name: exit code $rc$( [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && echo " (time limit)") after $((SECONDS - t0)) s; end of $log:"
    tail -n 5 "$log" | sed 's/^/   | /'
  else
    echo "   $name: done in $((SECONDS - t0)) s"
  fi
  return 0
}

if $quick; then caps=(60 120 150 120 120 60); else caps=(90 150 240 180 180 60); fi
echo "gpu-bench ($mode): work folder $work, results to $out, budget $budget s"
if command -v nvidia-smi >/dev/null 2>&1; then nvidia-smi > "$work/nvidia-smi.txt" 2>&1 || true; fi

part ceilings "${caps[0]}" "$python" "$peer/ceilings.py" --json "$work/ceilings.json" $($quick && echo --quick)

find_java
if [ $mode = repository ] && $build && [ -n "${JAVA_HOME:-}" ]; then
  echo "== building the bench module and what it depends on (offline)"
  (cd "$home" && ./dev mvn -o -q -pl bench -am install -DskipTests) || { echo "gpu-bench: the build failed" >&2; exit 1; }
fi
model_args=(--random-base "$work/model" --random-size "$random_size")
[ -n "$model" ] && model_args=(--model "$model")
model_dir=${model:-$work/model}
shared=(--batch "$batch" --length "$length" --mix "$corpus" --tokenizer "$tokenizer")
timing=(--warmup "$warmup" --iters "$iters" --seconds "$seconds")
jvm=("$java" --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector ${DISTILBERT_JAVA_OPTS:-}
     -cp "$classpath" distilbert.bench.GpuInferenceBench)
peaks=(); [ -s "$work/ceilings.json" ] && peaks=(--ceilings "$work/ceilings.json")

part prepare "${caps[1]}" "${jvm[@]}" "${model_args[@]}" "${shared[@]}" --inputs-out "$work/inputs" --prepare-only
if [ ! -f "$work/inputs/inputs.json" ]; then
  echo "   prepare wrote no inputs: ours and the peer have nothing to run"
fi
if [ -n "$model" ]; then ours_model=(--model "$model"); else ours_model=(--random-base "$work/model"); fi
part ours "${caps[2]}" "${jvm[@]}" "${ours_model[@]}" --device "$device" --precision "$ours_precision" "${shared[@]}" "${timing[@]}" \
  "${peaks[@]}" --logits-out "$work/ours-logits.safetensors" --json "$work/ours.json"
for attn in eager sdpa; do
  cap=${caps[3]}; [ $attn = sdpa ] && cap=${caps[4]}
  part "hf-$attn" "$cap" "$python" "$peer/hf_inference.py" --model "$model_dir" --inputs "$work/inputs" --attn "$attn" \
    --precision "$precision" "${timing[@]}" "${peaks[@]}" --logits-out "$work/hf-$attn-logits.safetensors" \
    --json "$work/hf-$attn.json"
done
part check "${caps[5]}" "$python" "$peer/hf_inference.py" --check --ours "$work/ours-logits.safetensors" \
  --hf "eager=$work/hf-eager-logits.safetensors" --hf "sdpa=$work/hf-sdpa-logits.safetensors" --json "$work/check.json"

# ---- report ---------------------------------------------------------------------------------------
report=""
if report=$("$python" "$peer/gpu_report.py" --work "$work" --out-dir "$out" --date "$date" 2> "$work/report.log"); then
  report=$(printf '%s\n' "$report" | tail -n 1)
else
  # No Python or a broken report: the parts and the ends of their logs, so that nothing is lost.
  report=$out/gpu-inference-$date-unknown.md
  {
    echo "# GPU inference, $date: the report script failed"
    echo
    echo "gpu_report.py failed (its log is below); the parts as the runner recorded them:"
    echo
    echo '```'
    cat "$work/parts.tsv"
    echo '```'
    for log in "$work"/*.log; do
      echo; echo "## ${log##*/}"; echo; echo '```'; tail -n 40 "$log"; echo '```'
    done
  } > "$report"
  failed=$((failed + 1))
fi
if [ "$out" != "$default_out" ] || [ $mode = tarball ]; then
  mkdir -p "$out/raw"
  for f in "$work"/*.json "$work"/*.log "$work"/*.safetensors "$work/parts.tsv" "$work/nvidia-smi.txt" "$work/inputs/inputs.json"; do
    [ -f "$f" ] && cp "$f" "$out/raw/"
  done
fi
echo "== wrote $report ($((SECONDS - start)) s)"
sed -n '/^## Target/,/^## Ratios/p' "$report" 2>/dev/null | sed '$d'
[ "$failed" -eq 0 ]
