#!/bin/bash
# Long run of the native fuzz targets (docs/FUZZING.md, "Native side").
# usage: shim/fuzz/run.sh [SECONDS_PER_TARGET (default 600)] [TARGET...]   (targets: note file)
# Builds build/fuzz/ (make -C shim/fuzz), makes the seeds (shim/fuzz/seeds.js, needs npm run build)
# once, then fuzzes each target in turn at low priority (nice -n 10, one process) into a corpus
# kept in build/fuzz/corpus/TARGET, crashes in build/fuzz/findings/TARGET/, the log in
# build/fuzz/logs/. Finally replays each corpus through a coverage build and prints line and
# branch coverage of the shim core (shim/core.mk). Exit status 1 if anything was found.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$root/build/fuzz
secs=${1:-600}
shift || true
targets=${*:-note file}
SEED=${FUZZ_SEED:-20261126}
make -s -C "$here" all cov || exit 2
[ -d "$out/seeds/note" ] || node "$here/seeds.js" "$out/seeds" || exit 2
mkdir -p "$out/logs"
found=0
stamp=$(date -u +%Y%m%dT%H%M%SZ)
for t in $targets; do
  mkdir -p "$out/corpus/$t" "$out/findings/$t"
  log=$out/logs/$t-$stamp.log
  max_len=4096 leaks=1
  # fuzz_file: the shim allocates nothing (its mappings are counted by the target); LeakSanitizer's
  # exit-time check blames libFuzzer's own start-up allocations in this build, so it is off.
  [ "$t" = file ] && max_len=65536 leaks=0
  echo "== fuzz_$t: ${secs}s, seed $SEED, log $log"
  EPF_FUZZ_SIDECAR_DIR=$out/sidecar ASAN_OPTIONS=detect_leaks=$leaks nice -n 10 "$out/fuzz_$t" -detect_leaks=$leaks -seed="$SEED" -max_total_time="$secs" -max_len=$max_len -timeout=10 -rss_limit_mb=2048 \
    -close_fd_mask=2 -print_final_stats=1 -dict="$here/$t.dict" -artifact_prefix="$out/findings/$t/" \
    "$out/corpus/$t" "$out/seeds/$t" "$here/regress/$t" >"$log" 2>&1
  st=$?
  grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::|oracle failed|ERROR:|SUMMARY' "$log" | tail -12
  [ $st = 0 ] || { found=1; echo "fuzz_$t: exit status $st, see $log and $out/findings/$t/"; }
done
# Coverage of the sources by what the corpora reach.
for t in $targets; do
  prof=$out/logs/$t.profraw
  (cd "$out" && EPF_FUZZ_SIDECAR_DIR=$out/sidecar LLVM_PROFILE_FILE=$prof "$out/fuzz_${t}_cov" -runs=0 -close_fd_mask=2 "$out/corpus/$t" "$out/seeds/$t" "$here/regress/$t" >/dev/null 2>&1)
  llvm-profdata-14 merge -sparse "$prof" -o "$out/logs/$t.profdata" &&
    echo "== coverage of fuzz_$t (lines, branches):" &&
    llvm-cov-14 report "$out/fuzz_${t}_cov" -instr-profile="$out/logs/$t.profdata" $(sed -n 's/^SHIM_CORE = //p' "$root/shim/core.mk" | tr ' ' '\n' | sed "s|^|$root/shim/|") |
    awk '/epf_.*\.c/ {printf "%-20s lines %s missed %s (%s)  branches %s missed %s (%s)\n", $1, $8, $9, $10, $11, $12, $13}'
done
exit $found
