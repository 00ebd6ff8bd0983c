#!/usr/bin/env bash
# The main job on a bundled sample: build the sample program, stamp its start-up pages into
# a note, show and verify the note, and run the stamped program.
set -euo pipefail
cd "$(dirname "$0")/.."
cli=(node dist/cli/main.js)
bash samples/build.sh >/dev/null
mkdir -p build/demo
cp build/samples/x86-64/pie/hello build/demo/hello
echo "\$ elfprefetch stamp build/demo/hello --pages 0-3"
"${cli[@]}" stamp build/demo/hello --pages 0-3
echo "\$ elfprefetch verify build/demo/hello"
"${cli[@]}" verify build/demo/hello
echo "\$ elfprefetch info build/demo/hello"
"${cli[@]}" info build/demo/hello | sed -n '/^Prefetch note/,$p'
echo "\$ build/demo/hello demo"
build/demo/hello demo | head -3
