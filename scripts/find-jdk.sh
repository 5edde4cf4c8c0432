# Sourced by ./dev and ./distilbert: sets JAVA_HOME to a JDK 25 or newer, or explains why it cannot.
# Order: $JAVA_HOME, the java on PATH, then the usual install folders (newest first).
_java_feature() { # prints the feature release of the java binary $1, e.g. 25
  "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p' | head -n 1
}
_jdk_ok() { [ -x "$1/bin/java" ] && [ -x "$1/bin/javac" ] && v=$(_java_feature "$1/bin/java") && [ -n "$v" ] && [ "$v" -ge 25 ]; }
find_jdk25() {
  if [ -n "${JAVA_HOME:-}" ] && _jdk_ok "$JAVA_HOME"; then return 0; fi
  if command -v javac >/dev/null 2>&1; then
    local home; home=$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")
    if _jdk_ok "$home"; then export JAVA_HOME="$home"; return 0; fi
  fi
  local d
  for d in $(ls -d /usr/lib/jvm/* /opt/java/* /opt/jdk* /usr/local/lib/jvm/* "$HOME"/.sdkman/candidates/java/* "$HOME"/.jdks/* 2>/dev/null | sort -rV); do
    if _jdk_ok "$d"; then export JAVA_HOME="$d"; return 0; fi
  done
  echo "error: distilbert-cuda needs JDK 25 or newer and found none (looked at \$JAVA_HOME, PATH, /usr/lib/jvm, /opt/java, ~/.sdkman, ~/.jdks)." >&2
  echo "       Install one (e.g. Temurin 25) or point JAVA_HOME at it." >&2
  return 1
}
