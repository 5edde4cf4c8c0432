#!/usr/bin/env bash
# Lays out, jlinks and tars the self-contained distribution: dist/distilbert-VERSION-linux-x86_64.tar.gz.
# Run by the dist module at package (`./dev dist`, i.e. mvn -Pdist package -DskipTests), after Maven has
# built every module and copied the jars this needs into dist/target/jars/{bench,test}.
#   make-dist.sh --version V --jdk JAVA_HOME --jars DIR
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
version= jdk= jars=
while [ $# -gt 0 ]; do
  case "$1" in
    --version) version=$2; shift 2 ;;
    --jdk) jdk=$2; shift 2 ;;
    --jars) jars=$2; shift 2 ;;
    *) echo "make-dist: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ -n "$version" ] && [ -n "$jdk" ] && [ -n "$jars" ] || { echo "usage: make-dist.sh --version V --jdk JAVA_HOME --jars DIR" >&2; exit 2; }
die() { echo "make-dist: $*" >&2; exit 1; }

# The runtime is the build machine's JDK, cut down, and the JCuda natives are Linux x86-64's.
[ "$(uname -s)/$(uname -m)" = Linux/x86_64 ] || die "builds the linux-x86_64 tarball, so it must run on Linux x86-64 (this is $(uname -s)/$(uname -m))"
[ -x "$jdk/bin/jlink" ] || die "$jdk has no bin/jlink"
for t in unzip sha256sum gzip tar; do command -v "$t" >/dev/null || die "needs $t"; done

# The Java modules of the runtime. jdeps over every jar of the tarball also names java.desktop and
# java.sql; they are left out on purpose (~4 MB compressed) because nothing we run reaches them:
# Jackson declares them `requires static` and looks for java.beans / java.sql types by name;
# commons-math3 uses java.awt.geom only in its 2-D geometry; JUnit's console uses java.sql only in
# a CSV parser's ResultSet routines. java.xml is in: JUnit's --reports-dir writes XML reports
# (javax.xml.stream), which is how a GPU machine's test results come back. dist/check-dist.sh runs the commands, the
# test suite and a benchmark on this runtime.
modules=(
  java.base
  java.logging          # JCuda, JUnit, Jackson
  java.management       # JMH (runner, forks, profilers)
  jdk.management        # JMH -prof gc: per-thread allocated bytes (com.sun.management)
  jdk.unsupported       # JMH (sun.misc.Unsafe)
  jdk.incubator.vector  # the CPU backend's matmul (VectorGemm)
  jdk.httpserver        # distilbert --serve (com.sun.net.httpserver)
  jdk.zipfs             # JUnit scans the test jars as zip file systems (a service: jdeps cannot see it)
  java.xml              # JUnit's XML reports (bin/gpu-test --reports-dir)
)
left_out=(java.desktop java.sql)

name=distilbert-$version
out=$root/dist
stage=$root/dist/target/$name
tarball=$out/$name-linux-x86_64.tar.gz
rm -rf "$stage" "$tarball"
mkdir -p "$stage"/{bin,lib,test,bench/peer,models/bert-base-uncased,data,examples}

# lib/: the command line's runtime class path, exactly what the repository's ./distilbert runs.
[ -f "$root/cli/target/lib/cli.jar" ] || die "cli/target/lib/cli.jar is missing: the cli module was not packaged"
cp "$root"/cli/target/lib/*.jar "$stage/lib/"

# JCuda's natives jar holds JNI libraries for JCuda's driver API, runtime API, NVRTC and the PTX
# compiler (26 MB, of which the PTX compiler alone is 24 MB). Keep the driver's, and any other that
# a jar of ours refers to (a class name such as jcuda/runtime/... in its class files).
natives=$(ls "$stage"/lib/jcuda-natives-*-linux-x86_64.jar 2>/dev/null | head -n 1)
[ -n "$natives" ] || die "no jcuda-natives-*-linux-x86_64.jar in cli/target/lib: JCuda could not load its natives"
keep=(JCudaDriver)
refers() { # refers JAR PACKAGE_PATH: does a class file in JAR name a class of that package?
  local n; n=$(unzip -p "$1" '*.class' 2>/dev/null | grep -ac "$2" || true); [ "${n:-0}" -gt 0 ]
}
ours=()
for j in "$stage"/lib/*.jar; do case "${j##*/}" in jcuda-[0-9]*|jcuda-natives-*) ;; *) ours+=("$j") ;; esac; done
for pair in runtime:JCudaRuntime nvrtc:JNvrtc nvptxcompiler:JNvPTXCompiler; do
  for j in "${ours[@]}"; do
    if refers "$j" "jcuda/${pair%%:*}/"; then keep+=("${pair#*:}"); break; fi
  done
