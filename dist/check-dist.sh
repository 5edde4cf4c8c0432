#!/usr/bin/env bash
# Checks the tarball as a machine without Java would run it: unpacked in a temporary folder, every
# command under `env -i` with a PATH that holds only the few tools the scripts use (no java, no
# JAVA_HOME, no locale), from another directory, one command through a symlink.
#   dist/check-dist.sh [TARBALL]    (default: the one ./dev dist wrote last; ./dev dist --check runs this)
# Where the repository is built, outputs are compared with the repository's ./distilbert (the same
# jars on the JDK that built them). Exit code 0: every check passed.
set -uo pipefail
root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
tarball=${1:-$(cat "$root/dist/target/tarball" 2>/dev/null)}
[ -f "$tarball" ] || { echo "check-dist: no tarball ${tarball:-(run ./dev dist first)}" >&2; exit 2; }
tarball=$(readlink -f "$tarball")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/distilbert-dist-check.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tar -C "$tmp" -xzf "$tarball" || { echo "check-dist: cannot unpack $tarball" >&2; exit 1; }
home=$(ls -d "$tmp"/distilbert-*/ | head -n 1); home=${home%/}
version=${home##*/distilbert-}
mkdir -p "$tmp/path" "$tmp/home" "$tmp/work"
for t in bash env dirname readlink sed head cat; do ln -s "$(command -v "$t")" "$tmp/path/$t"; done
sandbox=(env -i "PATH=$tmp/path" "HOME=$tmp/home")
cd "$tmp/work"

passed=0; failed=0; skipped=0; results=()
note() { results+=("$(printf '%-5s %-58s %s' "$1" "$2" "$3")"); }
# run COMMAND...: runs it, keeps its exit code, output and time in $code, $out, $err, $took.
run() {
  local t0=$SECONDS
  "$@" > "$tmp/out" 2> "$tmp/err"; code=$?
  out=$(cat "$tmp/out"); err=$(cat "$tmp/err"); took="$((SECONDS - t0)) s"
}
# check NAME EXPECTED_EXIT_CODE COMMAND...: run, then a failure unless the exit code is the expected one.
check() {
  local name=$1 want=$2; shift 2
  run "$@"
  if [ "$code" -ne "$want" ]; then
    fail "$name" "exit code $code, expected $want"; return 1
  fi
  return 0
}
pass() { passed=$((passed + 1)); note PASS "$1" "${2:-$took}"; }
fail() {
  failed=$((failed + 1)); note FAIL "$1" "$2"
  { echo "---- $1: $2"; echo "stdout:"; tail -n 20 "$tmp/out"; echo "stderr:"; tail -n 20 "$tmp/err"; } >&2
}
skip() { skipped=$((skipped + 1)); note SKIP "$1" "$2"; }
has() { grep -qF -- "$2" <<< "$1"; }

echo "checking $tarball"
echo "  unpacked in $home"
size=$(stat -c %s "$tarball")

# 0. The sandbox really has no Java.
if "${sandbox[@]}" bash -c 'command -v java' >/dev/null 2>&1; then fail "no java on the sandbox's PATH" "found one"
else pass "no java on the sandbox's PATH, no JAVA_HOME" "-"; fi

# 1. The launcher starts on the bundled runtime; through a symlink from another folder too.
if check "bin/distilbert --version" 0 "${sandbox[@]}" "$home/bin/distilbert" --version; then
  if has "$out" "distilbert $version"; then pass "bin/distilbert --version"; else fail "bin/distilbert --version" "printed: $out"; fi
fi
ln -s "$home/bin/distilbert" "$tmp/work/distilbert-link"
if check "through a symlink, from /" 0 bash -c "cd / && exec ${sandbox[*]} '$tmp/work/distilbert-link' --version"; then
  pass "a symlink to bin/distilbert, called from /"
fi

# 2. tokenize: a relative tokenizer path and input file, non-ASCII text, a pair; same output as the repository's.
printf '%s\n' '{"text": "Hello, world!"}' '{"text": "Héllo wörld 🙂 naïve café", "text_pair": "Second sentence."}' \
  '{"text": "日本語のテキストも"}' > in.jsonl
tok_rel=$(realpath --relative-to="$tmp/work" "$home/models/bert-base-uncased")
if check "bin/distilbert tokenize" 0 "${sandbox[@]}" "$home/bin/distilbert" tokenize --tokenizer "$tok_rel" --input in.jsonl --output tok.jsonl; then
  if [ "$(wc -l < tok.jsonl)" -ne 3 ] || ! grep -q '"input_ids"' tok.jsonl; then fail "bin/distilbert tokenize" "expected 3 lines of encodings"
  elif [ -f "$root/cli/target/lib/cli.jar" ] && [ -f "$root/build/models/bert-base-uncased/tokenizer.json" ]; then
    "$root/distilbert" tokenize --tokenizer "$root/build/models/bert-base-uncased" --input in.jsonl --output tok-repo.jsonl 2>/dev/null
    if cmp -s tok.jsonl tok-repo.jsonl; then pass "bin/distilbert tokenize (= repository's ./distilbert)"
    else fail "bin/distilbert tokenize" "output differs from the repository's ./distilbert"; fi
  else pass "bin/distilbert tokenize"; fi
fi

# 3. GPU detection: says what it finds, and why not where it finds nothing.
gpu=false
if check "bin/distilbert info --device" 0 "${sandbox[@]}" "$home/bin/distilbert" info --device; then
  if has "$out" "GPU: usable"; then gpu=true; pass "bin/distilbert info --device: $(sed -n 's/^ *device 0 *//p' <<< "$out" | head -n 1)"
  elif has "$out" "GPU: no usable GPU" && has "$out" "reason"; then
    pass "bin/distilbert info --device: $(head -n 1 <<< "$out" | sed 's/^GPU: //')"
  else fail "bin/distilbert info --device" "printed: $out"; fi
fi

# 4. JCuda's natives (the trimmed natives jar) load on this runtime: where no driver is installed, a
#    stand-in libcuda.so.1 whose cuInit answers CUDA_ERROR_STUB_LIBRARY must be reached through JCuda.
if $gpu; then skip "JCuda natives with a stand-in libcuda.so.1" "a real driver is here (the GPU tests load them)"
elif ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1 '; then skip "JCuda natives with a stand-in libcuda.so.1" "a libcuda.so.1 is installed here"
elif ! command -v cc >/dev/null 2>&1; then skip "JCuda natives with a stand-in libcuda.so.1" "no C compiler to build it"
else
  mkdir -p "$tmp/fake"
  printf 'int cuInit(unsigned int flags) { (void) flags; return 34; /* CUDA_ERROR_STUB_LIBRARY */ }\n' > "$tmp/fake/cuda.c"
  if cc -shared -fPIC -o "$tmp/fake/libcuda.so.1" "$tmp/fake/cuda.c" \
      && check "JCuda natives load (stand-in libcuda.so.1)" 0 "${sandbox[@]}" "LD_LIBRARY_PATH=$tmp/fake" "$home/bin/distilbert" info --device; then
    if has "$out" "CUDA_ERROR_STUB_LIBRARY"; then pass "JCuda natives load, cuInit reached (stand-in libcuda.so.1)"
    else fail "JCuda natives load (stand-in libcuda.so.1)" "expected cuInit's CUDA_ERROR_STUB_LIBRARY, got: $out"; fi
  fi
fi

# 5. The model on the CPU (Vector API): convert all-MiniLM-L6-v2 from the ONNX file the build unpacks,
#    describe it, embed the example sentences; the embeddings must equal the repository launcher's.
onnx=$root/build/models/all-minilm-l6-v2.onnx
if [ ! -f "$onnx" ]; then skip "convert, info --model, embed" "no $onnx (./dev build unpacks it)"
else
  if check "bin/distilbert convert --from onnx" 0 "${sandbox[@]}" "$home/bin/distilbert" convert --from onnx --input "$onnx" \
      --tokenizer "$home/models/bert-base-uncased" --output minilm; then pass "bin/distilbert convert --from onnx (all-MiniLM-L6-v2)"; fi
  if check "bin/distilbert info --model --json" 0 "${sandbox[@]}" "$home/bin/distilbert" info --model minilm --json; then
    if has "$out" '"config"'; then pass "bin/distilbert info --model minilm --json"; else fail "bin/distilbert info --model --json" "no config in: $out"; fi
  fi
  if check "bin/distilbert embed" 0 "${sandbox[@]}" "$home/bin/distilbert" embed --model minilm --normalize \
      --input "$home/examples/sentences.jsonl" --output emb.jsonl; then
    n=$(wc -l < "$home/examples/sentences.jsonl")
    if [ "$(grep -c '"embedding"' emb.jsonl)" -ne "$n" ]; then fail "bin/distilbert embed" "expected $n embeddings"
    elif [ -f "$root/cli/target/lib/cli.jar" ]; then
      "$root/distilbert" embed --model minilm --normalize --input "$home/examples/sentences.jsonl" --output emb-repo.jsonl 2>/dev/null
      if cmp -s emb.jsonl emb-repo.jsonl; then pass "bin/distilbert embed (= repository's ./distilbert, bit for bit)"
      else fail "bin/distilbert embed" "embeddings differ from the repository's ./distilbert"; fi
    else pass "bin/distilbert embed"; fi
  fi
  # --serve on the bundled runtime (jdk.httpserver): the example rows POSTed get embed's lines, bit for bit
  if command -v curl >/dev/null; then
    "${sandbox[@]}" "$home/bin/distilbert" embed --model minilm --normalize --serve 0 > serve.out 2> serve.err &
    spid=$!
    for _ in $(seq 1 300); do grep -q 'serving .* on http' serve.err 2>/dev/null && break; kill -0 $spid 2>/dev/null || break; sleep 0.1; done
    url=$(grep -o 'http://[0-9.]*:[0-9]*/' serve.err | head -n 1)
    if [ -n "$url" ] && curl -sf --data-binary @"$home/examples/sentences.jsonl" "$url" -o served.jsonl && cmp -s served.jsonl emb.jsonl; then
      kill -TERM $spid; wait $spid 2>/dev/null
      if grep -q 'stopped after 1 request in 1 batch' serve.err; then pass "bin/distilbert embed --serve (POST = embed's lines; SIGTERM stops)" "-"
      else fail "bin/distilbert embed --serve" "no 'stopped after 1 request' on SIGTERM: $(tail -n 2 serve.err)"; fi
    else
      kill -TERM $spid 2>/dev/null; wait $spid 2>/dev/null
      fail "bin/distilbert embed --serve" "no answer equal to embed's lines (${url:-not serving}): $(tail -n 3 serve.err)"
    fi
  else skip "bin/distilbert embed --serve" "no curl here"; fi
  if check "bin/distilbert bench" 0 "${sandbox[@]}" "$home/bin/distilbert" bench --model minilm --device cpu --batch 2 --length 16 \
      --seconds 0.2 --input "$home/examples/sentences.jsonl" --json; then
    if [ "$(printf '%s\n' "$out" | grep -c '"tokens_per_s"')" -eq 2 ]; then pass "bin/distilbert bench (a fixed case and the example rows)"
    else fail "bin/distilbert bench" "expected 2 cases in: $out"; fi
  fi
fi

# 6. The GPU suite: passes on a GPU; elsewhere stops with the reason and a non-zero exit code.
if $gpu; then
  if check "bin/gpu-test" 0 "${sandbox[@]}" "$home/bin/gpu-test" --details=summary; then
    pass "bin/gpu-test: $(grep -o '[0-9]* tests successful' <<< "$out" | head -n 1)"
  fi
else
  if check "bin/gpu-test (no GPU: exit 1 with the reason)" 1 "${sandbox[@]}" "$home/bin/gpu-test"; then
    if has "$err" "gpu-test: no usable GPU: "; then pass "bin/gpu-test: exit 1, \"no usable GPU: <reason>\""
    else fail "bin/gpu-test" "no 'gpu-test: no usable GPU: ' line; stderr: $err"; fi
  fi
fi
# Every shipped test on this runtime (CPU tests run, GPU tests skip where no GPU is usable).
# With --reports-dir (XML reports: how a GPU machine's results come back), which needs java.xml.
reports=$(mktemp -d)
if check "bin/gpu-test --all --no-require-gpu" 0 "${sandbox[@]}" "$home/bin/gpu-test" --all --no-require-gpu --details=summary \
    --reports-dir "$reports"; then
  found=$(grep -o '[0-9]* tests found' <<< "$out" | grep -o '[0-9]*'); ok=$(grep -o '[0-9]* tests successful' <<< "$out" | grep -o '[0-9]*')
  aborted=$(grep -o '[0-9]* tests aborted' <<< "$out" | grep -o '[0-9]*')
  if [ "${found:-0}" -le 0 ]; then fail "bin/gpu-test --all --no-require-gpu" "no tests found"
  elif ! ls "$reports"/*.xml >/dev/null 2>&1; then fail "bin/gpu-test --reports-dir" "no XML report in $reports"
  else pass "bin/gpu-test --all --no-require-gpu --reports-dir: $found tests, $ok passed, $aborted skipped, XML report written"; fi
fi
rm -rf "$reports"

# 7. The benchmarks: listed, and one run briefly in a forked JVM of the bundled runtime (with -prof gc,
#    which needs jdk.management). JMH takes a machine-wide lock; wait while another run holds it.
if check "bin/bench -l" 0 "${sandbox[@]}" "$home/bin/bench" -l; then
  if has "$out" "distilbert.bench.TokenizerBenchmark.singleThread"; then pass "bin/bench -l: $(grep -c '^distilbert\.' <<< "$out") benchmarks"
  else fail "bin/bench -l" "TokenizerBenchmark not listed: $out"; fi
fi
bench=(TokenizerBenchmark.singleThread -p workload=sequences -f 1 -wi 0 -i 1 -r 1 -prof gc)
waited=0
while :; do
  run "${sandbox[@]}" "$home/bin/bench" "${bench[@]}"
  has "$out$err" "Unable to acquire the JMH lock" && [ "$waited" -lt 600 ] || break
  [ "$waited" -gt 0 ] || echo "  another JMH run holds /tmp/jmh.lock; waiting for it to finish (up to 10 min)"
  sleep 15; waited=$((waited + 15))
done
if has "$out$err" "Unable to acquire the JMH lock"; then
  skip "bin/bench TokenizerBenchmark" "another JMH run held /tmp/jmh.lock for 10 min"
elif [ "$code" -ne 0 ]; then fail "bin/bench TokenizerBenchmark" "exit code $code"
elif has "$out" "data/parity-corpus.jsonl.gz" && has "$out" "gc.alloc.rate"; then
  pass "bin/bench TokenizerBenchmark: $(grep -E '^TokenizerBenchmark\.singleThread +' <<< "$out" | awk '{print $(NF-1), $NF}' | head -n 1)"
else fail "bin/bench TokenizerBenchmark" "no corpus line or no gc.alloc.rate in the output"; fi

# 8. The GPU inference benchmark (bin/gpu-bench): its help, the Java harness on one tiny CPU case from the
#    tarball's runtime, a bad option, and where python3 with numpy is here, the whole runner on the CPU
#    with bench/peer/selftest's stand-ins for torch and transformers: the pipeline is proven before GPU
#    time is spent on it.
if check "bin/gpu-bench --help" 0 "${sandbox[@]}" "$home/bin/gpu-bench" --help; then
  if has "$out" "bin/gpu-bench harness"; then pass "bin/gpu-bench --help"; else fail "bin/gpu-bench --help" "printed: $out"; fi
fi
if check "bin/gpu-bench harness (tiny model, CPU)" 0 "${sandbox[@]}" "$home/bin/gpu-bench" harness --random-base tiny \
    --random-size tiny --device cpu --batch 2 --length 8 --mix "$home/data/parity-corpus.jsonl.gz" \
    --tokenizer "$home/models/bert-base-uncased" --warmup 1 --iters 1 --inputs-out inputs \
    --logits-out logits.safetensors --json gpu-bench.json; then
  doc=$(cat gpu-bench.json 2>/dev/null)
  if has "$doc" '"name" : "fixed-b2-l8"' && has "$doc" '"name" : "mix-b2"' && ! has "$doc" '"status" : "failed"' \
      && [ -f inputs/inputs.safetensors ] && [ -f logits.safetensors ]; then
    pass "bin/gpu-bench harness: fixed-b2-l8 and mix-b2 on the CPU"
  else fail "bin/gpu-bench harness" "gpu-bench.json lacks a case, a case failed, or inputs/logits are missing"; fi
fi
if check "bin/gpu-bench harness --bogus (exit 2)" 2 "${sandbox[@]}" "$home/bin/gpu-bench" harness --bogus; then
  if has "$err" "unknown option"; then pass "bin/gpu-bench harness --bogus: exit 2, says why"; else fail "bin/gpu-bench harness --bogus" "stderr: $err"; fi
fi
py=$(command -v python3 || true)
# The interpreter itself, not a launcher such as pyenv's shim (a script needing tools the sandbox lacks).
[ -n "$py" ] && py=$("$py" -c 'import sys; print(sys.executable)' 2>/dev/null)
if [ -z "$py" ] || ! "$py" -c 'import numpy' >/dev/null 2>&1; then
  skip "bin/gpu-bench, whole runner on the CPU" "no python3 with numpy here"
elif [ ! -d "$root/bench/peer/selftest" ]; then
  skip "bin/gpu-bench, whole runner on the CPU" "no $root/bench/peer/selftest (the torch stand-ins)"
else
  mkdir -p "$tmp/path-bench"
  for t in bash env dirname readlink sed head cat date mkdir mktemp cp rm tail timeout; do
    command -v "$t" >/dev/null && ln -sf "$(command -v "$t")" "$tmp/path-bench/$t"
  done
  ln -sf "$py" "$tmp/path-bench/python3"
  if check "bin/gpu-bench --device cpu (stand-ins)" 0 env -i "PATH=$tmp/path-bench" "HOME=$tmp/home" \
      "PYTHONPATH=$root/bench/peer/selftest" PYTHONDONTWRITEBYTECODE=1 "$home/bin/gpu-bench" --device cpu \
      --random-size tiny --batch 1,4 --length 32 --warmup 1 --iters 2 --seconds 0.2 --skip ceilings \
      --out gpu-bench-out --work gpu-bench-work; then
    report=$(ls gpu-bench-out/gpu-inference-*.md 2>/dev/null | head -n 1)
    if [ -n "$report" ] && has "$(cat "$report")" "Overall: **ok**" && [ -f gpu-bench-out/raw/hf-sdpa.json ]; then
      pass "bin/gpu-bench --device cpu: every part, logits check ok (stand-ins)"
    else fail "bin/gpu-bench --device cpu" "no report, or its logits check is not ok: ${report:-none}"; fi
  fi
fi

# 9. The tarball's launcher loads the Vector API for the same commands as the repository's.
vec() { sed -n 's/^ *\(""|.*\)) vector=() ;;$/\1/p' "$1"; }
if [ "$(vec "$root/distilbert")" = "$(vec "$home/bin/distilbert")" ] && [ -n "$(vec "$home/bin/distilbert")" ]; then
  pass "bin/distilbert and ./distilbert: same commands without the Vector API" "-"
else fail "launchers agree" "./distilbert and bin/distilbert list different commands without the Vector API"; fi

# 10. The GPU session's rehearsal (scripts/gpu-session.sh --cpu): every step of the one-call plan but
# sanitize (no compute-sanitizer here) and embed (needs real transformers), on this tarball, and what it
# leaves in OUT is what the device tool brings back: at most 8 plain files, under 16 MiB each, named in
# letters, digits, '.', '_' and '-', the results archive holding the JUnit XML and the benchmark report.
if [ -z "$py" ] || ! "$py" -c 'import numpy' >/dev/null 2>&1; then
  skip "scripts/gpu-session.sh --cpu (rehearsal)" "no python3 with numpy here"
else
  gs=$tmp/gpu-session
  if check "scripts/gpu-session.sh --cpu" 0 env DISTILBERT_TARBALL="$tarball" PYTHON="$py" GPU_SESSION_WORK="$gs/work" \
      "$root/scripts/gpu-session.sh" --cpu --out "$gs/out" --budget 300 probe test pipelines bench kernels attention; then
    files=$(find "$gs/out" -mindepth 1 | wc -l)
    odd=$(find "$gs/out" -mindepth 1 \( ! -type f -o -size +16M -o -name '*[!A-Za-z0-9._-]*' \) | head -n 3)
    listing=$(tar -tzf "$gs/out/results.tar.gz" 2>/dev/null)
    summary=$(cat "$gs/out/summary.md" 2>/dev/null)
    if [ "$files" -le 8 ] && [ -z "$odd" ] && has "$listing" "./gpu-test/TEST-junit-jupiter.xml" \
        && has "$listing" "./bench/gpu-inference.md" && has "$summary" "pipelines: passed" && has "$summary" "bench: passed" \
        && has "$summary" "attention: passed" && has "$summary" "kernels: passed" && has "$listing" "./kernels/kernels.md" \
        && [ -f "$gs/out/gpu-inference.md" ]; then
      pass "scripts/gpu-session.sh --cpu: 6 steps, $files files in OUT, results archived"
    else fail "scripts/gpu-session.sh --cpu" "OUT has $files entries ($odd), or the archive or summary lacks a step"; fi
  fi
fi


# 11. The tarball's CUDA path on the stand-in driver and cuBLAS (kernels-cu/src/test/fake-cuda, which the
# build makes): the jlink'd runtime loads JCuda's natives and cuBLAS through java.lang.foreign, loads the
# kernels, launches them (run by the kernel emulator, kernels-cu/src/test/emu) and copies back: MiniLM's
# embeddings on --device cuda in bf16 against step 5's on the CPU; bin/gpu-test's DeviceMemoryTest and
# CublasTest pass for real on them (device memory is host memory; the stand-in cuBLAS computes the products).
fake=$root/kernels-cu/target/cmake/fake-cuda
if [ ! -f "$fake/libcuda.so.1" ]; then skip "the tarball's CUDA path on the stand-in driver" "no $fake (./dev build makes it)"
elif [ ! -d "$tmp/work/minilm" ]; then skip "the tarball's CUDA path on the stand-in driver" "no converted MiniLM (step 5)"
else
  fakeenv=("${sandbox[@]}" "LD_LIBRARY_PATH=$fake" "DISTILBERT_CUBLAS_DIR=$fake"
           "FAKE_CUDA_EMULATE=$root/kernels-cu/target/cmake/emu"
           "FAKE_CUDA_SIGNATURES=$root/kernels-cu/target/kernel-resources/distilbert/kernels")
  if check "bin/distilbert embed --device cuda (stand-ins)" 0 "${fakeenv[@]}" "$home/bin/distilbert" embed --model minilm \
      --normalize --device cuda --precision bf16 --input "$home/examples/sentences.jsonl" --output emb-cuda.jsonl; then
    n=$(wc -l < "$home/examples/sentences.jsonl")
    # the cosine of each bf16 embedding with step 5's fp32 CPU one (both normalised): the worst of them
    worst=$(paste -d '\t' emb.jsonl emb-cuda.jsonl | awk -F '\t' '{
        sub(/^.*\[/, "", $1); sub(/\].*$/, "", $1); sub(/^.*\[/, "", $2); sub(/\].*$/, "", $2)
        na = split($1, a, ","); nb = split($2, b, ",")
        if (na != nb || na < 2) { print "shape"; exit }
        d = 0; for (i = 1; i <= na; i++) d += a[i] * b[i]
        if (NR == 1 || d < w) w = d
      } END { if (w != "") printf "%.5f", w }')
    if [ "$(grep -c '"embedding"' emb-cuda.jsonl)" -eq "$n" ] && ! has "$err" "CPU" \
        && awk -v w="$worst" 'BEGIN { exit !(w + 0 >= 0.999) }'; then
      pass "bin/distilbert embed --device cuda on the stand-in driver, kernels emulated: $n rows, bf16 cosine with the CPU >= $worst"
    else fail "bin/distilbert embed --device cuda (stand-ins)" "expected $n embeddings, cosine >= 0.999 with the CPU's (worst: $worst), no CPU fallback; stderr: $err"; fi
  fi
  if check "bin/gpu-test DeviceMemoryTest, CublasTest (stand-ins)" 0 "${fakeenv[@]}" "$home/bin/gpu-test" \
      --include-classname '.*(DeviceMemoryTest|CublasTest)' --details=summary; then
    found=$(printf '%s\n' "$out" | sed -n 's/^\[ *\([0-9]*\) tests successful.*/\1/p' | head -n 1)
    if [ "${found:-0}" -ge 190 ]; then pass "bin/gpu-test on the stand-in driver: $found GPU tests passed (memory, every GEMM route)"
    else fail "bin/gpu-test (stand-ins)" "expected the 193 tests of DeviceMemoryTest and CublasTest to pass, got ${found:-none}"; fi
  fi
fi

# 12. The GPU session's other rehearsal (scripts/gpu-session.sh --emulated): the tarball's whole GPU test
# suite and the golden tests required to pass, and the pipelines on --device cuda against the CPU, with
# every kernel run by the kernel emulator (kernels-cu/src/test/emu) on the stand-in driver.
emu=$root/kernels-cu/target/cmake/emu
if [ ! -f "$fake/libcuda.so.1" ] || [ -z "$(ls "$emu"/libemu_*.so 2>/dev/null)" ]; then
  skip "scripts/gpu-session.sh --emulated" "no $fake or $emu (./dev build makes them)"
elif [ -z "$py" ]; then skip "scripts/gpu-session.sh --emulated" "no python3 here"
else
  ge=$tmp/gpu-session-emulated
  if check "scripts/gpu-session.sh --emulated" 0 env DISTILBERT_TARBALL="$tarball" PYTHON="$py" GPU_SESSION_WORK="$ge/work" \
      "$root/scripts/gpu-session.sh" --emulated --out "$ge/out" --budget 420 probe test pipelines; then
    summary=$(cat "$ge/out/summary.md" 2>/dev/null)
    tests=$(printf '%s\n' "$summary" | sed -n 's/^\[ *\([0-9]*\) tests successful.*/\1/p' | paste -sd+ | bc)
    if has "$summary" "test: passed" && has "$summary" "pipelines: passed" && [ "${tests:-0}" -ge 400 ]; then
      pass "scripts/gpu-session.sh --emulated: $tests GPU and golden tests passed, pipelines CUDA = CPU, kernels emulated"
    else fail "scripts/gpu-session.sh --emulated" "the summary lacks a passed test or pipelines step, or ${tests:-no} tests passed"; fi
  fi
fi

echo
printf '%s\n' "${results[@]}"
echo
awk -v b="$size" 'BEGIN { printf "tarball %.1f MB (limit 60 MB)\n", b / 1e6 }'
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$size" -lt 60000000 ]
