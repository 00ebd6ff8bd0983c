#!/usr/bin/env bash
# Warm-start overhead of the loader shim on objects WITHOUT a note (the common case: every
# program and library nobody stamped). Runs PROG (default /bin/true) N times (default 1000)
# plain and through each hook, interleaved in rounds, and reports microseconds per run and,
# from the difference between the hook enabled and ELFPREFETCH_DISABLE=1 (hook loaded, shim
# idle), microseconds per object the shim looked at.
#
#   bash bench/shim-overhead.sh [N] [PROG ARGS...]
#
# Needs build/native (npm run build:native) and gcc (for the spawn loop, so that bash's own
# fork cost does not drown the numbers). Process start-up varies by tens of microseconds on a
# busy machine, so the script also times the shim's per-object work in one process: the core
# (shim/epf_prefetch.c) called on every ELF library in /usr/lib/x86_64-linux-gnu (none has a
# note) the way each hook calls it.
#
# STAMPED="FILE..." also times, in one process, the shim's whole work for each FILE's note (its own
# set and its library sets, page cache warm: what a warm start of a stamped program costs beyond
# the hook itself), best of 7 rounds of 50 calls. For docs/BENCHMARKS.md ("Warm-start overhead").
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
shift || true
[ $# -gt 0 ] || set -- /bin/true
make -s -C shim
NATIVE=$PWD/build/native
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/spawnloop.c" <<'C'
/* spawnloop N PROG ARGS...: runs PROG N times (posix_spawn + wait), prints ns per run. */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
extern char **environ;
int main(int argc, char **argv) {
  int n = atoi(argv[1]);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int i = 0; i < n; i++) {
    pid_t pid;
    int st;
    if (posix_spawn(&pid, argv[2], 0, 0, argv + 2, environ) != 0) return 2;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st)) return 3;
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%.0f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
  return 0;
}
C
gcc -O2 -o "$tmp/spawnloop" "$tmp/spawnloop.c"

PROG=$(command -v "$1")
shift
ARGS=("$@")

# name | env | argv prefix
configs=(plain exec exec-off audit audit-off preload preload-off)
run_config() { # config count -> ns per run
  local c=$1 n=$2
  case $c in
    plain) env -u LD_AUDIT -u LD_PRELOAD "$tmp/spawnloop" "$n" "$PROG" "${ARGS[@]}" ;;
    exec) env ELFPREFETCH_DISABLE=0 "$tmp/spawnloop" "$n" "$NATIVE/elfprefetch-exec" "$PROG" "${ARGS[@]}" ;;
    exec-off) env ELFPREFETCH_DISABLE=1 "$tmp/spawnloop" "$n" "$NATIVE/elfprefetch-exec" "$PROG" "${ARGS[@]}" ;;
    audit) env LD_AUDIT="$NATIVE/libelfprefetch-audit.so" "$tmp/spawnloop" "$n" "$PROG" "${ARGS[@]}" ;;
    audit-off) env ELFPREFETCH_DISABLE=1 LD_AUDIT="$NATIVE/libelfprefetch-audit.so" "$tmp/spawnloop" "$n" "$PROG" "${ARGS[@]}" ;;
    preload) env LD_PRELOAD="$NATIVE/libelfprefetch-preload.so" "$tmp/spawnloop" "$n" "$PROG" "${ARGS[@]}" ;;
    preload-off) env ELFPREFETCH_DISABLE=1 LD_PRELOAD="$NATIVE/libelfprefetch-preload.so" "$tmp/spawnloop" "$n" "$PROG" "${ARGS[@]}" ;;
  esac
}
# LD_AUDIT/LD_PRELOAD apply to spawnloop too, once per batch: amortized over the batch.

# Objects the shim looks at per run, from its diagnostics.
objects() { # config -> count of diagnostic lines for the program (not for spawnloop)
  local c=$1
  case $c in
    exec) ELFPREFETCH_DEBUG=1 "$NATIVE/elfprefetch-exec" "$PROG" "${ARGS[@]}" 2>&1 >/dev/null | grep -c '^elfprefetch: ' ;;
    audit) ELFPREFETCH_DEBUG=1 LD_AUDIT="$NATIVE/libelfprefetch-audit.so" "$PROG" "${ARGS[@]}" 2>&1 >/dev/null | grep -c '^elfprefetch: ' ;;
    preload) ELFPREFETCH_DEBUG=1 LD_PRELOAD="$NATIVE/libelfprefetch-preload.so" "$PROG" "${ARGS[@]}" 2>&1 >/dev/null | grep -c '^elfprefetch: ' ;;
  esac
}

ROUNDS=${ROUNDS:-20}
per=$(( (N + ROUNDS - 1) / ROUNDS ))
declare -A samples
for r in $(seq "$ROUNDS"); do
  for c in "${configs[@]}"; do samples[$c]+="$(run_config "$c" "$per") "; done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
minimum() { tr ' ' '\n' | grep . | sort -n | head -n 1; }

echo "elfprefetch shim overhead: $PROG ${ARGS[*]}, $ROUNDS rounds x $per runs per configuration ($(nproc) cores, $(uname -r))"
printf '%-12s %14s %14s\n' config 'us/run min' 'us/run median'
declare -A med low
for c in "${configs[@]}"; do
  med[$c]=$(echo "${samples[$c]}" | median)
  low[$c]=$(echo "${samples[$c]}" | minimum)
  awk -v c="$c" -v m="${med[$c]}" -v l="${low[$c]}" 'BEGIN {printf "%-12s %14.1f %14.1f\n", c, l / 1000, m / 1000}'
