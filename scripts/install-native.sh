#!/bin/sh
# npm's preinstall step (also `npm rebuild`): builds the native parts, the loader shim and the
# recorder, into build/native/ with the C compiler of this machine. npm links the package's bins
# after preinstall, so `elfprefetch-exec` lands on PATH when it was built.
# It never fails the install: without a C compiler or make the TypeScript commands (info, stamp,
# verify, remove, show, select, profiles, stamp-tree) still work. The reason is printed, and kept
# in build/native-missing.txt, which the commands that need the native parts repeat.
set -u
cd "$(dirname "$0")/.." || exit 0
status=build/native-missing.txt
log=build/native-build.log
mkdir -p build/native || exit 0
rm -f "$status"

# npm hides the output of a successful install script (unless --foreground-scripts), so a
# warning also goes to the terminal when there is one.
warn() {
  printf '%s\n' "$1" >"$status"
  printf 'elfprefetch: %s\n' "$1" >&2
  if [ ! -t 2 ]; then { printf 'elfprefetch: %s\n' "$1" >/dev/tty; } 2>/dev/null || :; fi
}
later='Then run `npm rebuild -g elfprefetch` (global install) or `npm run build:native` in the package folder.'

cc=
if [ -n "${CC:-}" ]; then
  if command -v "${CC%% *}" >/dev/null 2>&1; then cc=$CC; fi
  looked="\$CC (${CC}), "
else
  looked=
fi
if [ -z "$cc" ]; then
  for c in cc gcc clang; do
    if command -v "$c" >/dev/null 2>&1; then cc=$c; break; fi
  done
fi
make=
for m in make gmake; do
  if command -v "$m" >/dev/null 2>&1; then make=$m; break; fi
done

if [ -z "$cc" ] || [ -z "$make" ]; then
  if [ -z "$cc" ]; then what="no C compiler found (looked for ${looked}cc, gcc and clang on PATH)"; else what="no make found on PATH"; fi
  warn "$what: the native parts (elfprefetch-exec, the LD_AUDIT and LD_PRELOAD libraries, the recorder) were not built. info, stamp, verify, remove, show, select, profiles and stamp-tree work; run, record, train and bench need them. Install a C compiler, make and the C library headers (Debian/Ubuntu: apt-get install gcc make libc6-dev; Fedora: dnf install gcc make glibc-static). $later"
  exit 0
fi

# -k: one part that cannot be built (e.g. the static wrapper without a static libc) does not
# stop the others.
echo "elfprefetch: building the native parts with $cc and $make (log: $log)"
built=0
"$make" -k -C shim CC="$cc" >"$log" 2>&1 || built=1
"$make" -k -C recorder CC="$cc" >>"$log" 2>&1 || built=1
want="elfprefetch-exec libelfprefetch-audit.so libelfprefetch-preload.so epf-plan libelfprefetch-record.so elfprefetch-bindexec elfprefetch-benchrun"
if [ -d shim/daemon ]; then want="$want elfprefetchd"; fi
missing=
for f in $want; do
  if [ ! -f "build/native/$f" ]; then missing="$missing $f"; fi
done
if [ $built -ne 0 ] || [ -n "$missing" ]; then
  warn "building the native parts with $cc failed (missing:${missing:- none}); see $(pwd)/$log. $later
$(tail -n 15 "$log")"
  exit 0
fi
echo "elfprefetch: native parts built in $(pwd)/build/native"
