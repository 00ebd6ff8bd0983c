#!/usr/bin/env bash
# Cold-start figures for docs/BENCHMARKS.md ("Cold start"): `elfprefetch bench` on real programs
# of this machine, each with every device model, RUNS (default 3) interleaved rounds. Root only.
#
#   bash bench/cold-start.sh [OUTDIR] [RUNS]
#
# Writes OUTDIR/NAME.{txt,json,svg} per program (default OUTDIR: /tmp/elfprefetch-cold-start).
# MODELS (default "none cloud hdd net") and PROGRAMS (names below; default node python3 git)
# choose what runs; BENCH_ARGS is added to every `bench` (e.g. "--strategy demand ...").
# `npx ts-node --transpile-only bench/cold-summary.ts OUTDIR` turns the JSON into the tables of
# docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/elfprefetch-cold-start}
RUNS=${2:-3}
MODELS=${MODELS:-"none cloud hdd net"}
mkdir -p "$OUT"
margs=()
for m in $MODELS; do margs+=(--model "$m"); done
one() {
  local name=$1
  shift
  echo "== $name: $*" >&2
  # shellcheck disable=SC2086
  node dist/cli/main.js bench "${margs[@]}" ${BENCH_ARGS:-} --runs "$RUNS" --report "$OUT/$name.json" --svg "$OUT/$name.svg" -- "$@" >"$OUT/$name.txt"
  cat "$OUT/$name.txt"
}
if [ -n "${PROGRAMS:-}" ]; then
  for p in $PROGRAMS; do
    case $p in
      node) one node node -e 0 ;;
      node-modules) one node-modules node -e "require('http');require('crypto');require('zlib')" ;;
      python3) one python3 /usr/bin/python3 -c pass ;;
      git) one git git --version ;;
      gdb) one gdb gdb --version ;;
      llvm-readelf) one llvm-readelf llvm-readelf-14 --version ;;
      go) one go go version ;;
    esac
  done
else
  one node node -e 0
  one python3 /usr/bin/python3 -c pass
  one git git --version
fi
