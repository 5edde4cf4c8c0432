#!/usr/bin/env bash
# Batch scoring through Spark (spark/: SparkPipeline, ScoreJob) against the command line on the same rows,
# model and machine: what the Spark path costs, and that it gives the same vectors. CPU only (a GPU
# machine has no Spark jars: they are 280 MB, over what travels there). Writes
# bench/results/spark-cpu-<yyyy-mm-dd>-<host-kind>.md.
#
#   bench/run-spark-bench.sh [--rows N] [--runs R] [--host-kind NAME]
#
# Rows: the first N (default 2403) records of the tokenizer's parity corpus, as bench/peer/hf_embed.py
# --make-input takes them. Model: all-MiniLM-L6-v2 converted (build/models/all-MiniLM-L6-v2, the README's
# quick start makes it), mean pooling, normalized, --device cpu. Both sides start a JVM and load the model;
# the Spark side also starts a local Spark (local[N], N = nproc) and writes JSON. The two sides run R times
# (default 3), alternating; the table gives every run, the ratio compares the fastest of each.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
rows=2403
runs=3
host_kind="cpu$(nproc)"
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) rows=$2; shift ;;
    --runs) runs=$2; shift ;;
    --host-kind) host_kind=$2; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-spark-bench: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
. scripts/find-jdk.sh
find_jdk25
model=build/models/all-MiniLM-L6-v2
[ -f "$model/config.json" ] || { echo "run-spark-bench: $model is missing (run the README's quick start first)" >&2; exit 1; }
jar=$(ls spark/target/spark-*-all.jar 2>/dev/null | head -n 1)
[ -n "$jar" ] || { echo "run-spark-bench: no spark/target/spark-*-all.jar (./dev build)" >&2; exit 1; }
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
./dev mvn -o -q -pl spark dependency:build-classpath -Dmdep.includeScope=compile -Dmdep.outputFile="$w/cp.txt" >/dev/null
python3 bench/peer/hf_embed.py --make-input "$w/rows.jsonl" --corpus tokenizer/src/test/resources/parity/corpus.jsonl.gz --rows "$rows"

# what spark-submit gives its JVMs (Spark's JavaModuleOptions), and local[nproc]
opts=(--add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow
  --add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.lang.invoke=ALL-UNNAMED
  --add-opens=java.base/java.lang.reflect=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED
  --add-opens=java.base/java.net=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED
  --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.util.concurrent=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED --add-opens=java.base/jdk.internal.ref=ALL-UNNAMED
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/sun.nio.cs=ALL-UNNAMED
  --add-opens=java.base/sun.util.calendar=ALL-UNNAMED -Dio.netty.tryReflectionSetAccessible=true)
cli=(./distilbert embed --model "$model" --normalize --device cpu --input "$w/rows.jsonl" --output "$w/cli.jsonl")
job=(distilbert.spark.ScoreJob --master "local[$(nproc)]" --task embed --model "$model" --normalize --device cpu
  --input "$w/rows.jsonl" --output "$w/spark" --output-format json)
spark=("$JAVA_HOME/bin/java" "${opts[@]}" -cp "$jar:$(cat "$w/cp.txt")" "${job[@]}")

secs() { local s e; s=$(date +%s.%N); "$@" >"$w/last.log" 2>&1 || { cat "$w/last.log" >&2; return 1; }; e=$(date +%s.%N); echo "$e - $s" | bc -l; }
"${cli[@]}" >/dev/null 2>&1; rm -f "$w/cli.jsonl"          # warm the page cache and the launcher's build check
t_clis=(); t_sparks=()
for r in $(seq "$runs"); do
  rm -rf "$w/cli.jsonl" "$w/spark"
  t_clis+=("$(secs "${cli[@]}")")
  t_sparks+=("$(SPARK_LOCAL_IP=127.0.0.1 secs "${spark[@]}")")
  summary=$(grep '^distilbert-spark:' "$w/last.log")
done
t_cli=$(printf '%s\n' "${t_clis[@]}" | sort -g | head -n 1)
t_spark=$(printf '%s\n' "${t_sparks[@]}" | sort -g | head -n 1)
cat "$w"/spark/part-*.json | python3 -c '
import json, sys
for line in sys.stdin:
    print(json.dumps({"embedding": json.loads(line)["embedding"]}))' > "$w/spark.jsonl"
compare=$(python3 bench/peer/hf_embed.py --compare "$w/cli.jsonl" "$w/spark.jsonl" --min-cosine 0.999999 2>&1)

day=$(date -u +%Y-%m-%d)
out=bench/results/spark-cpu-$day-$host_kind.md
{
  echo "# Batch scoring through Spark against the command line, on the CPU (not a GPU result)"
  echo
  echo "Written by \`bench/run-spark-bench.sh --rows $rows\`. The same rows, model and machine through"
  echo "\`distilbert embed\` and through the Spark job (\`distilbert.spark.ScoreJob\`, local[$(nproc)]): the wall time"
  echo "of each command, JVM start, model load and (Spark) the local Spark's start included."
  echo
  echo "- Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $("$JAVA_HOME/bin/java" -version 2>&1 | head -n 1)"
  echo "- Spark: $(sed -n 's/.*<spark.version>\(.*\)<\/spark.version>.*/\1/p' spark/pom.xml) (Maven Central jars on the classpath, as a cluster provides them; the job's jar: \`$(basename "$jar")\`)"
  echo "- Model: all-MiniLM-L6-v2 converted (\`$model\`), mean pooling, \`--normalize\`, \`--device cpu\`"
  echo "- Rows: the first $rows records of the tokenizer's parity corpus (many scripts and lengths)"
  echo "- Commands:"
  echo '  ```'
  echo "  ${cli[*]}" | sed "s#$w#W#g"
  echo "  java <spark-submit's JVM options> -cp $(basename "$jar"):<Spark's jars> ${job[*]}" | sed "s#$w#W#g"
  echo '  ```'
  echo
  echo "| run | rows | seconds, each run | fastest | rows/s (fastest) |"
  echo "| --- | ---: | --- | ---: | ---: |"
  printf '| `distilbert embed` | %d | %s | %.1f | %.0f |\n' "$rows" "$(printf '%.1f, ' "${t_clis[@]}" | sed 's/, $//')" "$t_cli" "$(echo "$rows / $t_cli" | bc -l)"
  printf '| Spark job, local[%d] | %d | %s | %.1f | %.0f |\n' "$(nproc)" "$rows" "$(printf '%.1f, ' "${t_sparks[@]}" | sed 's/, $//')" "$t_spark" "$(echo "$rows / $t_spark" | bc -l)"
  echo
  printf 'Spark / command line time, fastest runs: %.2f×.\n\n' "$(echo "$t_spark / $t_cli" | bc -l)"
  echo "The job's own report on its last run (model ms: the model's time, summed over tasks, without waiting for it): \`$summary\`" | sed "s#$w#W#g"
  echo
  echo "Same vectors, row by row in input order (\`hf_embed.py --compare\`): $compare"
} > "$out"
echo "run-spark-bench: $out"
cat "$out"
