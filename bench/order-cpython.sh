#!/usr/bin/env bash
# The ordered-link benchmark of docs/BENCHMARKS.md ("Ordered link: CPython"): CPython 3.11 from
# the Debian source package, compiled once with -ffunction-sections -fdata-sections
# (bench/order-cpython-build.sh), linked by lld from the same objects three times: in stock
# order (stock), with the --symbol-ordering-file that `elfprefetch order` makes from page-grained
# profiles of the stock link and of a first ordered link (ordered: two rounds, see below), and
# with the order made from one profile of the training link (exact: GNU ld with the script of
# `order --training`, every function on a page of its own); the last also with the lld-rodata
# script (exact-rodata), by gold (exact-gold) and by GNU ld with the gnu-ld script (exact-gnu).
# The copies lose their debug info
# (strip --strip-debug: whole-file preload would otherwise read 16 MB of DWARF no start-up
# touches) and keep .symtab. Every link is a position-dependent executable (LINK_FLAGS, default
# -no-pie), as Debian links its python3.11 (an EXEC: debian/rules builds with hardening=-pie);
# stock-pie is the stock link as a PIE, for reference: ld.so then relocates its data at start-up
# and reads all of .rela.dyn, which no order changes. Then, per link: the pages and runs of the program's start-up set
# (`record`, exact, RUNS runs), by section, and `elfprefetch bench` under MODELS (default "none
# cloud hdd") with demand paging, whole-file preload and the exec wrapper, the four links one
# after the other in this one invocation. Root only. Not in CI.
#
#   bash bench/order-cpython.sh [WORKDIR] [RUNS]      (default /tmp/elfprefetch-order-cpython, 3)
#
# CMD (default "-c pass") is the interpreter's arguments. Writes WORKDIR/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/elfprefetch-order-cpython}
RUNS=${2:-3}
read -r -a lflags <<<"${LINK_FLAGS--no-pie}"
MODELS=${MODELS:-"none cloud hdd"}
read -r -a args <<<"${CMD:--c pass}"
ep() { node dist/cli/main.js "$@"; }
bash bench/order-cpython-build.sh "$WORK"
B=$WORK/build # the programs stay in the build folder: that is where python finds its Lib/
OUT=$WORK/results
mkdir -p "$OUT"

link() { # NAME [ORDER FILE]: links build/python-NAME with lld (in that order), records RUNS runs of it unstripped
  "$WORK/link.sh" "$B/python-$1" lld "${lflags[@]}" ${2:+-Wl,--symbol-ordering-file="$2" -Wl,--no-warn-symbol-ordering}
  ep record --runs "$RUNS" -o "$OUT/$1-unstripped.json" -- "$B/python-$1" "${args[@]}" >/dev/null
}
echo "== stock link (lld), and as a PIE" >&2
link stock
"$WORK/link.sh" "$B/python-stock-pie" lld -pie
# Round 1 orders by the stock link's profile. Its functions are those on recorded pages, run or
# not; round 2 leaves out what round 1's link did not use (`order` with both profiles).
echo "== round 1: order file from the stock link's profile" >&2
ep order "$OUT/stock-unstripped.json" --format lld -o "$OUT/round1.order"
link round1 "$OUT/round1.order"
echo "== round 2: the stock profile without what round 1 did not use" >&2
ep order "$OUT/stock-unstripped.json" "$OUT/round1-unstripped.json" --format lld -o "$OUT/python.order"
link ordered "$OUT/python.order"
# The function-exact order: one profile of the training link names just what start-up ran.
echo "== training link (GNU ld, every function on a page of its own), then the exact order" >&2
ep order --training -o "$OUT/training.ld"
"$WORK/link.sh" "$B/python-training" bfd "${lflags[@]}" -Wl,-T,"$OUT/training.ld"
ep record --runs "$RUNS" -o "$OUT/training.json" -- "$B/python-training" "${args[@]}" >/dev/null
ep order "$OUT/training.json" --format lld -o "$OUT/exact.order"
link exact "$OUT/exact.order"
# And with the script of the read-only data lld's symbol order cannot place (switch tables, literals).
ep order "$OUT/training.json" --format lld-rodata -o "$OUT/exact-rodata.ld"
"$WORK/link.sh" "$B/python-exact-rodata" lld "${lflags[@]}" -Wl,--symbol-ordering-file="$OUT/exact.order" \
  -Wl,--no-warn-symbol-ordering -Wl,-T,"$OUT/exact-rodata.ld"
