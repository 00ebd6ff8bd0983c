#!/usr/bin/env bash
# What the exec wrapper's second exec costs (docs/SHIM.md, "The exec wrapper's second exec"):
# PROG (default /bin/true) started plain; through the smallest possible wrapper (no libc, one
# page of code: execve(argv[1]) and nothing else); through the smallest C wrapper
# (main() { execv(argv[1], argv + 1); }) linked statically with glibc, and with musl where
# musl-gcc is there: what each C library's start-up adds; and through elfprefetch-exec, with the
# shim idle and on: build/native's (musl when it was built with musl-gcc) and, beside it, one
# linked with glibc (make EXEC_LIBC=cc). ROUNDS (default 8) interleaved rounds of N (default 100)
# starts by the benchmark helper (posix_spawnp + wait4); per round the median start's CPU µs
# (user + system of the start) and wall µs; then per configuration the median over rounds of its
# difference to plain in the same round. Then the minor page faults and system calls of one
# start of each (counts that do not drift). x86-64 only (the small wrapper is written for it).
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
printf '#include <unistd.h>\nint main(int argc, char **argv) { (void)argc; execv(argv[1], argv + 1); return 127; }\n' >"$tmp/min.c"
gcc -O2 -static -o "$tmp/min-glibc" "$tmp/min.c"
make -s -C shim OUT="$tmp/cc" EXEC_LIBC=cc "$tmp/cc/elfprefetch-exec" >/dev/null
configs="plain tiny min-glibc"
if command -v musl-gcc >/dev/null; then
  musl-gcc -O2 -static -o "$tmp/min-musl" "$tmp/min.c"
  configs="$configs min-musl"
fi
configs="$configs exec-off exec-on exec-glibc-off exec-glibc-on"
# How build/native's wrapper was linked: glibc's start files leave a .note.ABI-tag, musl's none.
if readelf -S "$W" | grep -q '\.note\.ABI-tag'; then libc=glibc; else libc=musl; fi
med() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A cpu wall
for r in $(seq "$ROUNDS"); do
  for c in $configs; do
    case $c in
      plain) out=$("$H" loop "$N" -- "$PROG") ;;
      tiny | min-*) out=$("$H" loop "$N" -- "$tmp/$c" "$PROG") ;;
      exec-off) out=$(ELFPREFETCH_DISABLE=1 "$H" loop "$N" -- "$W" "$PROG") ;;
      exec-on) out=$(env -u ELFPREFETCH_DISABLE "$H" loop "$N" -- "$W" "$PROG") ;;
      exec-glibc-off) out=$(ELFPREFETCH_DISABLE=1 "$H" loop "$N" -- "$tmp/cc/elfprefetch-exec" "$PROG") ;;
      exec-glibc-on) out=$(env -u ELFPREFETCH_DISABLE "$H" loop "$N" -- "$tmp/cc/elfprefetch-exec" "$PROG") ;;
    esac
    cpu[$c,$r]=$(echo "$out" | awk '{print $2}' | med)
    wall[$c,$r]=$(echo "$out" | awk '{print $1 / 1000}' | med)
  done
done
echo "second exec: $PROG, $ROUNDS rounds x $N starts; build/native/elfprefetch-exec linked with $libc (load average $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-15s %9s %28s %28s %7s %8s\n' config bytes 'CPU us vs plain [range]' 'wall us vs plain [range]' minflt syscalls
for c in $configs; do
  case $c in
    plain) argv=("$PROG") ;;
    tiny | min-*) argv=("$tmp/$c" "$PROG") ;;
    exec-*glibc*) argv=("$tmp/cc/elfprefetch-exec" "$PROG") ;;
    *) argv=("$W" "$PROG") ;;
  esac
  case $c in *-off) off=(ELFPREFETCH_DISABLE=1) ;; *) off=() ;; esac
  # One start's minor faults (all processes: /usr/bin/time counts the program too) and system calls.
  flt=$(env "${off[@]}" /usr/bin/time -f %R "${argv[@]}" 2>&1 >/dev/null | tail -1)
  calls=$(env "${off[@]}" strace -f -qq -o "$tmp/calls" "${argv[@]}" >/dev/null 2>&1; grep -vc 'exited with\|+++' "$tmp/calls")
  bytes=$(if [ "$c" = plain ]; then echo -; else wc -c <"${argv[0]}"; fi)
  if [ "$c" = plain ]; then
    printf '%-15s %9s %28s %28s %7s %8s\n' "$c" "$bytes" - - "$flt" "$calls"
    continue
  fi
  d=$(for r in $(seq "$ROUNDS"); do echo "${cpu[$c,$r]} - ${cpu[plain,$r]}" | bc; done | sort -n)
  e=$(for r in $(seq "$ROUNDS"); do echo "${wall[$c,$r]} - ${wall[plain,$r]}" | bc; done | sort -n)
  printf '%-15s %9s %10s [%s..%s] %14s [%s..%s] %7s %8s\n' "$c" "$bytes" "$(echo "$d" | med)" "$(echo "$d" | head -1)" "$(echo "$d" | tail -1)" "$(echo "$e" | med)" "$(echo "$e" | head -1)" "$(echo "$e" | tail -1)" "$flt" "$calls"
done
