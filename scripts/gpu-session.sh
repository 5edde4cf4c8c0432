#!/usr/bin/env bash
# The GPU work of a session, on the GPU machine, from the repository root (where the device tool
# runs a command), writing everything that must come back under $OUT (or --out DIR).
#
#   scripts/gpu-session.sh [--out DIR] STEP...      steps: probe golden test sanitize pipelines bench attention embed all
#
# Carry (ignored paths the command needs): the tarball of `./dev dist`
# (dist/distilbert-VERSION-linux-x86_64.tar.gz, ~35 MB) and tests/target/test-classes (the
# tests module's compiled tests and resources, a few MB). The machine needs no Java: the tarball's
# runtime runs everything. Each step is bounded; `probe golden test sanitize` fit one 10-minute call
# and `bench` (540 s by default, GPU_BENCH_ARGS to change) takes a second one.
#
#   probe     nvidia-smi, python3/torch/transformers versions, our own GPU probe (info --device)
#   golden    tests/golden/make_golden.py -> OUT/golden (commit it as tests/src/test/resources/golden),
#             also copied into tests/target/test-classes/golden for the test step
#   test      bin/gpu-test (every CUDA op and whole models vs the CPU, the bridge, cuBLAS) with JUnit
#             XML in OUT/gpu-test, then the tests module's golden tests (CPU and CUDA vs every HF golden
#             case) and CUDA vs CPU on MiniLM when MINILM_DIR names a converted directory
#   sanitize  compute-sanitizer memcheck, racecheck, initcheck over the op parity tests -> OUT/sanitizer
#   pipelines score, fill-mask, ner and qa on the golden pipeline models (tests/target/test-classes/golden):
#             --device cuda --precision fp32 against --device cpu (scripts/compare-pipelines.py, 1e-4), and
#             bf16 (reported, not failed: labels of near-equal scores may swap) -> OUT/pipelines
#   bench     bin/gpu-bench (ours vs HF eager/SDPA, ceilings, report) -> OUT/bench
#   attention the two attention kernels A/B (-Ddistilbert.attention=simt vs tensor-cores): bf16
#             DistilBERT-base, batch 64, L 128 and 512, whole forwards with the per-op breakdown
#             -> OUT/attention/{simt,tensor-cores}.json and a table (about 2 minutes)
#   embed     `distilbert embed` end to end (JVM start, load, read, tokenize, GPU, pooling, JSON out) against
#             bench/peer/hf_embed.py (transformers, SDPA, the same batching and mean pooling) on a random
#             DistilBERT-base and EMBED_ROWS (50000) parity-corpus rows cut to 256 tokens, bf16 and fp32;
#             cosine of every row against HF -> OUT/embed/summary.md (a few minutes). EMBED_DEVICE=cpu
#             PYTHON=EXE and EMBED_PRECISIONS=fp32 try it without a GPU
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out=${OUT:-$root/build/gpu-session}
steps=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    probe|golden|test|sanitize|pipelines|bench|attention|embed) steps+=("$1") ;;
    all) steps+=(probe golden test sanitize pipelines bench attention embed) ;;
    *) echo "gpu-session: unknown step '$1' (probe, golden, test, sanitize, pipelines, bench, attention, embed, all)" >&2; exit 2 ;;
  esac
  shift
