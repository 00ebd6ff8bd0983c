#!/usr/bin/env bash
# What elfprefetchd adds to every exec when it has nothing to do: an exec storm of an unstamped
# program (default /bin/true), N execs (default 10,000) without the daemon and N with it running
# (its default notification mode, watching the file system of the program), and N more with the
# daemon stopped by SIGSTOP (the kernel still queues its events: what an exec pays for being
# watched, and proof that a stopped daemon holds nobody up), interleaved in ROUNDS rounds
# (default 10) so that drift in the machine's load hits all three alike. Each exec is
# timed alone (posix_spawn to waitpid); the script prints the median, p90 and p99 of both and
# their differences, the daemon's CPU time per exec it saw, the execs it saw (a count that does
# not drift), and its peak resident memory. Root only (fanotify).
#
#   sudo bash bench/daemon-storm.sh [N] [PROG ARGS...]
#
# MODE=permission runs the daemon with permission events instead (every exec then waits for it;
# there is no stopped phase then: it would hold the execs). To keep other people's execs out of
# it, give a copy of the program on a file system of its own (e.g. /dev/shm/true).
# IGNORE=no turns the daemon's ignore marks off (ignore-unstamped = no), so that every exec is
# handled: the cost of a first look, repeated N times. By default the program is looked at once
# per round and the kernel stops reporting its execs (docs/DAEMON.md).
# RECHECK=N sets recheck-seconds (unset: the daemon's default, 5): a stamped program handled is
# not reported again for N seconds; RECHECK=0 has every exec of it handled. DAEMON=PATH runs
# another build of the daemon (an older one, side by side: leave RECHECK unset for one that
# does not know the key).
# The figures are in docs/BENCHMARKS.md ("elfprefetchd").
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
shift || true
[ $# -gt 0 ] || set -- /bin/true
ROUNDS=${ROUNDS:-10}
MODE=${MODE:-notify}
IGNORE=${IGNORE:-yes}
RECHECK=${RECHECK:-}
[ "$(id -u)" = 0 ] || { echo "daemon-storm.sh: run it as root (fanotify needs CAP_SYS_ADMIN)" >&2; exit 1; }
make -s -C shim
DAEMON=${DAEMON:-$PWD/build/native/elfprefetchd}
tmp=$(mktemp -d)
pid=
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT

cat >"$tmp/storm.c" <<'C'
/* storm N OUT PROG ARGS...: runs PROG N times (posix_spawn + waitpid), appends each run's ns to OUT. */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
extern char **environ;
int main(int argc, char **argv) {
  if (argc < 4) return 2;
  int n = atoi(argv[1]);
  FILE *out = fopen(argv[2], "a");
  if (!out) return 2;
  long long *ns = calloc((size_t)n, sizeof *ns);
  for (int i = 0; i < n; i++) {
    struct timespec a, b;
    pid_t pid;
    int st;
    clock_gettime(CLOCK_MONOTONIC, &a);
    if (posix_spawn(&pid, argv[3], 0, 0, argv + 3, environ) != 0) return 3;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st)) return 4;
    clock_gettime(CLOCK_MONOTONIC, &b);
    ns[i] = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
  }
  for (int i = 0; i < n; i++) fprintf(out, "%lld\n", ns[i]);
  return fclose(out) != 0;
}
C
gcc -O2 -o "$tmp/storm" "$tmp/storm.c"

