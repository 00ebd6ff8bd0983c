#!/usr/bin/env bash
# What the shim costs a warm start of a stamped program, two builds of it side by side: the shim
# of git revision REV (default: HEAD~1) and build/native. For docs/BENCHMARKS.md ("The warm look
# and the auditor without a C library").
# Stamped copies of git, python3 and go (`train`, into a temporary folder) are started plain and
# through each hook (exec, audit, preload) of each build, in ROUNDS (default 8) interleaved rounds
# of N (default 100) starts by the benchmark helper (posix_spawnp + wait4), page cache warm. Per
# round the median start's CPU µs (user + system); per configuration the median over rounds of
# its difference to plain in the same round [range]. Then the minor page faults and system calls
# of one start, and of them the shim's sysfs reads and statfs calls (counts that do not drift).
#
#   bash bench/warm-look.sh [REV] [N] [ROUNDS]
#
# PROGRAMS (default "git python3 go") chooses.
set -euo pipefail
cd "$(dirname "$0")/.."
REV=${1:-HEAD~1}
N=${2:-100}
ROUNDS=${3:-8}
programs=${PROGRAMS:-git python3 go}
# The command line of program $1.
command_of() {
  case $1 in git) echo git --version ;; python3) echo python3 -c pass ;; go) echo go version ;; *) echo "unknown program $1" >&2; exit 2 ;; esac
}
for p in $programs; do command_of "$p" >/dev/null; done # an unknown name stops here, not in a $(...)
H=$(node -e "console.log(require('./dist/src/bench/helper').benchHelper())")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src"
git archive "$REV" shim | tar -x -C "$tmp/src"
make -s -C "$tmp/src/shim" OUT="$tmp/before" >/dev/null
now=$PWD/build/native
for p in $programs; do
  set -- $(command_of "$p")
  cp -L "/usr/bin/$1" "$tmp/$1"
  node dist/cli/main.js train -- "$tmp/$1" "${@:2}" >/dev/null 2>&1
done
# A start in configuration $1 (plain, before-HOOK, now-HOOK): the variables it sets (env) and what
# runs before the program (wrap).
configure() {
  env=() wrap=()
  local d
  case $1 in before-*) d=$tmp/before ;; now-*) d=$now ;; esac
  case $1 in
    *-exec) wrap=("$d/elfprefetch-exec") ;;
    *-audit) env=("LD_AUDIT=$d/libelfprefetch-audit.so") ;;
    *-preload) env=("LD_PRELOAD=$d/libelfprefetch-preload.so") ;;
  esac
}
med() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
configs="plain before-exec now-exec before-audit now-audit before-preload now-preload"
echo "warm look: shim of $REV (before) and build/native (now), $ROUNDS rounds x $N starts (load average $(cut -d' ' -f1-3 /proc/loadavg))"
for p in $programs; do
  set -- $(command_of "$p")
  p="$*"
  prog=("$tmp/$1" "${@:2}")
  declare -A cpu=()
  for r in $(seq "$ROUNDS"); do
    for c in $configs; do
      configure "$c"
      cpu[$c,$r]=$(env "${env[@]}" "$H" loop "$N" -- "${wrap[@]}" "${prog[@]}" | awk '{print $2}' | med)
    done
  done
  echo
  echo "$p (stamped copy; plain: $(for r in $(seq "$ROUNDS"); do echo "${cpu[plain,$r]}"; done | med) CPU us per start)"
  printf '%-15s %28s %7s %9s %15s\n' config 'CPU us vs plain [range]' minflt syscalls 'sysfs, statfs'
  for c in $configs; do
    configure "$c"
    env "${env[@]}" strace -f -qq -o "$tmp/calls" "${wrap[@]}" "${prog[@]}" >/dev/null 2>&1
    calls=$(grep -vc 'exited with\|+++' "$tmp/calls")
    looks=$(grep -Ec '"/sys/|statfs\(' "$tmp/calls" || true)
    # minor page faults of one start, all its processes (/usr/bin/time counts the program too)
    flt=$(env "${env[@]}" /usr/bin/time -f %R "${wrap[@]}" "${prog[@]}" 2>&1 >/dev/null | tail -1)
    if [ "$c" = plain ]; then
      printf '%-15s %28s %7s %9s %15s\n' "$c" - "$flt" "$calls" "$looks"
      continue
    fi
    diffs=$(for r in $(seq "$ROUNDS"); do echo "${cpu[$c,$r]} - ${cpu[plain,$r]}" | bc; done | sort -n)
    printf '%-15s %10s [%s..%s] %7s %9s %15s\n' "$c" "$(echo "$diffs" | med)" "$(echo "$diffs" | head -1)" "$(echo "$diffs" | tail -1)" "$flt" "$calls" "$looks"
  done
done
