#!/usr/bin/env bash
# Builds the touch sample (samples/touch/touch.c, libtouch.c) and its ground truth.
#
#   bash samples/touch/build.sh [OUT_DIR]      (default OUT_DIR: build/samples/touch)
#
# Writes OUT_DIR/touch (PIE, rpath $ORIGIN), OUT_DIR/libtouch.so and OUT_DIR/truth.json:
# the file page of every page function and data page, from the symbol tables (nm) and the
# program headers (readelf): {"pageSize", "exe": {"path", "f": [256 pages], "d": [64]},
# "lib": {"path", "g": [64]}}. f[i] is the page touched by argument f:i, and so on.
# Outputs newer than the sources and this script are kept.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-"$root/build/samples/touch"}
mkdir -p "$out"
out=$(cd "$out" && pwd)

exec 9>"$out/.lock"
flock 9

deps=("$here/build.sh" "$here/touch.c" "$here/libtouch.c" "$here/pages.h")
fresh=1
for f in touch libtouch.so truth.json; do
  [ -e "$out/$f" ] || { fresh=0; break; }
  for d in "${deps[@]}"; do [ "$d" -nt "$out/$f" ] && fresh=0; done
done
if [ "$fresh" = 1 ]; then
  echo "touch sample up to date in $out"
  exit 0
fi

CFLAGS=(-O1 -g0 -Wall -Wextra -fno-ident -Wl,--build-id=sha1)
gcc "${CFLAGS[@]}" -fPIC -shared -o "$out/libtouch.so.tmp" "$here/libtouch.c"
mv "$out/libtouch.so.tmp" "$out/libtouch.so"
# shellcheck disable=SC2016 # $ORIGIN is for the linker
gcc "${CFLAGS[@]}" -fPIE -pie -o "$out/touch.tmp" "$here/touch.c" -L"$out" -ltouch -Wl,-rpath,'$ORIGIN'
mv "$out/touch.tmp" "$out/touch"

# file page of each symbol: find the PT_LOAD holding its address, offset = addr - vaddr + offset
pages() { # file prefix count -> JSON array
  local file=$1 prefix=$2 count=$3
  awk -v prefix="$prefix" -v count="$count" '
    function hex(s,   i, c, v) { v = 0; s = tolower(s); sub(/^0x/, "", s)
      for (i = 1; i <= length(s); i++) { c = index("0123456789abcdef", substr(s, i, 1)); if (!c) break; v = v * 16 + c - 1 }
      return v }
    FNR == NR { if ($1 == "LOAD") { n++; off[n] = hex($2); va[n] = hex($3); fs[n] = hex($5) } next }
    { name = $3; addr = hex($1)
      if (prefix == "rodata_pages") { if (name != "rodata_pages") next; for (i = 0; i < count; i++) want[i] = addr + i * 4096 }
      else if (name ~ "^" prefix "[0-9a-f][0-9a-f]$") want[hex(substr(name, 2))] = addr }
    END {
      printf "["
      for (i = 0; i < count; i++) {
        if (!(i in want)) { print "missing " prefix i > "/dev/stderr"; exit 1 }
        page = -1
        for (k = 1; k <= n; k++) if (want[i] >= va[k] && want[i] < va[k] + fs[k]) page = int((want[i] - va[k] + off[k]) / 4096)
        if (page < 0) { print "no PT_LOAD for " prefix i > "/dev/stderr"; exit 1 }
        if (want[i] % 4096 != 0) { print prefix i " is not page-aligned" > "/dev/stderr"; exit 1 }
        printf "%s%d", (i ? "," : ""), page
      }
      printf "]"
    }' <(readelf -lW "$file" | awk '$1 == "LOAD"') <(nm "$file")
}
{
  printf '{"pageSize":4096,\n"exe":{"path":"%s",\n"f":%s,\n"d":%s},\n"lib":{"path":"%s",\n"g":%s}}\n' \
    "$out/touch" "$(pages "$out/touch" f 256)" "$(pages "$out/touch" rodata_pages 64)" \
    "$out/libtouch.so" "$(pages "$out/libtouch.so" g 64)"
} >"$out/truth.json.tmp"
node -e 'const t = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); if (t.exe.f.length !== 256 || t.exe.d.length !== 64 || t.lib.g.length !== 64) process.exit(1)' "$out/truth.json.tmp" ||
  { echo "touch: could not compute the ground truth (see above)" >&2; exit 1; }
mv "$out/truth.json.tmp" "$out/truth.json"
echo "touch sample built in $out"
