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
H=$(node -e "console.log(require('./dist/src/bench/helper').benchHelper())")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src"
git archive "$REV" shim | tar -x -C "$tmp/src"
make -s -C "$tmp/src/shim" OUT="$tmp/before" >/dev/null
now=$PWD/build/native
cp /usr/bin/git "$tmp/git"
cp -L /usr/bin/python3 "$tmp/python3"
cp -L /usr/bin/go "$tmp/go"
for p in "git --version" "python3 -c pass" "go version"; do
  set -- $p
  node dist/cli/main.js train -- "$tmp/$1" "${@:2}" >/dev/null 2>&1
done
# A start through hook $2 of build $1: the variables it sets (env) and what runs before the program (wrap).
hook() {
  env=() wrap=()
  case $2 in
    exec) wrap=("$1/elfprefetch-exec") ;;
    audit) env=("LD_AUDIT=$1/libelfprefetch-audit.so") ;;
    preload) env=("LD_PRELOAD=$1/libelfprefetch-preload.so") ;;
  esac
}
med() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
configs="plain before-exec now-exec before-audit now-audit before-preload now-preload"
echo "warm look: shim of $REV (before) and build/native (now), $ROUNDS rounds x $N starts (load average $(cut -d' ' -f1-3 /proc/loadavg))"
for p in ${PROGRAMS:-git python3 go}; do
  case $p in git) set -- git --version ;; python3) set -- python3 -c pass ;; go) set -- go version ;; *) echo "unknown program $p" >&2; exit 2 ;; esac
  p="$*"
  prog=("$tmp/$1" "${@:2}")
  declare -A cpu=()
  for r in $(seq "$ROUNDS"); do
    for c in $configs; do
      case $c in plain) d=- h=plain ;; before-*) d=$tmp/before h=${c#before-} ;; now-*) d=$now h=${c#now-} ;; esac
      hook "$d" "$h"
      cpu[$c,$r]=$(env "${env[@]}" "$H" loop "$N" -- "${wrap[@]}" "${prog[@]}" | awk '{print $2}' | med)
    done
  done
  echo
  echo "$p (stamped copy; plain: $(for r in $(seq "$ROUNDS"); do echo "${cpu[plain,$r]}"; done | med) CPU us per start)"
  printf '%-15s %28s %7s %9s %15s\n' config 'CPU us vs plain [range]' minflt syscalls 'sysfs, statfs'
  for c in $configs; do
    case $c in plain) d=- h=plain ;; before-*) d=$tmp/before h=${c#before-} ;; now-*) d=$now h=${c#now-} ;; esac
    hook "$d" "$h"
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