# The same with gold, whose order names sections: it moves the functions' switch tables too.
ep order "$OUT/training.json" --format gold -o "$OUT/exact.gold"
"$WORK/link.sh" "$B/python-exact-gold" gold "${lflags[@]}" -Wl,--section-ordering-file="$OUT/exact.gold"
# And with GNU ld, whose script gathers the functions' string literals too (an output section of
# their own: both other linkers merge every literal of .rodata into one block, in input order).
ep order "$OUT/training.json" --format gnu-ld -o "$OUT/exact-gnu.ld"
"$WORK/link.sh" "$B/python-exact-gnu" bfd "${lflags[@]}" -Wl,-T,"$OUT/exact-gnu.ld"
LINKS="stock-pie stock ordered exact exact-rodata exact-gold exact-gnu"
for v in $LINKS; do
  strip --strip-debug "$B/python-$v"
  "$B/python-$v" "${args[@]}" # runs, and writes the .pyc files before anything is measured
  ep record --runs "$RUNS" --json -o "$OUT/$v.json" -- "$B/python-$v" "${args[@]}" >/dev/null
done
# Pages and runs of the program's own start-up set, the file sizes, and per section of the file
# the pages and runs (ranges of consecutive pages) that fall in it, and the requests the shim's
# read plan makes of the set per device class (src/readplan/coalesce.ts).
node -e '
const fs = require("fs");
const { planReads, DEVICES } = require("./dist/src/readplan/coalesce.js");
for (const v of process.argv[2].split(" ")) {
  const p = JSON.parse(fs.readFileSync(process.argv[1] + "/" + v + ".json", "utf8"));
  const o = p.objects.find((x) => x.main);
  const runs = o.pages.split(",").map((r) => r.split("-").map(Number)).map(([a, b]) => [a, b ?? a]);
  const pages = runs.reduce((n, [a, b]) => n + b - a + 1, 0);
  const inAll = (o.counts || []).filter((c) => c === p.runs).length;
  const by = new Map();
  for (const [a, b] of runs) {
    for (let pg = a; pg <= b; pg++) {
      const s = o.sections.find((s) => pg * p.pageSize < s.offset + s.size && (pg + 1) * p.pageSize > s.offset);
      const n = s ? s.name : "(headers)";
      const e = by.get(n) ?? { pages: 0, runs: 0, last: -2 };
      e.pages++;
      if (e.last !== pg - 1) e.runs++;
      e.last = pg;
      by.set(n, e);
    }
  }
  const secs = [...by].map(([n, e]) => `${n} ${e.pages}/${e.runs}`).join(", ");
  const plans = ["nvme", "ssd", "hdd"].map((d) => {
    const r = planReads(runs.map(([a, b]) => ({ first: a, count: b - a + 1 })), p.pageSize, DEVICES[d], o.size);
    return `${d} ${r.length} (${(r.reduce((n, x) => n + x.length, 0) / 1048576).toFixed(2)} MiB)`;
  });
  console.log(`${v}: ${o.path} ${o.size} bytes: ${pages} pages (${inAll} in all ${p.runs} runs) in ${runs.length} runs; planned requests ${plans.join(", ")}; pages/runs by section: ${secs}`);
}' "$OUT" "$LINKS" | tee "$OUT/pages.txt"
margs=()
for m in $MODELS; do margs+=(--model "$m"); done
for v in $LINKS; do
  echo "== bench: $v" >&2
  ep bench "${margs[@]}" --strategy demand --strategy wholefile --strategy elfprefetch-exec --runs "$RUNS" \
    --report "$OUT/bench-$v.json" -- "$B/python-$v" "${args[@]}" | tee "$OUT/bench-$v.txt"
done
