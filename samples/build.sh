#!/usr/bin/env bash
# shellcheck disable=SC2054,SC2016 # -Wl,a,b are single words; $ORIGIN is literal
# Builds the ELF test fixtures of elfprefetch and writes their manifest.
#
#   bash samples/build.sh [OUT_DIR]        (default OUT_DIR: build/samples)
#
# For each machine (x86-64 native; i386, aarch64, armhf, ppc64 (big endian),
# s390x, riscv64 with Debian's cross compilers) it builds samples/fixtures/src
# in these variants, each in OUT_DIR/<machine>/<variant>/:
#   pie             -fPIE -pie
#   nopie           -no-pie
#   static          -static (ET_EXEC, no interpreter)
#   static-pie      -static-pie (extra; skipped where the toolchain can't)
#   shlib           PIE program + libgreet.so beside it (rpath $ORIGIN)
#   noseparate      -no-pie -Wl,-z,noseparate-code
#   noseparate-pie  -fPIE -pie -Wl,-z,noseparate-code
#   bigpage         -fPIE -pie -Wl,-z,max-page-size=0x10000
#   nobuildid       -fPIE -pie -Wl,--build-id=none
# plus a Go program (samples/fixtures/go/hello.go) for amd64 and arm64.
#
# Every fixture is run once (natively, or under qemu-user with the cross
# sysroot /usr/<triple>) and its real stdout is recorded as "expected" in
# OUT_DIR/manifest.json, together with the argv to run it.  A variant that
# can't be built or doesn't run is skipped with a message (SAMPLES_STRICT=1
# makes such a skip of a required variant an error).  Outputs newer than the
# sources and this script are kept, so a second run takes a moment.
#
# Needs (Debian): gcc, binutils, gcc-{i686,aarch64,s390x,riscv64}-linux-gnu,
# gcc-arm-linux-gnueabihf, gcc-powerpc64-linux-gnu (with their
# libc6-dev-*-cross), qemu-user, golang-go, nodejs (for the manifest);
# libc6-i386 lets the i386 fixtures run natively instead of under qemu.
set -euo pipefail

started=$(date +%s.%N)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self="$here/$(basename "${BASH_SOURCE[0]}")"
root=$(cd "$here/.." && pwd)
out=${1:-"$root/build/samples"}
mkdir -p "$out"
out=$(cd "$out" && pwd)
src="$here/fixtures/src"
gosrc="$here/fixtures/go"
strict=${SAMPLES_STRICT:-0}
max_jobs=${SAMPLES_JOBS:-$(nproc 2>/dev/null || echo 2)}
run_timeout=${SAMPLES_RUN_TIMEOUT:-60}

# The arguments every fixture is run with (one has a space on purpose).
ARGS=(alpha "beta gamma")

# machine|triple|compiler|qemu (empty: runs natively)|go arch (empty: no Go build)
MACHINES=(
  "x86-64|x86_64-linux-gnu|gcc||amd64"
  "i386|i686-linux-gnu|i686-linux-gnu-gcc|qemu-i386|"
  "aarch64|aarch64-linux-gnu|aarch64-linux-gnu-gcc|qemu-aarch64|arm64"
  "armhf|arm-linux-gnueabihf|arm-linux-gnueabihf-gcc|qemu-arm|"
  "ppc64|powerpc64-linux-gnu|powerpc64-linux-gnu-gcc|qemu-ppc64|"
  "s390x|s390x-linux-gnu|s390x-linux-gnu-gcc|qemu-s390x|"
  "riscv64|riscv64-linux-gnu|riscv64-linux-gnu-gcc|qemu-riscv64|"
)
VARIANTS=(pie nopie static static-pie shlib noseparate noseparate-pie bigpage nobuildid)
# Variants whose skip is fine even with SAMPLES_STRICT=1.
OPTIONAL_VARIANTS=" static-pie "

CFLAGS_COMMON=(-O1 -g0 -Wall -Wextra -fno-ident)
BUILD_ID=(-Wl,--build-id=sha1)

