#!/usr/bin/env bash
# Stamp speed, side by side with cp, objcopy and Node's own start-up, in one run.
#
#   npx tsc -p . && bash bench/stamp-speed.sh
#
# Every round times each operation once, in an order rotated from round to round (so no
# operation always runs right after another), on a fresh copy of the input, with a sync
# (untimed) before each so no operation pays for writing back another's output:
#   cp           cp IN OUT
#   cp+sync      cp IN OUT && sync OUT   (stamp fsyncs its output before the rename; cp does not)
#   objcopy      objcopy --add-section .note.test=NOTE --set-section-flags .note.test=alloc,readonly IN OUT
#                with NOTE as many bytes as our note section in a stamp of IN (see below)
#   stamp        elfprefetch stamp IN --pages 0-2000 -o OUT        (a first stamp)
#   re-stamp     elfprefetch stamp OUT --pages 0-1000              (in place, of a stamped file)
#   node -e 0    Node's own start-up
#   --version    elfprefetch --version: our CLI's start-up (yargs and the command modules)
# and prints median, min and max per operation, then the ratios of the medians.
#
# Environment:
#   INPUT    the ELF file to stamp (default: the node executable, readlink -f $(which node))
#   ROUNDS   rounds (default 7)
#   CLI      the CLI to time (default: dist/cli/main.js of this checkout)
#   PAGES    page set of the first stamp (default 0-2000)
#   WORK     scratch directory, on the filesystem you care about (default: mktemp -d in $TMPDIR or /tmp)
#   KEEP=1   keep WORK afterwards
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
INPUT=${INPUT:-$(readlink -f "$(command -v node)")}
ROUNDS=${ROUNDS:-7}
CLI=${CLI:-$here/dist/cli/main.js}
PAGES=${PAGES:-0-2000}
NODE=$(command -v node)
WORK=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/stamp-speed.XXXXXX")}
mkdir -p "$WORK"
[[ ${KEEP:-0} == 1 ]] || trap 'rm -rf "$WORK"' EXIT

[[ -f $CLI ]] || { echo "no $CLI: build first (npx tsc -p .)" >&2; exit 1; }
command -v objcopy >/dev/null || { echo "objcopy is not installed (Debian package binutils)" >&2; exit 1; }

cp "$INPUT" "$WORK/input"
size=$(stat -c %s "$WORK/input")

# Our note's size: stamp once and read the section's size back with info --json.
"$NODE" "$CLI" stamp "$WORK/input" --pages "$PAGES" -o "$WORK/probe" --json >"$WORK/probe.json"
note_bytes=$("$NODE" "$CLI" info "$WORK/probe" --json | "$NODE" -e '
  const d = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const s = d.sections.find((s) => s.name === ".note.elfprefetch");
  if (s) { console.log(Number(s.size)); process.exit(0); }
  // No section header for it: a note record is 12 bytes of header, the owner name padded to 4, the descriptor.
  const n = d.notes.find((n) => n.owner === "elfprefetch");
  console.log(12 + Math.ceil((n.owner.length + 1) / 4) * 4 + n.descSize);')
head -c "$note_bytes" /dev/urandom >"$WORK/note.bin"
rm -f "$WORK/probe"

echo "input:     $INPUT ($size bytes), copied to $WORK"
echo "cli:       $CLI ($("$NODE" "$CLI" --version)), node $("$NODE" --version)"
echo "first stamp of the probe: $(cat "$WORK/probe.json")"
echo "note:      $note_bytes bytes (section .note.elfprefetch), objcopy adds a section of that size"
echo "machine:   $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(findmnt -no FSTYPE --target "$WORK") at $WORK"
echo "rounds:    $ROUNDS"
echo "load:      $(cut -d' ' -f1-3 /proc/loadavg) at the start (anything else running on the machine skews every figure)"
echo

TIMEFORMAT='%3R %3U %3S'

ops=(cp cp+sync objcopy stamp re-stamp node-e-0 cli-version)
run_op() {
  local op=$1 in=$WORK/in out=$WORK/out.$1
  rm -f "$out"
  case $op in
    cp) cp "$in" "$out" ;;
    cp+sync) cp "$in" "$out" && sync "$out" ;;
    objcopy) objcopy --add-section .note.test="$WORK/note.bin" --set-section-flags .note.test=alloc,readonly "$in" "$out" 2>/dev/null ;;
    stamp) "$NODE" "$CLI" stamp "$in" --pages "$PAGES" -o "$out" >/dev/null ;;
    re-stamp) out=$WORK/stamped; "$NODE" "$CLI" stamp "$out" --pages 0-1000 >/dev/null ;;
    node-e-0) "$NODE" -e 0 ;;
    cli-version) "$NODE" "$CLI" --version >/dev/null ;;
  esac
}

