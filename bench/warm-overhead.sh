#!/usr/bin/env bash
# Warm-start figures for docs/BENCHMARKS.md ("Warm starts: nothing read twice"): `elfprefetch
# bench --warm-overhead` on the programs of the cold-start matrix, RUNS (default 8) interleaved
# rounds each. Root trains with the exact method and binds the stamped copy over the program.
#
#   bash bench/warm-overhead.sh [OUTDIR] [RUNS]
#
# Writes OUTDIR/NAME.{txt,json} per program (default OUTDIR: /tmp/elfprefetch-warm-overhead).
# PROGRAMS (default: all seven) chooses; ELFPREFETCH_NATIVE_DIR selects another build of the
# shim (to compare two). `npx ts-node --transpile-only bench/warm-summary.ts DIR...` makes the
# table of docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/elfprefetch-warm-overhead}
RUNS=${2:-8}
mkdir -p "$OUT"
one() {
  local name=$1 loops=$2
  shift 2
  echo "== $name: $*" >&2
  node dist/cli/main.js bench --warm-overhead --runs "$RUNS" --loops "$loops" --report "$OUT/$name.json" -- "$@" >"$OUT/$name.txt"
  cat "$OUT/$name.txt"
}
# loops: starts per configuration and round, more for the short programs
for p in ${PROGRAMS:-node node-modules llvm-readelf gdb python3 git go}; do
  case $p in
    node) one node 10 node -e 0 ;;
    node-modules) one node-modules 10 node -e "require('http');require('crypto');require('zlib')" ;;
    llvm-readelf) one llvm-readelf 20 llvm-readelf-14 --version ;;
    gdb) one gdb 10 gdb --version ;;
    python3) one python3 20 /usr/bin/python3 -c pass ;;
    git) one git 40 git --version ;;
    go) one go 40 go version ;;
    *) echo "unknown program $p" >&2; exit 2 ;;
  esac
done