# Only one build at a time per output folder (the test files may all ask
# for the fixtures at once).
exec 9>"$out/.lock"
flock 9

logdir="$out/.logs"
rm -rf "$logdir"
mkdir -p "$logdir"

c_deps=("$self" "$src"/*.c "$src"/*.h)
go_deps=("$self" "$gosrc"/*.go)

log() { printf '%s\n' "$*"; }

# fresh MARKER DEP...: MARKER exists and is newer than every DEP.
fresh() {
  local marker=$1 dep
  shift
  [[ -e $marker ]] || return 1
  for dep in "$@"; do
    [[ $marker -nt $dep ]] || return 1
  done
}

# skip DIR NAME VARIANT REASON: records (and reports) a skipped fixture.
skip() {
  local dir=$1 name=$2 variant=$3 reason=$4
  mkdir -p "$dir"
  printf '%s\n' "$reason" >"$dir/.skipped"
  rm -f "$dir/.ok"
  log "  $name: SKIPPED: $reason"
  if [[ $strict == 1 && $OPTIONAL_VARIANTS != *" $variant "* ]]; then
    log "  $name: SAMPLES_STRICT=1 and $variant is required: failing"
    return 1
  fi
  return 0
}

# check_elf VARIANT FILE: prints what is wrong with FILE for VARIANT, if anything.
check_elf() {
  local variant=$1 file=$2 hdr type interp=no buildid=no
  hdr=$(readelf -hlSdW "$file" 2>&1) || { echo "readelf failed: $hdr"; return; }
  type=$(sed -n 's/^ *Type: *\([A-Z]*\).*/\1/p' <<<"$hdr" | head -n1)
  grep -q '^ *INTERP ' <<<"$hdr" && interp=yes
  grep -q ' \.note\.gnu\.build-id ' <<<"$hdr" && buildid=yes
  local want_type want_interp=yes want_buildid=yes
  case $variant in
    nopie | noseparate) want_type=EXEC ;;
    static) want_type=EXEC want_interp=no ;;
    static-pie) want_type=DYN want_interp=no ;;
    go) want_type=EXEC want_interp=no want_buildid=any ;;
    lib) want_type=DYN want_interp=no ;;
    nobuildid) want_type=DYN want_buildid=no ;;
    *) want_type=DYN ;;
  esac
  [[ $type == "$want_type" ]] || echo "ELF type is $type, not $want_type"
  [[ $interp == "$want_interp" ]] || echo "has PT_INTERP: $interp (wanted $want_interp)"
  [[ $want_buildid == any || $buildid == "$want_buildid" ]] ||
    echo "has .note.gnu.build-id: $buildid (wanted $want_buildid)"
  case $variant in
    bigpage)
      grep -Eq '^ *LOAD .* 0x10000$' <<<"$hdr" || echo "no LOAD segment aligned to 0x10000"
      ;;
    shlib)
      grep -q 'NEEDED.*\[libgreet\.so\]' <<<"$hdr" || echo "does not need libgreet.so"
      grep -Eq '(RUNPATH|RPATH).*\[\$ORIGIN\]' <<<"$hdr" || echo "no \$ORIGIN rpath"
      ;;
  esac
}

# record DIR NAME MACHINE VARIANT TRIPLE STRIP EXE LIBS... -- RUN...
# Runs the fixture, keeps its stdout as the expected output, writes the
# metadata that the manifest is made from, and marks DIR as done.
record() {
  local dir=$1 name=$2 machine=$3 variant=$4 triple=$5 strip=$6 exe=$7
  shift 7
  local libs=()
  while [[ $1 != -- ]]; do
    libs+=("$1")
    shift
  done
  shift
  local run=("$@") status=0
  timeout "$run_timeout" "${run[@]}" >"$dir/expected.out" 2>"$dir/run.err" </dev/null || status=$?
  if [[ $status != 0 ]]; then
    skip "$dir" "$name" "$variant" "does not run (exit $status): $(head -c 300 "$dir/run.err" | tr '\n' ' ')"
    return
  fi
  {
    printf 'name=%s\nmachine=%s\nvariant=%s\ntriple=%s\nstrip=%s\npath=%s\nstatus=%s\n' \
      "$name" "$machine" "$variant" "$triple" "$strip" "$exe" "$status"
    local l
    for l in ${libs[@]+"${libs[@]}"}; do printf 'lib=%s\n' "$l"; done
  } >"$dir/meta"
  printf '%s\0' "${run[@]}" >"$dir/run.argv"
  rm -f "$dir/.skipped"
  touch "$dir/.ok"
  log "  $name: ok ($(wc -l <"$dir/expected.out") lines of output)"
}

