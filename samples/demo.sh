#!/usr/bin/env bash
# The main job on a bundled sample (npm run demo): build a program whose start-up is spread
# over 6 MiB (samples/demo/bigstart.c), train it (record its start-up, select the pages, stamp
# the note), show its page map, and measure a cold start with and without the prefetch.
set -euo pipefail
cd "$(dirname "$0")/.."
cli=(node dist/cli/main.js)
out=build/demo
mkdir -p "$out"
step() { printf '\n$ %s\n' "$*"; }

if [[ $(uname -m) != x86_64 ]]; then
  echo "the demo's sample program is x86-64 machine code; this machine is $(uname -m)" >&2
  exit 1
fi
gcc -O2 -Wl,--build-id -o "$out/bigstart" samples/demo/bigstart.c

step elfprefetch train --runs 2 -- "$out/bigstart"
"${cli[@]}" train --runs 2 -- "$out/bigstart"

step elfprefetch verify "$out/bigstart"
"${cli[@]}" verify "$out/bigstart"

step elfprefetch show "$out/bigstart" --device hdd --svg "$out/bigstart.svg" "| head -n 12"
"${cli[@]}" show "$out/bigstart" --device hdd --svg "$out/bigstart.svg" --no-color | head -n 12
echo "  ... (the whole map: elfprefetch show $out/bigstart; as a picture: $out/bigstart.svg)"

# A cold start needs an empty page cache for the program's files: bench copies them to a
# loop device (root), else approximates by evicting them with posix_fadvise.
why=""
if [[ $(id -u) != 0 ]]; then why="not root: bench can only approximate a cold start (it evicts the files with posix_fadvise; nothing is throttled)"; fi
step elfprefetch bench --model hdd --runs 3 --strategy demand --strategy elfprefetch-exec --strategy warm -- "$out/bigstart"
if "${cli[@]}" bench --model hdd --runs 3 --strategy demand --strategy elfprefetch-exec --strategy warm --report "$out/bench.json" -- "$out/bigstart" >"$out/bench.txt" 2>"$out/bench.err"; then
  [[ -n $why ]] && echo "note: $why"
  node -e '
    const r = require(process.argv[1]);
    const m = r.models[0];
    const s = (k) => m.strategies.find((x) => x.strategy === k);
    const line = (label, x) => x && console.log(`  ${label.padEnd(34)} ${x.wallMs.median.toFixed(0).padStart(5)} ms  (${x.majflt.median} major faults, ${x.ios.median} read requests)`);
    console.log(`cold start of ${r.command.join(" ")} on a simulated hard disk (${m.describe}), median of ${r.runs}:`);
    line("demand paging (no prefetch)", s("demand"));
    line("prefetched by elfprefetch", s("elfprefetch-exec"));
    line("warm page cache (the floor)", s("warm"));
    const d = s("demand"), e = s("elfprefetch-exec");
    if (d && e) console.log(`  => ${(d.wallMs.median / e.wallMs.median).toFixed(1)}x faster from a cold cache with the note`);
  ' "$PWD/$out/bench.json"
  echo "  (the full table: $out/bench.txt)"
else
  echo "bench could not measure here: $(tail -n 1 "$out/bench.err")"
  echo "(it needs Linux, and as root a loop device, a mount and the blkio cgroup; see docs/BENCHMARKS.md)"
fi

step "$out/bigstart" demo
"$out/bigstart" demo