done
[ ${#steps[@]} -gt 0 ] || { echo "gpu-session: name a step (probe, golden, test, sanitize, pipelines, bench, attention, embed, all)" >&2; exit 2; }
mkdir -p "$out"
log() { printf '\n== %s  %s\n' "$(date -u +%H:%M:%S)" "$*"; }

tarball=$(ls dist/distilbert-*-linux-x86_64.tar.gz 2>/dev/null | head -n 1)
[ -n "$tarball" ] || { echo "gpu-session: no dist/distilbert-*-linux-x86_64.tar.gz: build it with ./dev dist and carry it" >&2; exit 1; }
home=/tmp/dbc/$(basename "$tarball" -linux-x86_64.tar.gz)
if [ ! -x "$home/bin/distilbert" ] || [ "$tarball" -nt "$home/bin/distilbert" ]; then
  rm -rf "$home" && mkdir -p /tmp/dbc && tar -xzf "$tarball" -C /tmp/dbc || { echo "gpu-session: cannot unpack $tarball" >&2; exit 1; }
fi
java=("$home/runtime/bin/java" -Xss4m --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector)
status=0

for step in "${steps[@]}"; do
  case "$step" in
    probe)
      log "probe"
      (nvidia-smi || true; nvidia-smi -q | grep -E "Driver Version|CUDA Version|Product Name" || true) 2>&1 | tee "$out/nvidia-smi.txt"
      python3 -c 'import sys, torch, transformers; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__)' 2>&1 | tee "$out/python.txt"
      "$home/bin/distilbert" info --device 2>&1 | tee "$out/info-device.txt"
      command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null || echo "no compute-sanitizer"
      ;;
    golden)
      log "golden files (HF transformers, CPU float32)"
      timeout 240 python3 tests/golden/make_golden.py --out "$out/golden" > "$out/golden.log" 2>&1 || { status=1; tail -n 30 "$out/golden.log"; }
      tail -n 5 "$out/golden.log"
      if [ -f "$out/golden/index.json" ] && [ -d tests/target/test-classes ]; then
        rm -rf tests/target/test-classes/golden && cp -r "$out/golden" tests/target/test-classes/golden
      fi
      ;;
    test)
      log "GPU test suite (bin/gpu-test)"
      timeout 300 "$home/bin/gpu-test" --reports-dir "$out/gpu-test" --details=summary > "$out/gpu-test.log" 2>&1 || status=1
      tail -n 40 "$out/gpu-test.log"
      if [ -d tests/target/test-classes ]; then
        log "tests module: CPU and CUDA vs the HF golden files (and MiniLM with MINILM_DIR)"
        timeout 200 "${java[@]}" -Ddistilbert.requireGpu=true ${MINILM_DIR:+-Ddistilbert.minilm.dir=$MINILM_DIR} \
          -Ddistilbert.corpus="$home/data/parity-corpus.jsonl.gz" \
          -cp "tests/target/test-classes:$home/test/*:$home/lib/*" org.junit.platform.console.ConsoleLauncher execute \
          --disable-banner --disable-ansi-colors --details=summary --reports-dir "$out/gpu-test-tests" \
          --scan-class-path tests/target/test-classes --include-classname '.*(GoldenParityTest|CudaMiniLmParityTest)' \
          > "$out/gpu-test-tests.log" 2>&1 || status=1
        tail -n 30 "$out/gpu-test-tests.log"
      fi
      ;;
    sanitize)
      sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -n 1)
      if [ -z "$sanitizer" ]; then
        log "sanitize: no compute-sanitizer on this machine"; continue
      fi
      mkdir -p "$out/sanitizer"
      for tool in memcheck racecheck initcheck; do
        log "compute-sanitizer --tool $tool (op parity tests, bf16 and fp32)"
        timeout 150 "$sanitizer" --tool "$tool" --target-processes all --print-limit 50 \
          "${java[@]}" -Ddistilbert.requireGpu=true -cp "$home/test/*:$home/lib/*" \
          org.junit.platform.console.ConsoleLauncher execute --disable-banner --disable-ansi-colors --details=summary \
          --scan-class-path "$(printf '%s:' "$home"/test/*-tests.jar | sed 's/:$//')" \
          --include-classname '.*(CudaOpsParityTest|ActivationKernelsTest)' \
          > "$out/sanitizer/$tool.log" 2>&1 || status=1
        grep -E "ERROR SUMMARY|========= (Invalid|Race|Uninitialized)" "$out/sanitizer/$tool.log" | head -n 20
      done
      ;;
    bench)
      log "GPU inference benchmark (bin/gpu-bench)"
      "$home/bin/gpu-bench" --out "$out/bench" ${GPU_BENCH_ARGS:-} > "$out/gpu-bench.log" 2>&1 || status=1
      tail -n 40 "$out/gpu-bench.log"
      ;;
    pipelines)
      log "pipeline commands on the GPU against the CPU (golden pipeline models)"
      golden=tests/target/test-classes/golden
      [ -f "$golden/index.json" ] || { log "pipelines: no $golden/index.json (carry tests/target/test-classes)"; status=1; continue; }
      mkdir -p "$out/pipelines"
      python3 - "$golden" "$out/pipelines" <<'PY' || status=1
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
    else:
        continue
    with open(os.path.join(out, c["case"] + ".jsonl"), "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    runs.append(c["case"] + " " + args)
open(os.path.join(out, "runs.txt"), "w").write("\n".join(runs) + "\n")
PY
      while read -r case args; do
        [ -n "$case" ] || continue
        in=$out/pipelines/$case.jsonl
        for dev in "cpu fp32" "cuda fp32" "cuda bf16"; do
          set -- $dev
          # shellcheck disable=SC2086
          "$home/bin/distilbert" $args --model "$golden/$case" --device "$1" --precision "$2" --input "$in" \
            --output "$out/pipelines/$case.$1-$2.jsonl" 2> "$out/pipelines/$case.$1-$2.log" || { status=1; tail -n 3 "$out/pipelines/$case.$1-$2.log"; }
        done
        printf '%-42s fp32: ' "$case ($args)"
        python3 scripts/compare-pipelines.py "$out/pipelines/$case.cpu-fp32.jsonl" "$out/pipelines/$case.cuda-fp32.jsonl" 1e-4 || status=1
        printf '%-42s bf16: ' ""
        python3 scripts/compare-pipelines.py "$out/pipelines/$case.cpu-fp32.jsonl" "$out/pipelines/$case.cuda-bf16.jsonl" 3e-2 || true
      done < "$out/pipelines/runs.txt"
      ;;
    embed)
      log "embed end to end: distilbert embed against transformers (random DistilBERT-base, parity-corpus rows, mean pooling)"
      d=$out/embed work=/tmp/dbc-embed rows=${EMBED_ROWS:-50000} dev=${EMBED_DEVICE:-cuda} py=${PYTHON:-python3}
      mkdir -p "$d" "$work"
      [ -f "$work/model/model.safetensors" ] || "$py" bench/peer/hf_embed.py --make-model "$work/model" \
        --tokenizer "$home/models/bert-base-uncased/tokenizer.json" > "$d/make-model.log" 2>&1 || { status=1; tail -n 5 "$d/make-model.log"; continue; }
      "$py" bench/peer/hf_embed.py --make-input "$work/in.jsonl" --corpus "$home/data/parity-corpus.jsonl.gz" --rows "$rows" || { status=1; continue; }
      head -n 64 "$work/in.jsonl" > "$work/small.jsonl"
      printf '| precision | ours: startup + load (64 rows) s | ours: %s rows s | ours rows/s (less startup) | HF sdpa total s (stages, no interpreter start) | HF rows/s (less load) | HF stages (tokenize / model / write) s | HF total / ours wall | smallest cosine |\n|---|---|---|---|---|---|---|---|---|\n' "$rows" > "$d/summary.md"
      for p in ${EMBED_PRECISIONS:-bf16 fp32}; do
        t0=$(date +%s.%N)
        "$home/bin/distilbert" embed --model "$work/model" --device "$dev" --precision "$p" --max-length 256 \
          --input "$work/small.jsonl" --output "$work/ours-small.jsonl" 2> "$d/ours-small-$p.log" || { status=1; tail -n 5 "$d/ours-small-$p.log"; continue; }
        t1=$(date +%s.%N)
        "$home/bin/distilbert" embed --model "$work/model" --device "$dev" --precision "$p" --max-length 256 \
          --input "$work/in.jsonl" --output "$work/ours-$p.jsonl" 2> "$d/ours-$p.log" || { status=1; tail -n 5 "$d/ours-$p.log"; continue; }
        t2=$(date +%s.%N)
        "$py" bench/peer/hf_embed.py --model "$work/model" --input "$work/in.jsonl" --output "$work/hf-$p.jsonl" \
          --precision "$p" --attn sdpa --max-length 256 --device "$dev" --json "$d/hf-$p.json" > "$d/hf-$p.log" 2>&1 || { status=1; tail -n 5 "$d/hf-$p.log"; continue; }
        cos=$("$py" bench/peer/hf_embed.py --compare "$work/ours-$p.jsonl" "$work/hf-$p.jsonl" --min-cosine "$([ "$p" = fp32 ] && echo 0.99999 || echo 0.999)") || status=1
        echo "$p: $cos"
        python3 - "$p" "$rows" "$t0" "$t1" "$t2" "$d/hf-$p.json" "$cos" >> "$d/summary.md" <<'PY'