times=$WORK/times.tsv
: >"$times"
for ((r = 0; r < ROUNDS; r++)); do
  # A fresh input each round (a first stamp, not a re-stamp), and a stamped file to re-stamp.
  rm -f "$WORK"/out.* "$WORK/stamped"
  cp "$WORK/input" "$WORK/in"
  "$NODE" "$CLI" stamp "$WORK/in" --pages "$PAGES" -o "$WORK/stamped" >/dev/null
  cmp -s "$WORK/input" "$WORK/in" || { echo "the input changed" >&2; exit 1; }
  sync
  n=${#ops[@]}
  for ((i = 0; i < n; i++)); do
    op=${ops[(i + r) % n]}
    sync # write back what the last operation left dirty, so it does not slow this one down
    # bash's time keyword: wall, user and system seconds of the operation and its children, no fork.
    { time run_op "$op" 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 1; }; } 2>"$WORK/t"
    read -r real user sys <"$WORK/t"
    printf '%s\t%d\t%s\t%s\t%s\n' "$op" "$r" "$real" "$user" "$sys" >>"$times"
  done
done

echo "load:      $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo
"$NODE" - "$times" "${ops[*]}" <<'EOF'
const fs = require('fs');
const [file, opList] = process.argv.slice(2);
const rows = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => l.split('\t'));
const by = {}, cpu = {};
for (const [op, , real, user, sys] of rows) {
  (by[op] ??= []).push(Number(real) * 1000);
  (cpu[op] ??= []).push((Number(user) + Number(sys)) * 1000);
}
const med = (a) => { const s = [...a].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const f = (x) => x.toFixed(1).padStart(8);
console.log('wall clock   median ms    min ms    max ms   CPU ms (user+sys, median)   wall ms of each round');
const M = {};
for (const op of opList.split(' ')) {
  const a = by[op];
  M[op] = med(a);
  console.log(`${op.padEnd(12)} ${f(M[op])}  ${f(Math.min(...a))}  ${f(Math.max(...a))}   ${f(med(cpu[op]))}                   ${a.map((x) => x.toFixed(0)).join(' ')}`);
}
const ratio = (name, a, b) => console.log(`${name.padEnd(44)} ${(a / b).toFixed(2)}`);
console.log();
console.log('ratios of medians');
ratio('stamp / cp', M.stamp, M.cp);
ratio('stamp / (cp + node -e 0)', M.stamp, M.cp + M['node-e-0']);
ratio('stamp / (cp+sync + node -e 0)', M.stamp, M['cp+sync'] + M['node-e-0']);
ratio('stamp / objcopy', M.stamp, M.objcopy);
ratio('re-stamp / cp', M['re-stamp'], M.cp);
ratio('re-stamp / (cp + node -e 0)', M['re-stamp'], M.cp + M['node-e-0']);
ratio('re-stamp / objcopy', M['re-stamp'], M.objcopy);
ratio('cli --version / node -e 0', M['cli-version'], M['node-e-0']);
console.log();
const goal1 = M.stamp <= M.cp + M['node-e-0'];
const goal2 = M.stamp < M.objcopy;
console.log(`goal "stamp no slower than cp + Node's start-up": ${goal1 ? 'met' : 'NOT met'} (${M.stamp.toFixed(0)} ms vs ${(M.cp + M['node-e-0']).toFixed(0)} ms)`);
console.log(`goal "stamp faster than objcopy":               ${goal2 ? 'met' : 'NOT met'} (${M.stamp.toFixed(0)} ms vs ${M.objcopy.toFixed(0)} ms)`);
EOF
