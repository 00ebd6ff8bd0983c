#!/usr/bin/env bash
# The shim's own work on a warm start of stamped programs, in one process: epf_prefetch_path (the
# exec wrapper's and the auditor's call) on each FILE, page cache warm, best of 7 rounds of N calls,
# in CPU time of the process (CLOCK_PROCESS_CPUTIME_ID: time spent waiting for a CPU on a loaded
# machine does not count) and wall time. For docs/BENCHMARKS.md ("Warm starts: nothing read twice").
#
#   SHIM=DIR bash bench/shim-warm-work.sh [N] FILE...
#
# SHIM (default shim/) is the shim's source folder, so two versions can be compared (e.g. one
# exported by `git archive REV shim | tar -x -C DIR`). ELFPREFETCH_DEVICE and the other variables
# apply as in a real start.
set -euo pipefail
N=50
if [[ ${1:-} =~ ^[0-9]+$ ]]; then N=$1; shift; fi
[ $# -gt 0 ] || { echo "usage: SHIM=DIR bash bench/shim-warm-work.sh [N] FILE..." >&2; exit 2; }
files=()
for f in "$@"; do files+=("$(realpath "$f")"); done
set -- "${files[@]}"
SHIM=$(realpath "${SHIM:-$(dirname "$0")/../shim}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/inwarm.c" <<'C'
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "epf_prefetch.h"
static double now(clockid_t c) { struct timespec t; clock_gettime(c, &t); return t.tv_sec * 1e6 + t.tv_nsec / 1e3; }
int main(int argc, char **argv) {
  int n = atoi(argv[1]);
  struct epf_options o;
  epf_options_load(&o);
  for (int f = 2; f < argc; f++) {
    double cpu = 1e18, wall = 1e18;
    int objects = 0;
    for (int round = 0; round < 7; round++) {
      double a = now(CLOCK_PROCESS_CPUTIME_ID), w = now(CLOCK_MONOTONIC);
      for (int k = 0; k < n; k++) objects = epf_prefetch_path(argv[f], &o, 0);
      double b = now(CLOCK_PROCESS_CPUTIME_ID), x = now(CLOCK_MONOTONIC);
      if ((b - a) / n < cpu) cpu = (b - a) / n;
      if ((x - w) / n < wall) wall = (x - w) / n;
    }
    printf("%-40s %3d objects  %8.1f us CPU  %8.1f us wall  per start\n", argv[f], objects, cpu, wall);
  }
  return 0;
}
C
# the shim core, as shim/core.mk lists it
read -ra core <<<"$(sed -n 's/^SHIM_CORE = //p' "$SHIM/core.mk")"
gcc -O2 -std=c99 -I "$SHIM" -o "$tmp/inwarm" "$tmp/inwarm.c" "${core[@]/#/$SHIM/}"
# every file with the diagnostics on (7 rounds of one call): what a warm start issues
for f in "$@"; do
  ELFPREFETCH_DEBUG=1 "$tmp/inwarm" 1 "$f" 2>&1 >/dev/null | perl -ne '
    if (/prefetched/) { $n++; /(\d+) bytes in (\d+) requests/ and ($b += $1, $r += $2);
      /(\d+) requests of (\d+) bytes cached already/ and ($cr += $1, $cb += $2) }
    END { printf "%-40s %d objects: issued %d requests, %d bytes; left out as cached %d requests, %d bytes\n", $ARGV[0] // "'"$f"'", $n / 7, $r / 7, $b / 7, $cr / 7, $cb / 7 }'
done
env -u ELFPREFETCH_DEBUG -u ELFPREFETCH_DISABLE "$tmp/inwarm" "$N" "$@"
echo "(load average: $(cut -d' ' -f1-3 /proc/loadavg))"