import json, sys
p, rows, t0, t1, t2, hf, cos = sys.argv[1], int(sys.argv[2]), *map(float, sys.argv[3:6]), sys.argv[6], sys.argv[7]
h = json.load(open(hf)); s = h["seconds"]
startup, full = t1 - t0, t2 - t1
ours_rate = rows / max(full - startup, 1e-9)
print(f"| {p} | {startup:.2f} | {full:.2f} | {ours_rate:.0f} | {s['total']:.2f} | {h['rows_per_s_without_load']:.0f} | "
      f"{s['tokenize']:.2f} / {s['model']:.2f} / {s['write']:.2f} | {s['total'] / full:.2f}x | {cos.split('cosine ')[1].split(',')[0]} |")
PY
      done
      cat "$d/summary.md"
      ;;
    attention)
      log "attention kernels A/B: SIMT vs tensor cores (bf16, batch 64, L 128 and 512)"
      mkdir -p "$out/attention"
      for kernel in simt tensor-cores; do
        DISTILBERT_JAVA_OPTS="-Ddistilbert.attention=$kernel" timeout 240 "$home/bin/gpu-bench" harness \
          --random-base "$out/attention/model" --precision bf16 --batch 64 --length 128,512 --warmup 2 --iters 10 \
          --seconds 3 --json "$out/attention/$kernel.json" > "$out/attention/$kernel.log" 2>&1 || status=1
      done
      rm -rf "$out/attention/model"  # 130 MB of random weights: nothing to bring back
      python3 - "$out/attention" <<'PY' || status=1
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
      ;;
  esac
done
log "done (status $status); results in $out"
exit $status