# cached DIR NAME DEP...: true (after saying so) if DIR's fixture is still good.
# (A skipped fixture is tried again each time: a missing tool may be there now.)
cached() {
  local dir=$1 name=$2
  shift 2
  if fresh "$dir/.ok" "$@"; then
    log "  $name: up to date"
    return 0
  fi
  return 1
}

# run_argv MACHINE QEMU SYSROOT EXE: prints the argv (one per line) that runs EXE.
# i386 runs natively when this kernel and host can (libc6-i386 gives the
# host /lib/ld-linux.so.2), otherwise under qemu-i386.
run_argv() {
  local machine=$1 qemu=$2 sysroot=$3 exe=$4
  if [[ -z $qemu ]]; then
    printf '%s\n' "$exe" "${ARGS[@]}"
    return
  fi
  if [[ $machine == i386 ]] && timeout "$run_timeout" "$exe" "${ARGS[@]}" >/dev/null 2>&1 </dev/null; then
    printf '%s\n' "$exe" "${ARGS[@]}"
    return
  fi
  printf '%s\n' "$qemu" -L "$sysroot" "$exe" "${ARGS[@]}"
}

# build_c MACHINE TRIPLE CC QEMU VARIANT
build_c() {
  local machine=$1 triple=$2 cc=$3 qemu=$4 variant=$5
  local name="$machine-$variant" dir="$out/$machine/$variant"
  local sysroot="/usr/$triple" strip="$triple-strip"
  cached "$dir" "$name" "${c_deps[@]}" && return 0
  rm -rf "$dir"
  mkdir -p "$dir"
  local exe="$dir/hello" libs=() cflags=() ldflags=() err="$dir/build.err"
  case $variant in
    pie) cflags=(-fPIE) ldflags=(-pie "${BUILD_ID[@]}") ;;
    nopie) cflags=(-fno-PIE) ldflags=(-no-pie "${BUILD_ID[@]}") ;;
    static) cflags=(-fno-PIE) ldflags=(-static "${BUILD_ID[@]}") ;;
    static-pie) cflags=(-fPIE) ldflags=(-static-pie "${BUILD_ID[@]}") ;;
    shlib) cflags=(-fPIE) ldflags=(-pie "${BUILD_ID[@]}") ;;
    noseparate) cflags=(-fno-PIE) ldflags=(-no-pie -Wl,-z,noseparate-code "${BUILD_ID[@]}") ;;
    noseparate-pie) cflags=(-fPIE) ldflags=(-pie -Wl,-z,noseparate-code "${BUILD_ID[@]}") ;;
    bigpage) cflags=(-fPIE) ldflags=(-pie -Wl,-z,max-page-size=0x10000 "${BUILD_ID[@]}") ;;
    nobuildid) cflags=(-fPIE) ldflags=(-pie -Wl,--build-id=none) ;;
    *)
      log "unknown variant $variant" >&2
      return 1
      ;;
  esac
  if [[ $variant == shlib ]]; then
    local lib="$dir/libgreet.so"
    if ! "$cc" "${CFLAGS_COMMON[@]}" -fPIC -shared -Wl,-soname,libgreet.so "${BUILD_ID[@]}" \
      -o "$lib" "$src/greet.c" 2>"$err"; then
      skip "$dir" "$name" "$variant" "libgreet.so does not build: $(head -c 300 "$err" | tr '\n' ' ')"
      return
    fi
    if ! "$cc" "${CFLAGS_COMMON[@]}" "${cflags[@]}" -o "$exe" "$src/hello.c" \
      -L"$dir" -lgreet -Wl,-rpath,'$ORIGIN' "${ldflags[@]}" 2>"$err"; then
      skip "$dir" "$name" "$variant" "does not link: $(head -c 300 "$err" | tr '\n' ' ')"
      return
    fi
    libs=("$lib")
  else
    if ! "$cc" "${CFLAGS_COMMON[@]}" "${cflags[@]}" -o "$exe" "$src/hello.c" "$src/greet.c" \
      "${ldflags[@]}" 2>"$err"; then
      skip "$dir" "$name" "$variant" "does not build: $(head -c 300 "$err" | tr '\n' ' ')"
      return
    fi
  fi
  local problems
  problems=$(check_elf "$variant" "$exe")
  if [[ ${#libs[@]} -gt 0 ]]; then
    problems+=$(check_elf lib "${libs[0]}" | sed 's/^/libgreet.so: /')
  fi
  if [[ -n $problems ]]; then
    skip "$dir" "$name" "$variant" "not the expected ELF: $(tr '\n' ';' <<<"$problems")"
    return
  fi
  local run
  mapfile -t run < <(run_argv "$machine" "$qemu" "$sysroot" "$exe")
  record "$dir" "$name" "$machine" "$variant" "$triple" "$strip" "$exe" ${libs[@]+"${libs[@]}"} -- "${run[@]}"
}

# build_go MACHINE TRIPLE QEMU GOARCH
build_go() {
  local machine=$1 triple=$2 qemu=$3 goarch=$4
  local name="$machine-go" dir="$out/$machine/go" sysroot="/usr/$triple"
  cached "$dir" "$name" "${go_deps[@]}" && return 0
  rm -rf "$dir"
  mkdir -p "$dir" "$out/.go/cache" "$out/.go/path"
  local exe="$dir/hello" err="$dir/build.err"
  if ! (cd "$gosrc" && env GOOS=linux GOARCH="$goarch" CGO_ENABLED=0 GO111MODULE=off GOFLAGS= \
    GOENV=off GOCACHE="$out/.go/cache" GOPATH="$out/.go/path" GOPROXY=off GOTOOLCHAIN=local \
    HOME="${HOME:-$out/.go}" \
    go build -trimpath -o "$exe" hello.go) 2>"$err"; then
    skip "$dir" "$name" go "does not build: $(head -c 300 "$err" | tr '\n' ' ')"
    return
  fi
  local problems
  problems=$(check_elf go "$exe")
  if [[ -n $problems ]]; then
    skip "$dir" "$name" go "not the expected ELF: $(tr '\n' ';' <<<"$problems")"
    return
  fi
  local run
  mapfile -t run < <(run_argv "$machine" "$qemu" "$sysroot" "$exe")
  record "$dir" "$name" "$machine" go "$triple" "$triple-strip" "$exe" -- "${run[@]}"
}

# build_machine LINE: every variant of one machine (one background job).
build_machine() {
  local machine triple cc qemu goarch
  IFS='|' read -r machine triple cc qemu goarch <<<"$1"
  log "== $machine ($triple)"
  local missing=()
  command -v "$cc" >/dev/null || missing+=("$cc")
  command -v "$triple-strip" >/dev/null || missing+=("$triple-strip")
  [[ -z $qemu ]] || command -v "$qemu" >/dev/null || missing+=("$qemu")
  if [[ -n $qemu && ! -d /usr/$triple/lib ]]; then missing+=("/usr/$triple/lib (sysroot)"); fi
  if [[ ${#missing[@]} -gt 0 ]]; then
    local v
    for v in "${VARIANTS[@]}"; do
      skip "$out/$machine/$v" "$machine-$v" "$v" "missing ${missing[*]}" || return 1
    done
    [[ -z $goarch ]] || skip "$out/$machine/go" "$machine-go" go "missing ${missing[*]}" || return 1
    return 0
  fi
  local v
  for v in "${VARIANTS[@]}"; do
    build_c "$machine" "$triple" "$cc" "$qemu" "$v" || return 1
  done
  if [[ -n $goarch ]]; then
    if command -v go >/dev/null; then
      build_go "$machine" "$triple" "$qemu" "$goarch" || return 1
    else
      skip "$out/$machine/go" "$machine-go" go "missing go (golang-go)" || return 1
    fi
  fi
}

# --- build every machine, up to max_jobs at once -----------------------------
names=()
for line in "${MACHINES[@]}"; do
  name=${line%%|*}
  names+=("$name")
  while [[ $(jobs -rp | wc -l) -ge $max_jobs ]]; do wait -n || true; done
  (
    rc=0
    build_machine "$line" || rc=1
    echo "$rc" >"$logdir/$name.rc"
  ) >"$logdir/$name.log" 2>&1 &
done
wait
failed=0
for name in "${names[@]}"; do
  cat "$logdir/$name.log"
  [[ $(cat "$logdir/$name.rc" 2>/dev/null || echo 1) == 0 ]] || failed=1
done
if [[ $failed != 0 ]]; then
  log "build.sh: some machine failed, see above" >&2
  exit 1
fi

# --- every C fixture must print the same text ---------------------------------
dirs=()
for line in "${MACHINES[@]}"; do
  IFS='|' read -r machine _ _ _ goarch <<<"$line"
  for v in "${VARIANTS[@]}"; do
    [[ -e $out/$machine/$v/.ok ]] && dirs+=("$out/$machine/$v")
  done
  [[ -n $goarch && -e $out/$machine/go/.ok ]] && dirs+=("$out/$machine/go")
done
ref=""
for d in "${dirs[@]}"; do
  [[ $d == */go ]] && continue
  if [[ -z $ref ]]; then
    ref=$d
  elif ! cmp -s "$ref/expected.out" "$d/expected.out"; then
    log "build.sh: $d/hello prints other text than $ref/hello:" >&2
    diff "$ref/expected.out" "$d/expected.out" >&2 || true
    exit 1
  fi
done
if [[ ${#dirs[@]} == 0 ]]; then
  log "build.sh: no fixture could be built" >&2
  exit 1
fi

# --- the manifest -------------------------------------------------------------
node - "$out/manifest.json" "${dirs[@]}" <<'EOF'
const fs = require('fs');
const path = require('path');
const [manifest, ...dirs] = process.argv.slice(2);
const fixtures = dirs.map((dir) => {
  const meta = {};
  const libs = [];
  for (const line of fs.readFileSync(path.join(dir, 'meta'), 'utf8').split('\n')) {
    if (!line) continue;
    const i = line.indexOf('=');
    const key = line.slice(0, i);
    const value = line.slice(i + 1);
    if (key === 'lib') libs.push(value);
    else meta[key] = value;
  }
  const run = fs.readFileSync(path.join(dir, 'run.argv'), 'utf8').split('\0');
  run.pop(); // after the last NUL
  const pathIndex = run.indexOf(meta.path);
  return {
    name: meta.name,
    machine: meta.machine,
    variant: meta.variant,
    triple: meta.triple,
    path: meta.path,
    libs,
    run,
    args: run.slice(pathIndex + 1),
    env: {},
    expected: fs.readFileSync(path.join(dir, 'expected.out'), 'utf8'),
    status: Number(meta.status),
    strip: meta.strip,
  };
});
const tmp = `${manifest}.${process.pid}.tmp`;
fs.writeFileSync(tmp, JSON.stringify(fixtures, null, 2) + '\n');
fs.renameSync(tmp, manifest);
EOF

skipped=()
for line in "${MACHINES[@]}"; do
  IFS='|' read -r machine _ _ _ goarch <<<"$line"
  for v in "${VARIANTS[@]}" ${goarch:+go}; do
    [[ -e $out/$machine/$v/.skipped ]] && skipped+=("$machine-$v: $(cat "$out/$machine/$v/.skipped")")
  done
done
elapsed=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
log "== ${#dirs[@]} fixtures in $out/manifest.json, ${#skipped[@]} skipped, ${elapsed}s"
for s in ${skipped[@]+"${skipped[@]}"}; do log "   skipped $s"; done
