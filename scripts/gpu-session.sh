#!/usr/bin/env bash
# The GPU work of a session in ONE call of the device tool, on the GPU machine, from the repository root.
#
#   scripts/gpu-session.sh [--out DIR] [--budget S] [--cpu] STEP|PLAN...
#   scripts/gpu-session.sh --preflight [CARRY...]     here, before the call: what would travel, and its size
#   scripts/gpu-session.sh --collect FILES_AT          here, after the call: unpack what came back into
#                                                      build/gpu-session/, file the benchmark report and
#                                                      the kernel table under bench/results/
#
# The lease this is sized for: 15 minutes of device time for a whole session, machine start (a minute or
# two) and idle time included, at most 10 minutes a command; at most 8 files come back from $OUT, each
# under 16 MiB, no more than 2 folders down. So one call runs the plan `first` under --budget (default
# 540 s; give the call timeout_s 600), and writes only four files to $OUT, refreshed after every step, so
# that a call cut off at its limit still returns all that was done:
#   OUT/summary.md            one section a step: status, seconds, its key result (tests, failures, ratios)
#   OUT/session.log           everything printed
#   OUT/results.tar.gz        the work folder: logs, JUnit XML, pipeline outputs, benchmark JSON and report
#                             (no model weights)
#   OUT/gpu-inference.md      the benchmark's report, once the bench step has written it
#
# The call (build first: ./dev dist && ./dev build; then scripts/gpu-session.sh --preflight):
#   run(carry=["dist/distilbert-0.1.0-SNAPSHOT-linux-x86_64.tar.gz", "tests/target/test-classes"],
#       timeout_s=600, command="scripts/gpu-session.sh --out $OUT first")
#
# Steps run in the order given; each gets min(its cap, what the budget has left less 15 s for packing)
# and is skipped, saying so, when under 20 s are left. Plans:
#   first  probe test pipelines bench train kernels sanitize embed attention   (in order of value: whatever
#          the budget does not reach is skipped and listed)
#   all    probe golden test pipelines bench train kernels sanitize embed attention
# Steps:
#   probe     nvidia-smi, python3/torch/transformers versions, our own GPU probe (info --device), tools
#   golden    tests/golden/make_golden.py -> WORK/golden (the committed files are in tests/src/test/
#             resources/golden; this regenerates them with the machine's transformers), copied into
#             tests/target/test-classes/golden for the test step
#   test      bin/gpu-test (every CUDA op and whole models vs the CPU, the bridge, cuBLAS; cap 180 s), then
#             the tests module's golden tests (CPU and CUDA vs every HF golden case; cap 90 s), and CUDA vs
#             CPU on MiniLM when MINILM_DIR names a converted directory
#   pipelines score, fill-mask, ner, qa, multiple-choice and zero-shot on the golden pipeline models:
#             --device cuda --precision fp32
#             against --device cpu (scripts/compare-pipelines.py, 1e-4), and bf16 (reported, not failed:
#             labels of near-equal scores may swap); cap 90 s
#   bench     bin/gpu-bench (ours vs HF eager and SDPA on random DistilBERT-base weights, the ceilings, MFU,
#             the logits check, the report); cap 200 s, batches 1,64,256, L 128 and 512 and the length
#             mix, bf16 and fp32 (GPU_BENCH_ARGS adds to or overrides those)
#   train     fine-tuning: `distilbert train --device cuda` (TRAIN_PRECISIONS: fp32 tf32 bf16; fp16 too when
#             named) against bench/train-peer.py
#             --device cuda (HF's model, torch AdamW, the same batches' shapes; --tf32, --bf16 as HF's) on a random DistilBERT-base with
#             a new 2-label head, TRAIN_ROWS (2048) parity-corpus rows cut to 128 tokens, batch 32,
#             TRAIN_STEPS (40) steps; samples/s and tokens/s and the ratio; cap 50 s a run
#   kernels   KernelBenchmark (JMH): each op of a layer alone at DistilBERT-base shapes (T 8192 = 64 x 128),
#             bf16 and fp32, the SIMT attention kernel beside the tensor-core one; bench/peer/kernel_report.py
#             puts µs, GB/s and TFLOP/s beside the bench step's measured ceilings -> kernels/kernels.md;
#             the training ops too; cap 150 s
#   sanitize  compute-sanitizer: memcheck over the op parity tests (training's too), then racecheck and initcheck over the
#             attention tests; each capped at 90 s
#   attention the two attention kernels A/B (-Ddistilbert.attention=simt vs tensor-cores): bf16
#             DistilBERT-base, batch 64, L 128 and 512, whole forwards with the per-op breakdown; cap 150 s
#   embed     `distilbert embed` end to end (JVM start, load, read, tokenize, GPU, pooling, JSON out)
#             against bench/peer/hf_embed.py (transformers, SDPA, the same batching and mean pooling) on a
#             random DistilBERT-base (EMBED_SIZE=tiny: 2 layers, dim 64) and EMBED_ROWS (20000)
#             parity-corpus rows cut to 256 tokens, EMBED_PRECISIONS (bf16 fp32); cosine of every row
#             against HF; then --device cuda:0,0, `embed --serve` under bench/serve-load.py (64 clients of
#             one row, 16 of 32 rows; answers against embed's own lines), --format npy, `distilbert bench`;
#             cap 180 s
#
#   --cpu     a rehearsal on a machine without a GPU: the same steps and files, with the GPU tests
#             skipping, pipelines CPU against CPU, bench and attention on a tiny model on the CPU
#             (PYTHON=EXE names a python3 with torch and transformers, or their stand-ins), embed on
#             EMBED_ROWS (200) rows of a tiny model (EMBED_SIZE=base for DistilBERT-base), fp32;
#             dist/check-dist.sh runs it
#   --emulated  a rehearsal on the stand-in driver and cuBLAS with the kernels run by the kernel emulator
#             (kernels-cu/target/cmake/{fake-cuda,emu}, which ./dev build makes): probe, test and pipelines
#             exactly as on a GPU (--device cuda, the GPU tests required to pass, CUDA against the CPU);
#             bench, kernels, sanitize, attention and embed say they are not run (timing needs a GPU);
#             dist/check-dist.sh runs it
# Exit code: 0 when every step that ran passed, 1 otherwise, 2 for a bad command line.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
help() { sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; }