done
refers "$stage"/lib/jcuda-bridge-*.jar "jcuda/driver/" || die "the jcuda-bridge jar names no jcuda/driver class: the natives check is broken"

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && unzip -q "$natives")
for so in "$tmp"/lib/*.so; do
  base=$(basename "$so"); base=${base#lib}; base=${base%%-*}
  printf '%s\n' "${keep[@]}" | grep -qx "$base" || rm "$so"
done
ls "$tmp"/lib/libJCudaDriver-*-linux-x86_64.so >/dev/null 2>&1 || die "$natives has no libJCudaDriver for linux-x86_64"
mv "$tmp/META-INF/MANIFEST.MF" "$tmp/manifest.mf"
rm "$natives"
"$jdk/bin/jar" --create --file "$natives" --manifest "$tmp/manifest.mf" -C "$tmp" lib -C "$tmp" META-INF
natives_kept=$(cd "$tmp/lib" && ls)

# bench/: the benchmarks and what they need beyond lib/ (JMH), without ONNX Runtime and the
# all-MiniLM-L6-v2 jar (dist/pom.xml leaves them out).
key() { local n=${1##*/}; n=${n%.jar}; echo "${n%%-[0-9]*}"; }
lib_keys=$(for j in "$stage"/lib/*.jar; do key "$j"; done)
for j in "$jars"/bench/*.jar; do
  printf '%s\n' "$lib_keys" | grep -qx "$(key "$j")" || cp "$j" "$stage/bench/"
done
ls "$stage"/bench/bench-*.jar >/dev/null 2>&1 || die "no bench jar in $jars/bench"

# test/: the test classes of jcuda-bridge, kernels-cu and model, their test-scope libraries, JUnit's console launcher.
cp "$jars"/test/*.jar "$stage/test/"
ls "$stage"/test/junit-platform-console-standalone-*.jar >/dev/null 2>&1 || die "no JUnit console launcher in $jars/test"
for heavy in onnxruntime langchain4j; do
  if ls "$stage"/*/"$heavy"*.jar >/dev/null 2>&1; then die "$heavy must not be in the tarball"; fi
done

# Data: bert-base-uncased's tokenizer.json (unpacked by the build), the tokenizer benchmark's corpus, the README's example.
tok=$root/build/models/bert-base-uncased/tokenizer.json
[ -f "$tok" ] || die "$tok is missing (the root pom unpacks it at generate-resources: run ./dev dist from the repository root)"
cp "$tok" "$stage/models/bert-base-uncased/"
cp "$root/tokenizer/src/test/resources/parity/corpus.jsonl.gz" "$stage/data/parity-corpus.jsonl.gz"
cp "$root"/examples/*.jsonl "$stage/examples/"

cp "$root"/dist/src/bin/* "$stage/bin/"
# The GPU inference benchmark: its runner as bin/gpu-bench, beside it (in bench/peer/) the HuggingFace
# peer, the ceilings and the report scripts it runs with the machine's python3 (not the test stand-ins
# of bench/peer/selftest).
cp "$root/bench/run-gpu-bench.sh" "$stage/bin/gpu-bench"
cp "$root"/bench/peer/*.py "$stage/bench/peer/"
cp "$root/bench/serve-load.py" "$stage/bench/"
for f in hf_inference.py ceilings.py gpu_report.py gpu_common.py; do
  [ -f "$stage/bench/peer/$f" ] || die "bench/peer/$f is missing: bin/gpu-bench needs it"
done
chmod 755 "$stage"/bin/* "$stage"/bench/peer/{hf_inference,ceilings,gpu_report}.py

# runtime/: jlink. jdeps first, so that a new dependency on a module we do not ship fails here, not on a GPU machine.
all_jars=("$stage"/lib/*.jar "$stage"/bench/*.jar "$stage"/test/*.jar)
found=$("$jdk/bin/jdeps" --multi-release 25 --ignore-missing-deps --list-deps "${all_jars[@]}" 2>/dev/null \
  | sed -n 's/^ *\([a-z][a-z0-9.]*\)$/\1/p' | sort -u)
missing=$(printf '%s\n' $found | grep -vxF -f <(printf '%s\n' "${modules[@]}" "${left_out[@]}") || true)
[ -z "$missing" ] || die "jdeps finds modules the runtime would lack: $(echo $missing). Add each to modules (or to left_out, saying why) in dist/make-dist.sh."
"$jdk/bin/jlink" --add-modules "$(IFS=,; echo "${modules[*]}")" --strip-debug --no-header-files --no-man-pages \
  --compress=zip-9 --output "$stage/runtime" 2>&1 | { grep -v 'Using incubator modules' || true; } >&2
"$stage/runtime/bin/java" -version >/dev/null 2>&1 || die "the jlink'd runtime does not start"

sed -e "s/@VERSION@/$version/g" -e "s/@MODULES@/$(IFS=,; echo "${modules[*]}" | sed 's/,/, /g')/" \
    -e "s/@NATIVES@/$(echo $natives_kept)/" "$root/dist/src/README.txt" > "$stage/README.txt"

# The same jar in two folders (commons-math3: JMH's and the tests') is stored once: a hard link, which tar keeps.
declare -A seen=()
while read -r sum file; do
  if [ -n "${seen[$sum]:-}" ]; then ln -f "${seen[$sum]}" "$file"; else seen[$sum]=$file; fi
done < <(cd "$stage" && find lib bench test -name '*.jar' | sort | xargs sha256sum | sed "s|  |  $stage/|")

tar -C "$root/dist/target" --sort=name --owner=0 --group=0 --numeric-owner -cf - "$name" | gzip -9 > "$tarball"
echo "$tarball" > "$root/dist/target/tarball"

# Report: each folder unpacked and as it weighs in the tarball (gzip of its own tar).
bytes=$(stat -c %s "$tarball")
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
echo
echo "$tarball"
printf '  %-10s %10s %10s\n' folder unpacked compressed
for d in runtime lib test bench models data bin examples README.txt; do
  u=$(du -sb "$stage/$d" | cut -f1); c=$(tar -C "$stage" -cf - "$d" | gzip -9 | wc -c)
  printf '  %-10s %10s %10s\n' "$d" "$(mb "$u")" "$(mb "$c")"
done
printf '  %-10s %10s %10s\n' total "$(mb "$(du -sb "$stage" | cut -f1)")" "$(mb "$bytes")"
echo "  (compressed: each folder alone; a jar in two folders is counted in both and stored once)"
echo "  runtime modules: $(IFS=,; echo "${modules[*]}")"
echo "  JCuda natives kept: $(echo $natives_kept)"
limit=60000000
[ "$bytes" -lt "$limit" ] || die "the tarball is $(mb "$bytes"), over the $(mb $limit) limit"