PROG=$(command -v "$1")
shift
FS=$(df --output=target "$PROG" | tail -1)
printf 'mode = %s\nfilesystem = %s\nignore-unstamped = %s\n%s' "$MODE" "$FS" "$IGNORE" "${RECHECK:+recheck-seconds = $RECHECK
}" >"$tmp/elfprefetchd.conf"
chmod 644 "$tmp/elfprefetchd.conf"
per=$((N / ROUNDS))
: >"$tmp/off"
: >"$tmp/on"
: >"$tmp/stopped"
cpu_ticks=0
hwm=0
seen=0
ignored=0
for r in $(seq 1 "$ROUNDS"); do
  "$tmp/storm" "$per" "$tmp/off" "$PROG" "$@"
  echo "$per" >>"$tmp/rounds"
  "$DAEMON" --foreground --config "$tmp/elfprefetchd.conf" 2>"$tmp/log.$r" &
  pid=$!
  # Listening once it said so.
  for _ in $(seq 100); do grep -q watching "$tmp/log.$r" && break; sleep 0.05; done
  t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  "$tmp/storm" "$per" "$tmp/on" "$PROG" "$@"
  # In permission mode a stopped daemon holds every exec it watches: no stopped phase there.
  if [ "$MODE" = notify ]; then
    kill -STOP "$pid"
    "$tmp/storm" "$per" "$tmp/stopped" "$PROG" "$@"
    kill -CONT "$pid"
  fi
  sleep 0.5 # it catches up on the events queued meanwhile
  t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  cpu_ticks=$((cpu_ticks + t1 - t0))
  h=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  [ "$h" -gt "$hwm" ] && hwm=$h
  kill -TERM "$pid"
  wait "$pid" || true
  pid=
  s=$(sed -n 's/.* \([0-9]*\) execs seen.*/\1/p' "$tmp/log.$r")
  seen=$((seen + ${s:-0}))
  i=$(sed -n 's/.* \([0-9]*\) files ignored.*/\1/p' "$tmp/log.$r")
  ignored=$((ignored + ${i:-0}))
done
hz=$(getconf CLK_TCK)
node -e '
const fs = require("fs");
const raw = (f) => fs.readFileSync(f, "utf8").trim().split("\n").filter(Boolean).map(Number);
const sorted = (a) => [...a].sort((x, y) => x - y);
const q = (a, p) => a[Math.min(a.length - 1, Math.floor(p * a.length))] / 1000;
const [offRaw, onRaw, stRaw] = process.argv.slice(1, 4).map(raw);
const [off, on, st] = [offRaw, onRaw, stRaw.length > 1 ? stRaw : [NaN]].map(sorted);
const [per, ticks, hz, seen, hwm, mode, prog, ignore, ignored, recheck] = process.argv.slice(4);
const f1 = (x) => x.toFixed(1);
// The median over rounds of each round s own difference: drift between rounds cancels.
const perRound = (a, b, p) => {
  const d = [];
  for (let i = 0; i + Number(per) <= a.length; i += Number(per)) d.push(q(sorted(b.slice(i, i + Number(per))), p) - q(sorted(a.slice(i, i + Number(per))), p));
  return sorted(d)[Math.floor(d.length / 2)];
};
const row = (name, f, p) => console.log(`| ${name} | ${f1(f(off))} | ${f1(f(on))} | ${f1(f(on) - f(off))} | ${p === undefined ? "" : f1(perRound(offRaw, onRaw, p))} | ${f1(f(st))} | ${f1(f(st) - f(off))} |`);
console.log(`exec storm: ${off.length} execs of ${prog} each without the daemon, with it (${mode} mode, ignore marks ${ignore === "no" ? "off" : "on"}, recheck-seconds ${recheck || "default"}), and with it stopped; ${off.length / per} interleaved rounds`);
console.log("| µs per exec | without daemon | with daemon | added | added, median of rounds | daemon stopped | added |");
console.log("|---|---|---|---|---|---|---|");
row("median", (a) => q(a, 0.5), 0.5);
row("p90", (a) => q(a, 0.9), 0.9);
row("p99", (a) => q(a, 0.99), 0.99);
row("mean", (a) => a.reduce((s, x) => s + x, 0) / a.length / 1000);
const cpu = ((ticks / hz) * 1e6);
console.log(`daemon: saw ${seen} execs (the program and its interpreter until they are ignored, other processes too), CPU ${f1(cpu / Math.max(1, seen))} µs per exec seen and ${f1(cpu / (on.length + (st.length > 1 ? st.length : 0)))} µs per exec of the storm, peak RSS ${(hwm / 1024).toFixed(2)} MB, ${ignored} files ignored after one look`);
' "$tmp/off" "$tmp/on" "$tmp/stopped" "$per" "$cpu_ticks" "$hz" "$seen" "$hwm" "$MODE" "$PROG" "$IGNORE" "$ignored" "$RECHECK"
