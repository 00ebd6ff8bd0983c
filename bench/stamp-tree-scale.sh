#!/usr/bin/env bash
# Scale of stamp-tree next to copying the tree (docs/BENCHMARKS.md, "Stamping a whole tree").
#   bash bench/stamp-tree-scale.sh [SRC_DIR] [SCRATCH_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
npm run -s build >/dev/null
exec npx ts-node --transpile-only bench/stamp-tree-scale.ts "$@"
