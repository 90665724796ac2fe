#!/usr/bin/env bash
# Instructions per operation of a signature's parts in Node's V8, counted by
# callgrind (keys/examples/signing_cost.rs's `repeat` mode): reproducible on
# a busy machine where `make bench-signing`'s timings move by tens of
# percent. Each count is the difference between runs of 100 and 1,100
# operations (COUNTS="FEW MANY" changes that: kG-batch is 16 k·G an
# operation, kG-batch-N N of them), so start-up and compilation cancel; V8 runs without Liftoff
# and single-threaded, as in module-instructions.sh.
#
#   signing-instructions.sh [signing_cost.wasm]
# OPERATIONS picks the operations (default: kG sign; also kG-batch, kG-batch-N, hedged, nonce, digest:
# signing_cost.rs says what each is); NODE the node binary
# (default: the one on PATH; verifier-js/runtimes's node26 has Envoy 1.40's
# V8, 14.6), NODE_FLAGS its V8 flags (default: --no-liftoff
# --single-threaded). signing_cost is its own build of the signing code,
# which LTO can compile differently from the filter's: confirm a change in
# the filter with `make bench-instructions` (BENCHMARKS.md, "Selecting
# table entries").
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
example=${1:-$root/target/wasm32-wasip1/release/examples/signing_cost.wasm}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

instructions() { # OPERATION COUNT
  valgrind --tool=callgrind --callgrind-out-file="$work/cg" \
    "${NODE:-node}" --no-warnings ${NODE_FLAGS---no-liftoff --single-threaded} \
    "$root/tests/scripts/wasi-run.mjs" "$example" repeat "$@" > /dev/null 2>&1
  sed -n 's/^summary: //p; s/^totals: //p' "$work/cg" | head -1
}

echo "| operation | instructions |"
echo "|---|---:|"
for operation in ${OPERATIONS:-kG sign}; do
  read -r few_count many_count <<< "${COUNTS:-100 1100}"
  few=$(instructions "$operation" "$few_count")
  many=$(instructions "$operation" "$many_count")
  echo "| $operation | $(((many - few) / (many_count - few_count))) |"
done
