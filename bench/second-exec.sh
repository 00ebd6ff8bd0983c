#!/usr/bin/env bash
# What the exec wrapper's second exec costs (docs/SHIM.md, "The exec wrapper's second exec"):
# PROG (default /bin/true) started plain, through the smallest possible wrapper (no libc, one
# page of code: execve(argv[1]) and nothing else), and through build/native/elfprefetch-exec with
# the shim idle and on. ROUNDS (default 8) interleaved rounds of N (default 100) starts by the
# benchmark helper (posix_spawnp + wait4); per round the median start's CPU µs (user + system of
# the start) and wall µs; then per configuration the median over rounds of its difference to
# plain in the same round. x86-64 only (the small wrapper is written for it).
#
#   bash bench/second-exec.sh [N] [ROUNDS] [PROG]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100}
ROUNDS=${2:-8}
PROG=${3:-/bin/true}
W=$PWD/build/native/elfprefetch-exec
H=$(node -e "console.log(require('./dist/src/bench/helper').benchHelper())")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/tiny.c" <<'C'
#include <sys/syscall.h>
static long sys3(long n, long a, long b, long c) {
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return r;
}
__attribute__((naked, noreturn)) void _start(void) { __asm__ volatile("mov %rsp, %rdi\n and $-16, %rsp\n call start_c\n"); }
__attribute__((used, noreturn)) void start_c(long *sp) {
  char **argv = (char **)(sp + 1);
  sys3(SYS_execve, (long)argv[1], (long)(argv + 1), (long)(argv + sp[0] + 1));
  sys3(SYS_exit_group, 127, 0, 0);
  for (;;) {}
}
C
gcc -O2 -static -nostdlib -fno-stack-protector -o "$tmp/tiny" "$tmp/tiny.c"
med() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A cpu wall
for r in $(seq "$ROUNDS"); do
  for c in plain tiny exec-off exec-on; do
    case $c in
      plain) out=$("$H" loop "$N" -- "$PROG") ;;
      tiny) out=$("$H" loop "$N" -- "$tmp/tiny" "$PROG") ;;
      exec-off) out=$(ELFPREFETCH_DISABLE=1 "$H" loop "$N" -- "$W" "$PROG") ;;
      exec-on) out=$(env -u ELFPREFETCH_DISABLE "$H" loop "$N" -- "$W" "$PROG") ;;
    esac
    cpu[$c,$r]=$(echo "$out" | awk '{print $2}' | med)
    wall[$c,$r]=$(echo "$out" | awk '{print $1 / 1000}' | med)
  done
done
echo "second exec: $PROG, $ROUNDS rounds x $N starts, $(wc -c <"$tmp/tiny") byte wrapper vs $(wc -c <"$W") byte elfprefetch-exec (load average $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-10s %28s %28s\n' config 'CPU us vs plain [range]' 'wall us vs plain [range]'
for c in tiny exec-off exec-on; do
  d=$(for r in $(seq "$ROUNDS"); do echo "${cpu[$c,$r]} - ${cpu[plain,$r]}" | bc; done | sort -n)
  e=$(for r in $(seq "$ROUNDS"); do echo "${wall[$c,$r]} - ${wall[plain,$r]}" | bc; done | sort -n)
  printf '%-10s %10s [%s..%s] %14s [%s..%s]\n' "$c" "$(echo "$d" | med)" "$(echo "$d" | head -1)" "$(echo "$d" | tail -1)" "$(echo "$e" | med)" "$(echo "$e" | head -1)" "$(echo "$e" | tail -1)"
done