done
echo
echo "Per hook, from the round minimums (the medians in brackets); the machine's load shows as noise:"
printf '%-8s %8s %20s %26s %24s\n' hook objects 'us vs plain' 'us shim (on - off)' 'us per object'
for h in exec audit preload; do
  n=$(objects "$h")
  awk -v h="$h" -v n="$n" -v on="${low[$h]}" -v off="${low[$h-off]}" -v plain="${low[plain]}" \
    -v mon="${med[$h]}" -v moff="${med[$h-off]}" -v mplain="${med[plain]}" \
    'BEGIN {printf "%-8s %8d %9.1f [%8.1f] %14.1f [%8.1f] %12.2f [%8.2f]\n", h, n, (on - plain) / 1000, (mon - mplain) / 1000, (on - off) / 1000, (mon - moff) / 1000, (on - off) / 1000 / n, (mon - moff) / 1000 / n}'
done
echo "(load average: $(cut -d' ' -f1-3 /proc/loadavg))"

cat >"$tmp/inproc.c" <<'C'
/* inproc N FILES...: microseconds per object of the shim's checks on files without a note. */
#define _GNU_SOURCE
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "epf_prefetch.h"
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e6 + t.tv_nsec / 1e3; }
static struct epf_options o;
/* The libraries only: without a note in memory the main program's is read from its file, which
 * the audit and exec lines time already. */
static int mapped(struct dl_phdr_info *i, size_t size, void *data) {
  (void)size;
  if (!i->dlpi_name[0] || !strchr(i->dlpi_name, '/')) return 0;
  (*(int *)data)++;
  epf_prefetch_mapped(i->dlpi_name, i->dlpi_addr, i->dlpi_phdr, i->dlpi_phnum, &o, 0);
  return 0;
}
int main(int argc, char **argv) {
  int n = atoi(argv[1]), files = argc - 2;
  epf_options_load(&o);
  double best[3] = {1e18, 1e18, 1e18};
  for (int round = 0; round < 5; round++) {
    double a = now();
    for (int k = 0; k < n; k++) for (int f = 0; f < files; f++) epf_prefetch_loaded(argv[2 + f], &o, 0);
    double b = now();
    for (int k = 0; k < n; k++) for (int f = 0; f < files; f++) epf_prefetch_path(argv[2 + f], &o, 0);
    double c = now();
    int objects = 0;
    for (int k = 0; k < n * 50; k++) dl_iterate_phdr(mapped, &objects);
    double d = now();
    double v[3] = {(b - a) / n / files, (c - b) / n / files, (d - c) / objects};
    for (int i = 0; i < 3; i++) if (v[i] < best[i]) best[i] = v[i];
  }
  printf("audit   (loaded file: open, pread, close)       %6.2f us per object\n", best[0]);
  printf("exec    (file: open, fstat, pread, close)       %6.2f us per object\n", best[1]);
  printf("preload (in memory: a library's program headers, no syscall) %6.2f us per object\n", best[2]);
  return 0;
}
C
# the shim core, as shim/core.mk lists it
read -ra core <<<"$(sed -n 's/^SHIM_CORE = //p' shim/core.mk)"
gcc -O2 -std=c99 -I shim -o "$tmp/inproc" "$tmp/inproc.c" "${core[@]/#/shim/}"
mapfile -t libs < <(find /usr/lib/x86_64-linux-gnu -maxdepth 1 -name '*.so*' -type f 2>/dev/null | head -n 100)
echo
echo "In one process, best of 5 rounds over ${#libs[@]} libraries without a note (page cache warm):"
env -u ELFPREFETCH_DEBUG -u ELFPREFETCH_DISABLE "$tmp/inproc" 20 "${libs[@]}"

if [ -n "${STAMPED:-}" ]; then
  cat >"$tmp/inwarm.c" <<'C'
/* inwarm N FILE...: the shim's whole work for FILE's note, page cache warm, best of 7 rounds of N calls. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "epf_prefetch.h"
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e6 + t.tv_nsec / 1e3; }
int main(int argc, char **argv) {
  int n = atoi(argv[1]);
  struct epf_options o;
  epf_options_load(&o);
  for (int f = 2; f < argc; f++) {
    double best = 1e18;
    int objects = 0;
    for (int round = 0; round < 7; round++) {
      double a = now();
      for (int k = 0; k < n; k++) objects = epf_prefetch_path(argv[f], &o, 0);
      double b = now();
      if ((b - a) / n < best) best = (b - a) / n;
    }
    printf("%-40s %3d objects prefetched  %8.1f us per start\n", argv[f], objects, best);
  }
  return 0;
}
C
  gcc -O2 -std=c99 -I shim -o "$tmp/inwarm" "$tmp/inwarm.c" "${core[@]/#/shim/}"
  echo
  echo "The shim's work for a stamped program's note, in one process, page cache warm (best of 7 x 50):"
  # shellcheck disable=SC2086
  env -u ELFPREFETCH_DEBUG -u ELFPREFETCH_DISABLE "$tmp/inwarm" 50 $STAMPED
fi