# ---- here, before and after the call ---------------------------------------------------------------
preflight() { # the device tool sends tracked files, untracked files git does not ignore, and the carry
  local limit=$((64 * 1024 * 1024)) tree carried=0 p size stale=""
  local carry=("$@")
  [ ${#carry[@]} -gt 0 ] || carry=("$(ls dist/distilbert-*-linux-x86_64.tar.gz 2>/dev/null | head -n 1)" tests/target/test-classes)
  tree=$( { git ls-files -z; git ls-files -z -o --exclude-standard; } | xargs -0 -r stat -c %s -- 2>/dev/null \
    | awk '{s += $1} END {print s + 0}')
  for p in "${carry[@]}"; do
    [ -e "$p" ] || { echo "preflight: carry path '$p' is missing (./dev dist && ./dev build)" >&2; return 1; }
    size=$(du -sb "$p" | cut -f1); carried=$((carried + size))
    printf '  carry %-60s %6.1f MiB\n' "$p" "$(echo "$size / 1048576" | bc -l)"
  done
  printf '  working tree (tracked + untracked, not ignored) %6.1f MiB\n' "$(echo "$tree / 1048576" | bc -l)"
  printf '  total %.1f MiB of %d MiB\n' "$(echo "($tree + $carried) / 1048576" | bc -l)" 64
  local tarball=${carry[0]}
  case "$tarball" in *.tar.gz)
    stale=$(git ls-files -- '*/src/main/*' kernels-cu CMakeLists.txt dist/src bench/peer \
      | while read -r f; do [ "$f" -nt "$tarball" ] && echo "$f"; done | head -n 3)
    [ -z "$stale" ] || { echo "preflight: sources newer than $tarball (rebuild it with ./dev dist):" >&2; echo "$stale" | sed 's/^/  /' >&2; return 1; } ;;
  esac
  [ $((tree + carried)) -le $limit ] || { echo "preflight: over the device tool's 64 MiB" >&2; return 1; }
  echo "preflight: ok"
}
collect() { # unpack what came back into build/gpu-session/<time>/, file the reports, show the summary
  local from=$1 to report device
  [ -f "$from/results.tar.gz" ] || { echo "collect: no results.tar.gz in $from" >&2; return 1; }
  to=$root/build/gpu-session/$(date -u +%Y%m%d-%H%M%S)
  mkdir -p "$to" && tar -xzf "$from/results.tar.gz" -C "$to" && cp "$from"/*.md "$from"/*.log "$to/" 2>/dev/null
  echo "collect: unpacked into $to"
  # the benchmark's report under its own name (gpu-inference-<date>-<device>.md), and the kernel table beside it
  report=$(ls "$to"/bench/gpu-inference-*-*.md 2>/dev/null | head -n 1)
  if [ -n "$report" ]; then
    cp "$report" "$root/bench/results/" && echo "collect: bench/results/$(basename "$report")"
    device=$(basename "$report" .md); device=${device#gpu-inference-}
    if [ -f "$to/kernels/kernels.md" ]; then
      cp "$to/kernels/kernels.md" "$root/bench/results/kernels-$device.md" && echo "collect: bench/results/kernels-$device.md"
    fi
  fi
  # fine-tuning against HF: the table, and the raw JSON of both sides beside it
  if [ -f "$to/train/summary.md" ]; then
    local name=gpu-train-${device:-$(date -u +%Y-%m-%d)}
    { echo "# Fine-tuning on the GPU: distilbert train vs HF (scripts/gpu-session.sh train)"; echo
      echo "Device and driver (the session's probe):"; echo
      grep -m 4 -E "NVIDIA|[Dd]river|CUDA" "$to/summary.md" | sed 's/^/    /'; echo
      echo "Commands: \`distilbert train --device cuda --precision P --batch-size 32 --max-steps \$TRAIN_STEPS --max-length 128\`"
      echo "against \`bench/train-peer.py --device cuda [--tf32|--bf16|--fp16] --batch-size 32 --max-steps \$TRAIN_STEPS --max-length 128\`"
      echo "on a random DistilBERT-base with a new 2-label head (step_train in scripts/gpu-session.sh)."; echo
      echo "Raw numbers: the JSON lines below (train_results.json of ours, bench/train-peer.py's output for HF)."; echo
      cat "$to/train/summary.md"; echo
      for f in "$to"/train/*.json; do echo "- $(basename "$f"): $(tr -d '\n' < "$f" | cut -c1-600)"; done
    } > "$root/bench/results/$name.md" && echo "collect: bench/results/$name.md"
  fi
  cat "$to/summary.md" 2>/dev/null
}
case "${1:-}" in
  --preflight) shift; preflight "$@"; exit ;;
  --collect) [ $# -eq 2 ] || { echo "usage: gpu-session.sh --collect FILES_AT" >&2; exit 2; }; collect "$2"; exit ;;
esac

# ---- the command line ------------------------------------------------------------------------------
out=${OUT:-$root/build/gpu-session/out} budget=540 cpu=false emulated=false steps=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || { echo "gpu-session: --out needs a folder" >&2; exit 2; }; out=$2; shift ;;
    --budget) [ $# -ge 2 ] || { echo "gpu-session: --budget needs seconds" >&2; exit 2; }; budget=$2; shift ;;
    --cpu) cpu=true ;;
    --emulated) emulated=true ;;
    -h|--help) help; exit 0 ;;
    probe|golden|test|sanitize|pipelines|bench|train|kernels|attention|embed) steps+=("$1") ;;
    first) steps+=(probe test pipelines bench train kernels sanitize embed attention) ;;
    all) steps+=(probe golden test pipelines bench train kernels sanitize embed attention) ;;
    *) echo "gpu-session: unknown step '$1' (probe, golden, test, pipelines, bench, train, kernels, sanitize, attention, embed; plans first, all)" >&2; exit 2 ;;
  esac
  shift
done
[ ${#steps[@]} -gt 0 ] || { echo "gpu-session: name a step or a plan (first, all); --help" >&2; exit 2; }
case "$budget" in ''|*[!0-9]*) echo "gpu-session: --budget takes whole seconds, not '$budget'" >&2; exit 2 ;; esac
if $emulated; then
  $cpu && { echo "gpu-session: --cpu or --emulated, not both" >&2; exit 2; }
  . "$root/scripts/emu-env.sh" || exit 2
fi

mkdir -p "$out" && out=$(cd "$out" && pwd) || { echo "gpu-session: cannot create $out" >&2; exit 2; }
work=${GPU_SESSION_WORK:-/tmp/dbc-session}   # everything; packed into OUT/results.tar.gz
scratch=/tmp/dbc-scratch                      # model weights and inputs: never packed
rm -rf "$work" && mkdir -p "$work" "$scratch"
exec > >(tee -a "$out/session.log") 2>&1
start=$SECONDS reserve=15
py=${PYTHON:-python3}
dev=cuda; $cpu && dev=cpu
log() { printf '\n== %s (+%d s)  %s\n' "$(date -u +%H:%M:%S)" "$((SECONDS - start))" "$*"; }
left() { echo $((budget - (SECONDS - start) - reserve)); }
# bounded CAP CMD...: CMD under min(CAP, what is left) seconds; 124 when that limit stopped it
bounded() {
  local cap=$1 l; shift; l=$(left)
  [ "$l" -lt "$cap" ] && cap=$l
  [ "$cap" -ge 5 ] || return 124
  timeout --kill-after=10 "$cap" "$@"
}

summary=$work/summary.md
{
  echo "# GPU session $(date -u +%F' '%H:%M' UTC')"
  echo
  echo "Steps asked: ${steps[*]}; budget $budget s$($cpu && echo '; --cpu rehearsal (no GPU)')$($emulated && echo '; --emulated rehearsal (stand-in driver, kernels emulated on the host: no GPU)')."
  echo "Everything below is also in results.tar.gz (unpack with scripts/gpu-session.sh --collect FILES_AT)."
} > "$summary"
say() { printf '%s\n' "$@" >> "$summary"; }
block() { echo '```' >> "$summary"; cat >> "$summary"; echo '```' >> "$summary"; }
pack() { # refreshes OUT's files; atomic, so that a call cut off mid-pack still has the previous ones
  cp "$summary" "$out/summary.md.tmp" && mv "$out/summary.md.tmp" "$out/summary.md"
  [ -f "$work/bench/gpu-inference.md" ] && cp "$work/bench/gpu-inference.md" "$out/gpu-inference.md"
  tar -czf "$out/results.tar.gz.tmp" -C "$work" . 2>/dev/null && mv "$out/results.tar.gz.tmp" "$out/results.tar.gz"
}
# junit_summary LOG: from JUnit's --details=testfeed (a line per test as it starts and ends, so that a
# run cut off by its time limit still shows how far it got): the counts, each failure with its message
# (the tests' own lines, such as where the error is) but not its stack frames, the first few aborted
# tests with their reason, and the tests still running when the log ends; at most 100 lines
junit_summary() {
  awk '
    / :: STARTED$/ { n = $0; sub(/ :: STARTED$/, "", n); running[n] = 1; show = 0; next }
    / :: (SUCCESSFUL|FAILED|ABORTED|SKIPPED)/ {
      n = $0; sub(/ :: [A-Z]+.*$/, "", n); delete running[n]
      st = $0; sub(/^.* :: /, "", st); split(st, w, " "); count[w[1]]++
      show = 0
      if (w[1] == "FAILED" || (w[1] == "ABORTED" && aborted++ < 3)) { if (shown++ < 25) { print; show = 1; lines = 0 } }
      next
    }
    show && /^\t\tat / { next }
    show && /^\t/ { if (lines++ < 6) print; next }
    { show = 0 }
    /^\[ +[0-9]+ tests (successful|failed|aborted|skipped)/ { final = final $0 "\n" }
    END {
      if (final != "") printf "%s", final
      else printf "(no JUnit summary: the run was cut off) so far: %d successful, %d failed, %d aborted, %d skipped\n", count["SUCCESSFUL"], count["FAILED"], count["ABORTED"], count["SKIPPED"]
      if (aborted > 3) printf "(%d aborted in all)\n", aborted
      for (n in running) print "still running when the log ends: " n
    }' "$1" | head -n 100
}

tarball=${DISTILBERT_TARBALL:-$(ls dist/distilbert-*-linux-x86_64.tar.gz 2>/dev/null | head -n 1)}
[ -n "$tarball" ] || { echo "gpu-session: no dist/distilbert-*-linux-x86_64.tar.gz: build it with ./dev dist and carry it" >&2; exit 1; }
home=/tmp/dbc/$(basename "$tarball" -linux-x86_64.tar.gz)
if [ ! -x "$home/bin/distilbert" ] || [ "$tarball" -nt "$home/bin/distilbert" ]; then
  rm -rf "$home" && mkdir -p /tmp/dbc && tar -xzf "$tarball" -C /tmp/dbc || { echo "gpu-session: cannot unpack $tarball" >&2; exit 1; }
fi
# a JVM that crashes in native code (a CUDA or cuBLAS call) leaves its report in the results, not in the tree
export DISTILBERT_JAVA_OPTS="${DISTILBERT_JAVA_OPTS:-} -XX:ErrorFile=$work/hs_err_pid%p.log"
java=("$home/runtime/bin/java" -Xss4m --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector $DISTILBERT_JAVA_OPTS)
requireGpu=true; $cpu && requireGpu=false
golden=tests/target/test-classes/golden
status=0 ran=() skipped=()

# ---- the steps ---------------------------------------------------------------------------------------
step_probe() {
  { nvidia-smi 2>&1 || echo "no nvidia-smi"; } > "$work/nvidia-smi.txt"
  "$py" -c 'import sys, torch, transformers; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__)' > "$work/python.txt" 2>&1
  bounded 60 "$home/bin/distilbert" info --device > "$work/info-device.txt" 2>&1
  if grep -q "no_cublas" "$work/info-device.txt" && [ -z "${DISTILBERT_CUBLAS_DIR:-}" ]; then
    # no cuBLAS on the loader's path nor in a toolkit folder: PyTorch's own (the nvidia-cublas wheel)
    local dir
    dir=$("$py" - <<'PY' 2>/dev/null
import glob, os, site, sys
for root in site.getsitepackages() + [site.getusersitepackages()]:
    for d in sorted(glob.glob(os.path.join(root, "nvidia", "*", "lib")) + glob.glob(os.path.join(root, "nvidia", "*", "*", "lib"))):
        if glob.glob(os.path.join(d, "libcublas.so.1[23]")) and glob.glob(os.path.join(d, "libcublasLt.so.1[23]")):
            print(d); sys.exit()
PY
)
    if [ -n "$dir" ]; then
      export DISTILBERT_CUBLAS_DIR=$dir
      echo "cuBLAS not on the library path: using PyTorch's, DISTILBERT_CUBLAS_DIR=$dir" | tee -a "$work/tools.txt"
      bounded 60 "$home/bin/distilbert" info --device > "$work/info-device.txt" 2>&1
    fi
  fi
  { command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null || echo "no compute-sanitizer"; } >> "$work/tools.txt"
  cat "$work/nvidia-smi.txt" "$work/python.txt" "$work/info-device.txt" "$work/tools.txt"
  { grep -E "Driver Version|NVIDIA H|MiB" "$work/nvidia-smi.txt" | head -n 3; cat "$work/python.txt" "$work/info-device.txt" "$work/tools.txt"; } | block
  if $cpu; then return 0; fi
  grep -q "^GPU: usable" "$work/info-device.txt"
}

step_golden() {
  bounded 240 "$py" tests/golden/make_golden.py --out "$work/golden" > "$work/golden.log" 2>&1; local rc=$?
  tail -n 5 "$work/golden.log"; tail -n 5 "$work/golden.log" | block
  if [ -f "$work/golden/index.json" ] && [ -d tests/target/test-classes ]; then
    rm -rf "$golden" && cp -r "$work/golden" "$golden"
  fi
  return $rc
}

step_test() {
  local rc=0
  bounded 180 "$home/bin/gpu-test" $($cpu && echo --no-require-gpu) --reports-dir "$work/gpu-test" --details=testfeed \
    > "$work/gpu-test.log" 2>&1 || rc=1
  tail -n 40 "$work/gpu-test.log"
  { echo "bin/gpu-test:"; junit_summary "$work/gpu-test.log"; } | block
  if [ -d tests/target/test-classes ]; then
    bounded 90 "${java[@]}" -Ddistilbert.requireGpu=$requireGpu ${MINILM_DIR:+-Ddistilbert.minilm.dir=$MINILM_DIR} \
      -Ddistilbert.corpus="$home/data/parity-corpus.jsonl.gz" \
      -cp "tests/target/test-classes:$home/test/*:$home/lib/*" org.junit.platform.console.ConsoleLauncher execute \
      --disable-banner --disable-ansi-colors --details=testfeed --reports-dir "$work/gpu-test-tests" \
      --scan-class-path tests/target/test-classes --include-classname '.*(GoldenParityTest|CudaMiniLmParityTest)' \
      > "$work/gpu-test-tests.log" 2>&1 || rc=1
    tail -n 30 "$work/gpu-test-tests.log"
    { echo "golden tests (CPU and CUDA vs HF), MiniLM:"; junit_summary "$work/gpu-test-tests.log"; } | block
  else
    say "no tests/target/test-classes: the golden tests did not run (carry it)"; rc=1
  fi
  return $rc
}

step_pipelines() {
  [ -f "$golden/index.json" ] || { say "no $golden/index.json (carry tests/target/test-classes)"; return 1; }
  local d=$work/pipelines rc=0 case args line
  mkdir -p "$d"
  "$py" - "$golden" "$d" <<'PY' || return 1
import json, os, sys
golden, out = sys.argv[1], sys.argv[2]
runs = []
for c in json.load(open(os.path.join(golden, "index.json"))).get("pipelines", []):
    e = json.load(open(os.path.join(golden, c["case"], "expected.json")))
    task = c["task"]
    if task == "text-classification":
        rows = [{"text": t} for t in e["texts"]] + [{"text": a, "text_pair": b} for a, b in e["pairs"]]
        args = "score --top-k all --logits"
    elif task == "fill-mask":
        rows, args = [{"text": t} for t in e["texts"]], "fill-mask --top-k 5"
    elif task == "token-classification":
        rows, args = [{"text": t} for t in e["texts"]], "ner --aggregation simple"
    elif task == "question-answering":
        rows, args = e["inputs"], "qa --top-k 3"
    elif task == "multiple-choice":
        rows, args = [{"prompt": q["prompt"], "choices": q["choices"]} for q in e["questions"]], "multiple-choice --logits"
    elif task == "zero-shot-classification":
        first = e["runs"][0]
        rows, args = [{"text": t, "candidate_labels": first["candidate_labels"]} for t in first["texts"]], "zero-shot --logits"
    else:
        continue
    with open(os.path.join(out, c["case"] + ".jsonl"), "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    runs.append(c["case"] + " " + args)
open(os.path.join(out, "runs.txt"), "w").write("\n".join(runs) + "\n")
PY
  : > "$d/compare.txt"
  while read -r case args; do
    [ -n "$case" ] || continue
    for run in "cpu fp32" "$dev fp32" "$dev bf16"; do
      set -- $run
      [ "$1 $2" = "cpu bf16" ] && continue   # the CPU backend is float32 only
      [ -f "$d/$case.$1-$2.jsonl" ] && continue
      # shellcheck disable=SC2086
      bounded 60 "$home/bin/distilbert" $args --model "$golden/$case" --device "$1" --precision "$2" --input "$d/$case.jsonl" \
        --output "$d/$case.$1-$2.jsonl" 2> "$d/$case.$1-$2.log" || { rc=1; tail -n 3 "$d/$case.$1-$2.log"; }
    done
    line=$(printf '%-40s fp32: ' "$case") && line+=$("$py" scripts/compare-pipelines.py "$d/$case.cpu-fp32.jsonl" "$d/$case.$dev-fp32.jsonl" 1e-4 2>&1) || rc=1
    echo "$line" | tee -a "$d/compare.txt"
    if [ -f "$d/$case.$dev-bf16.jsonl" ]; then
      line=$(printf '%-40s bf16: ' "$case") && line+=$("$py" scripts/compare-pipelines.py "$d/$case.cpu-fp32.jsonl" "$d/$case.$dev-bf16.jsonl" 3e-2 2>&1)
      echo "$line" | tee -a "$d/compare.txt"
    fi
  done < "$d/runs.txt"
  block < "$d/compare.txt"
  return $rc
}

step_bench() {
  local l rc=0 args env=()
  l=$(left); [ "$l" -gt 200 ] && l=200
  if $cpu; then
    # the peer on bench/peer/selftest's numpy stand-ins for torch and transformers (float64, CPU)
    args=(--device cpu --random-size tiny --batch 1,4 --length 32 --warmup 1 --iters 2 --seconds 0.2 --skip ceilings)
    env=("PYTHONPATH=$root/bench/peer/selftest${PYTHONPATH:+:$PYTHONPATH}")
  else
    args=(--batch 1,64,256 --length 128,512 --precision bf16,fp32 --warmup 2 --iters 6 --seconds 0.6)
  fi
  # gpu-bench keeps to its own budget (each part cut to what is left, the report always written)
  # shellcheck disable=SC2086
  env "${env[@]}" timeout --kill-after=10 $((l + 20)) "$home/bin/gpu-bench" --out "$work/bench" --work "$scratch/bench" --budget "$l" \
    --python "$py" "${args[@]}" ${GPU_BENCH_ARGS:-} > "$work/gpu-bench.log" 2>&1 || rc=1
  tail -n 40 "$work/gpu-bench.log"
  local report; report=$(ls "$work"/bench/gpu-inference-*.md 2>/dev/null | head -n 1)
  cp "$scratch/bench/inputs/inputs.json" "$work/bench/" 2>/dev/null
  if [ -n "$report" ]; then
    cp "$report" "$work/bench/gpu-inference.md"
    # the target, the ratio tables and the logits check's verdict (its per-case table stays in the report)
    awk '/^## Target/ {on = 1} /^## Logits/ {on = 0; logits = 1} /^## Length mix/ {logits = 0}
         on {sub(/^## /, "### "); print} logits && /^Overall:/ {print "Logits against HF: " $0}' "$report" >> "$summary"
  else
    tail -n 20 "$work/gpu-bench.log" | block
  fi
  return $rc
}

step_train() {
  local d=$work/train w=$scratch/train rows steps p rc=0
  rows=${TRAIN_ROWS:-$($cpu && echo 64 || echo 2048)} steps=${TRAIN_STEPS:-$($cpu && echo 3 || echo 40)}
  mkdir -p "$d" "$w"
  [ -f "$w/model/model.safetensors" ] || bounded 60 "$py" bench/peer/hf_embed.py --make-model "$w/model" \
    $([ "${TRAIN_SIZE:-$($cpu && echo tiny || echo base)}" = tiny ] && echo --tiny) --tokenizer "$home/models/bert-base-uncased/tokenizer.json" > "$d/make-model.log" 2>&1 \
    || { tail -n 5 "$d/make-model.log"; return 1; }
  "$py" bench/peer/hf_embed.py --make-input "$w/text.jsonl" --corpus "$home/data/parity-corpus.jsonl.gz" --rows "$rows" || return 1
  # two labels from the text's length: the speed does not depend on what is learned
  "$py" -c 'import json,sys
for l in open(sys.argv[1]):
    t = json.loads(l)["text"]; print(json.dumps({"text": t, "label": "odd" if len(t) % 2 else "even"}))' "$w/text.jsonl" > "$w/train.jsonl" || return 1
  printf '| precision | HF samples/s | ours samples/s | ours / HF | HF tokens/s | ours tokens/s | first / last loss (HF, ours) |\n|---|---|---|---|---|---|---|\n' > "$d/summary.md"
  for p in ${TRAIN_PRECISIONS:-fp32 tf32 bf16}; do
    rm -rf "$w/out-$p"
    bounded 50 "$home/bin/distilbert" train --model "$w/model" --train "$w/train.jsonl" --output "$w/out-$p" --device "$dev" \
      $($cpu || echo --precision "$p") --batch-size 32 --max-steps "$steps" --max-length 128 --save-steps 0 --logging-steps 1 \
      > "$d/ours-$p.log" 2>&1 || { rc=1; tail -n 5 "$d/ours-$p.log"; continue; }
    cp "$w/out-$p/train_results.json" "$d/ours-$p.json"; cp "$w/out-$p/train_log.jsonl" "$d/ours-$p-log.jsonl"
    bounded 50 "$py" bench/train-peer.py --model "$w/model" --train "$w/train.jsonl" --batch-size 32 --max-steps "$steps" \
      --max-length 128 --device "$dev" $([ "$p" != fp32 ] && echo "--$p") > "$d/hf-$p.json" 2> "$d/hf-$p.log" \
      || { rc=1; tail -n 5 "$d/hf-$p.log"; continue; }
    "$py" - "$p" "$d/hf-$p.json" "$d/ours-$p.json" "$d/ours-$p-log.jsonl" >> "$d/summary.md" <<'PY'
import json, sys
p, hf, ours, log = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3])), [json.loads(l) for l in open(sys.argv[4])]
losses = [e["loss"] for e in log if "loss" in e]
print(f"| {p} | {hf['train_samples_per_second']:.1f} | {ours['train_samples_per_second']:.1f} | "
      f"{ours['train_samples_per_second'] / hf['train_samples_per_second']:.2f} | {hf['train_tokens_per_second']:.0f} | "
      f"{ours['train_tokens_per_second']:.0f} | {hf['losses'][0]:.3f} / {hf['losses'][-1]:.3f}, {losses[0]:.3f} / {losses[-1]:.3f} |")
PY
  done
  cat "$d/summary.md" >> "$summary"
  cat "$d/summary.md"
  return $rc
}

step_kernels() {
  local d=$work/kernels rc=0 args
  mkdir -p "$d"
  if $cpu; then
    args=(-p device=cpu -p precision=fp32 -p tokens=256 -p seqLen=64 -p dim=64 -p heads=4 -p ffn=128
          -p op=embedding_layernorm,qkv,attention,out_proj,residual_layernorm,ffn_up,gelu,ffn_down,pool_rows)
  else
    args=(-p precision=bf16,fp32)
  fi
  # one JVM for every op (-f 0): a fork per op would open the GPU twenty times
  bounded 150 "$home/bin/bench" KernelBenchmark -f 0 -wi 3 -w 200ms -i 5 -r 200ms "${args[@]}" \
    -rf json -rff "$d/kernels.json" > "$d/jmh.log" 2>&1 || rc=1
  tail -n 25 "$d/jmh.log"
  if [ -s "$d/kernels.json" ]; then
    "$py" bench/peer/kernel_report.py "$d/kernels.json" --ceilings "$scratch/bench/ceilings.json" --out "$d/kernels.md" \
      > /dev/null 2> "$d/report.log" || rc=1
    cat "$d/kernels.md" >> "$summary" 2>/dev/null
  else
    tail -n 15 "$d/jmh.log" | block
  fi
  return $rc
}

step_sanitize() {
  local sanitizer rc=0 tool filter trc
  sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -n 1)
  [ -n "$sanitizer" ] || { say "no compute-sanitizer on this machine: skipped"; return 0; }
  mkdir -p "$work/sanitizer"
  for tool in memcheck racecheck initcheck; do
    # memcheck over every op; racecheck and initcheck, slower, over attention (shared memory, the
    # tensor-core fragments) and the reductions
    # (explicit selectors only: the launcher refuses them beside a class-path scan)
    if [ $tool = memcheck ]; then filter=(-c distilbert.model.CudaOpsParityTest -c distilbert.model.CudaBackwardOpsParityTest
                                          -m 'distilbert.model.CudaTrainingParityTest#attentionTrainingForwardAndBackward(distilbert.model.Precision)')
    else filter=(-m 'distilbert.model.CudaOpsParityTest#attentionOnRaggedSequences(distilbert.model.Precision)'
                 -m 'distilbert.model.CudaOpsParityTest#softmaxTopK(distilbert.model.Precision)'
                 -m 'distilbert.model.CudaOpsParityTest#layerNorm(distilbert.model.Precision)'
                 -m 'distilbert.model.CudaBackwardOpsParityTest#layerNormBackward(distilbert.model.Precision)'
                 -m 'distilbert.model.CudaTrainingParityTest#attentionTrainingForwardAndBackward(distilbert.model.Precision)'); fi
    log "compute-sanitizer --tool $tool"
    bounded 90 "$sanitizer" --tool "$tool" --target-processes all --print-limit 50 \
      "${java[@]}" -Ddistilbert.requireGpu=$requireGpu -cp "$home/test/*:$home/lib/*" \
      org.junit.platform.console.ConsoleLauncher execute --disable-banner --disable-ansi-colors --details=testfeed \
      "${filter[@]}" > "$work/sanitizer/$tool.log" 2>&1; trc=$?
    [ $trc -eq 0 ] || rc=1
    { echo "$tool (exit $trc$([ $trc -eq 124 ] && echo ': its time limit'))"; grep -E "ERROR SUMMARY|========= (Invalid|Race|Uninitialized|Program hit)" "$work/sanitizer/$tool.log" | head -n 12
      junit_summary "$work/sanitizer/$tool.log" | head -n 8; } | tee /dev/stderr | block
    [ "$(left)" -ge 20 ] || { say "sanitize: out of time after $tool"; break; }
  done
  return $rc
}

step_attention() {
  local d=$work/attention kernel rc=0 size=base
  $cpu && size=tiny
  mkdir -p "$d"
  for kernel in simt tensor-cores; do
    DISTILBERT_JAVA_OPTS="$DISTILBERT_JAVA_OPTS -Ddistilbert.attention=$kernel" bounded 75 "$home/bin/gpu-bench" harness \
      --random-base "$scratch/attention-model" --random-size "$size" --device "$dev" --precision "$($cpu && echo fp32 || echo bf16)" \
      --batch 64 --length 128,512 --warmup 2 --iters 10 --seconds 2 --json "$d/$kernel.json" > "$d/$kernel.log" 2>&1 || rc=1
  done
  "$py" - "$d" <<'PY' | tee "$d/table.txt" | block
import json, sys, os
d = sys.argv[1]
runs = {k: json.load(open(os.path.join(d, k + ".json"))) for k in ("simt", "tensor-cores")
        if os.path.exists(os.path.join(d, k + ".json"))}
print("%-14s %-12s %10s %10s %14s" % ("case", "kernel", "median ms", "seq/s", "attention ms"))
for kernel, run in runs.items():
    for c in run.get("cases", []):
        att = sum(r["ms"] for r in c.get("breakdown", []) if r["op"].startswith("attention"))
        print("%-14s %-12s %10.3f %10.1f %14.3f" % (c["name"], kernel, c.get("median_ms", float("nan")),
                                                     c.get("sequences_per_s", float("nan")), att))
PY
  return $rc
}

step_embed() {
  local d=$work/embed w=$scratch/embed rows p t0 t1 t2 cos rc=0
  rows=${EMBED_ROWS:-$($cpu && echo 200 || echo 20000)}
  mkdir -p "$d" "$w"
  [ -f "$w/model/model.safetensors" ] || bounded 60 "$py" bench/peer/hf_embed.py --make-model "$w/model" \
    $([ "${EMBED_SIZE:-$($cpu && echo tiny || echo base)}" = tiny ] && echo --tiny) --tokenizer "$home/models/bert-base-uncased/tokenizer.json" > "$d/make-model.log" 2>&1 \
    || { tail -n 5 "$d/make-model.log"; return 1; }
  "$py" bench/peer/hf_embed.py --make-input "$w/in.jsonl" --corpus "$home/data/parity-corpus.jsonl.gz" --rows "$rows" || return 1
  head -n 64 "$w/in.jsonl" > "$w/small.jsonl"
  printf '| precision | ours: startup + load (64 rows) s | ours: %s rows s | ours rows/s (less startup) | HF sdpa total s (stages, no interpreter start) | HF rows/s (less load) | HF stages (tokenize / model / write) s | HF total / ours wall | smallest cosine |\n|---|---|---|---|---|---|---|---|---|\n' "$rows" > "$d/summary.md"
  for p in ${EMBED_PRECISIONS:-$($cpu && echo fp32 || echo bf16 fp32)}; do
    t0=$(date +%s.%N)
    bounded 40 "$home/bin/distilbert" embed --model "$w/model" --device "$dev" --precision "$p" --max-length 256 \
      --input "$w/small.jsonl" --output "$w/ours-small.jsonl" 2> "$d/ours-small-$p.log" || { rc=1; tail -n 5 "$d/ours-small-$p.log"; continue; }
    t1=$(date +%s.%N)
    bounded 60 "$home/bin/distilbert" embed --model "$w/model" --device "$dev" --precision "$p" --max-length 256 \
      --input "$w/in.jsonl" --output "$w/ours-$p.jsonl" 2> "$d/ours-$p.log" || { rc=1; tail -n 5 "$d/ours-$p.log"; continue; }
    t2=$(date +%s.%N)
    bounded 90 "$py" bench/peer/hf_embed.py --model "$w/model" --input "$w/in.jsonl" --output "$w/hf-$p.jsonl" \
      --precision "$p" --attn sdpa --max-length 256 --device "$dev" --json "$d/hf-$p.json" > "$d/hf-$p.log" 2>&1 || { rc=1; tail -n 5 "$d/hf-$p.log"; continue; }
    cos=$("$py" bench/peer/hf_embed.py --compare "$w/ours-$p.jsonl" "$w/hf-$p.jsonl" --min-cosine "$([ "$p" = fp32 ] && echo 0.99999 || echo 0.999)") || rc=1
    echo "$p: $cos"
    "$py" - "$p" "$rows" "$t0" "$t1" "$t2" "$d/hf-$p.json" "$cos" >> "$d/summary.md" <<'PY'
import json, sys
p, rows, t0, t1, t2, hf, cos = sys.argv[1], int(sys.argv[2]), *map(float, sys.argv[3:6]), sys.argv[6], sys.argv[7]
h = json.load(open(hf)); s = h["seconds"]
startup, full = t1 - t0, t2 - t1
ours_rate = rows / max(full - startup, 1e-9)
print(f"| {p} | {startup:.2f} | {full:.2f} | {ours_rate:.0f} | {s['total']:.2f} | {h['rows_per_s_without_load']:.0f} | "
      f"{s['tokenize']:.2f} / {s['model']:.2f} / {s['write']:.2f} | {s['total'] / full:.2f}x | {cos.split('cosine ')[1].split(',')[0]} |")
PY
  done
  # two copies of the model on the one GPU (--device cuda:0,0): does overlapping them pay? Same bytes either way.
  if ! $cpu && [ -f "$w/ours-bf16.jsonl" ]; then
    t0=$(date +%s.%N)
    if bounded 60 "$home/bin/distilbert" embed --model "$w/model" --device cuda:0,0 --precision bf16 --max-length 256 \
        --input "$w/in.jsonl" --output "$w/ours-bf16-x2.jsonl" 2> "$d/ours-bf16-x2.log"; then
      t1=$(date +%s.%N)
      same=$(cmp -s "$w/ours-bf16.jsonl" "$w/ours-bf16-x2.jsonl" && echo "the same bytes" || echo "DIFFERENT bytes")
      printf '\nbf16 on two copies of the model on one GPU (--device cuda:0,0): %s rows in %.2f s (startup included), %s as one copy\n' \
        "$rows" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$same" >> "$d/summary.md"
    else
      rc=1; tail -n 5 "$d/ours-bf16-x2.log"
    fi
  fi
  # --serve: many clients at once (bench/serve-load.py), single rows and 32-row requests, against embed's own output
  local sp spid url spec n
  sp=$($cpu && echo fp32 || echo bf16)
  if [ -f "$w/ours-$sp.jsonl" ]; then
    "$home/bin/distilbert" embed --model "$w/model" --device "$dev" --precision "$sp" --max-length 256 --serve 0 \
      > "$d/serve.out" 2> "$d/serve.log" &
    spid=$!
    for _ in $(seq 1 600); do grep -q 'serving .* on http' "$d/serve.log" 2>/dev/null && break; kill -0 $spid 2>/dev/null || break; sleep 0.1; done
    url=$(grep -o 'http://[0-9.]*:[0-9]*/' "$d/serve.log" | head -n 1)
    if [ -n "$url" ]; then
      printf '
`embed --serve` (%s), clients of bench/serve-load.py (Python: past a few thousand requests/s the client is the limit):

```
' "$sp" > "$d/serve.md"
      for spec in "64 1 $($cpu && echo 100 || echo 5000)" "16 32 0"; do
        set -- $spec
        bounded 45 "$py" bench/serve-load.py --url "$url" --input "$w/in.jsonl" --clients "$1" --lines "$2" --max-requests "$3" \
          --output "$w/served-$2.jsonl" --json "$d/serve-$1x$2.json" >> "$d/serve.md" 2>&1 || rc=1
        n=$(wc -l < "$w/served-$2.jsonl" 2>/dev/null || echo 0)
        head -n "$n" "$w/ours-$sp.jsonl" > "$w/ours-head.jsonl"
        echo "answers against embed's own lines for the same $n rows: $("$py" bench/peer/hf_embed.py --compare "$w/served-$2.jsonl" \
          "$w/ours-head.jsonl" --min-cosine "$([ "$sp" = fp32 ] && echo 0.99999 || echo 0.999)" 2>&1)" >> "$d/serve.md" || rc=1
      done
      kill -TERM $spid; wait $spid 2>/dev/null
      grep 'stopped after' "$d/serve.log" >> "$d/serve.md" || { rc=1; echo "no 'stopped after' line on SIGTERM" >> "$d/serve.md"; }
      printf '```\n' >> "$d/serve.md"
      cat "$d/serve.md" >> "$d/summary.md"
    else
      rc=1; kill -TERM $spid 2>/dev/null; tail -n 5 "$d/serve.log"
    fi
  fi
  # embed --format npy: numpy reads the array, and it holds what the JSONL holds
  if bounded 40 "$home/bin/distilbert" embed --model "$w/model" --device "$dev" --max-length 256 --format npy \
      --input "$w/small.jsonl" --output "$w/ours-small.npy" 2> "$d/ours-npy.log"; then
    "$py" - "$w/ours-small.npy" "$w/ours-small.jsonl" >> "$d/summary.md" <<'PY' || rc=1
import json, sys
import numpy as np
a = np.load(sys.argv[1])
b = np.array([json.loads(l)["embedding"] for l in open(sys.argv[2])], dtype=np.float32)
ok = a.dtype == np.float32 and a.shape == b.shape and np.array_equal(a, b)
print("\n`embed --format npy`: numpy.load gives %s %s, %s the JSONL embeddings\n" % (a.dtype, a.shape, "equal to" if ok else "NOT equal to"))
sys.exit(0 if ok else 1)
PY
  else
    rc=1; tail -n 5 "$d/ours-npy.log"
  fi
  # the user-facing throughput command on the same model: the fixed grid and the same rows
  if bounded 40 "$home/bin/distilbert" bench --model "$w/model" --device "$dev" --batch 1,64,256 --length 128 --seconds 1 \
      --input "$w/in.jsonl" --max-rows 4096 --json > "$d/cli-bench.jsonl" 2> "$d/cli-bench.log"; then
    { printf '\n`distilbert bench` (default precision, encoder + mean pooling):\n\n```\n'; cat "$d/cli-bench.jsonl"; printf '```\n'; } >> "$d/summary.md"
    # two copies on the one GPU: rows/s against the line above
    if ! $cpu && bounded 40 "$home/bin/distilbert" bench --model "$w/model" --device cuda:0,0 --batch 64,256 --length 128 --seconds 1 \
        --input "$w/in.jsonl" --max-rows 4096 --json > "$d/cli-bench-x2.jsonl" 2>> "$d/cli-bench.log"; then
      { printf '\n`distilbert bench --device cuda:0,0` (two copies on the GPU):\n\n```\n'; cat "$d/cli-bench-x2.jsonl"; printf '```\n'; } >> "$d/summary.md"
    fi
  else
    rc=1; tail -n 5 "$d/cli-bench.log"
  fi
  cat "$d/summary.md" | tee -a "$summary"
  return $rc
}

# ---- run them ----------------------------------------------------------------------------------------
for step in "${steps[@]}"; do
  l=$(left)
  if [ "$l" -lt 20 ]; then
    skipped+=("$step"); log "$step: skipped, $l s of the budget left"
    say "" "## $step: skipped (out of budget: $l s left)"; pack; continue
  fi
  log "$step ($l s of the budget left)"
  t0=$SECONDS
  say "" "## $step"
  if $emulated && [[ " bench train kernels sanitize attention embed " == *" $step "* ]]; then
    say "not run in the --emulated rehearsal: it measures time (or runs compute-sanitizer), which needs a GPU"
    log "$step: not run (--emulated)"; pack; continue
  fi
  "step_$step"; rc=$?
  verdict=passed; [ $rc -eq 0 ] || { verdict="FAILED (exit $rc)"; status=1; }
  ran+=("$step: $verdict in $((SECONDS - t0)) s")
  say "" "$step: $verdict in $((SECONDS - t0)) s"
  log "$step: $verdict in $((SECONDS - t0)) s"
  pack
done

say "" "## Overall" "" "$(printf -- '- %s\n' "${ran[@]}")"
crashes=$(cd "$work" && ls hs_err_pid*.log 2>/dev/null | tr '\n' ' ')
[ -z "$crashes" ] || { say "- JVM crash reports (in results.tar.gz): $crashes"; status=1; }
[ ${#skipped[@]} -eq 0 ] || say "- out of budget, not run: ${skipped[*]}"
say "- $((SECONDS - start)) s of a $budget s budget; status $status"
pack
log "done (status $status) in $((SECONDS - start)) s; $out holds: $(cd "$out" && ls | tr '\n' ' ')"
printf '%s\n' "${ran[@]}"
[ ${#skipped[@]} -eq 0 ] || echo "not run (budget): ${skipped[*]}"
exit $status
