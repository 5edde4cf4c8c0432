#!/usr/bin/env bash
# Runs example.SemanticSearch (examples/src/main/java) with the JVM options the library needs:
#   examples/semantic-search.sh MODEL_DIR QUERY... [--device auto|cpu|cuda|cuda:N] [--documents FILE]
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
. "$root/scripts/find-jdk.sh"
find_jdk25
if [ ! -f "$root/examples/target/examples-0.1.0-SNAPSHOT.jar" ] || [ ! -f "$root/cli/target/lib/model-0.1.0-SNAPSHOT.jar" ]; then
  echo "semantic-search: building the project (./dev build)..." >&2
  "$root/dev" build >&2
fi
exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector \
  -cp "$root/examples/target/examples-0.1.0-SNAPSHOT.jar:$root/cli/target/lib/*" example.SemanticSearch "$@"
