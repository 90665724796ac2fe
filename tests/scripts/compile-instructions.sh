#!/usr/bin/env bash
# Instructions V8 spends compiling each module with TurboFan, as Envoy does
# before a filter's first request (BENCHMARKS.md, "Start-up: where Envoy's
# 0.8 s goes"): Node runs `new WebAssembly.Module(bytes)` eagerly
# (--no-wasm-lazy-compilation) without Liftoff and single-threaded under
# callgrind, less the same for an empty module. Reproducible to about 1 %
# on a busy machine, where start-up times move by tens of percent.
#
#   compile-instructions.sh [MODULE.wasm ...]
# (default: the release builds of the filter and the no-op filter). NODE
# picks the node binary (default: verifier-js/runtimes's Node 26, whose V8
# is Envoy 1.40's, 14.6).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
node=${NODE:-$root/verifier-js/runtimes/node_modules/node26/bin/node}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ "$#" -eq 0 ]; then
  set -- "$root/target/wasm32-wasip1/release/signed_headers.wasm" \
    "$root/target/wasm32-wasip1/release/noop_filter.wasm"
fi
echo 'import { readFileSync } from "node:fs"; new WebAssembly.Module(readFileSync(process.argv[2]));' > "$work/compile.mjs"
printf '\0asm\1\0\0\0' > "$work/empty.wasm"

instructions() { # MODULE
  if ! valgrind --tool=callgrind --callgrind-out-file="$work/cg" \
    "$node" --no-warnings --no-liftoff --no-wasm-lazy-compilation --single-threaded \
    "$work/compile.mjs" "$1" > "$work/out" 2>&1; then
    echo "V8 did not compile $1:" >&2
    grep -m1 -i error "$work/out" >&2
    exit 1
  fi
  sed -n 's/^summary: //p; s/^totals: //p' "$work/cg" | head -1
}

empty=$(instructions "$work/empty.wasm")
echo "| module | bytes | compile instructions |"
echo "|---|---:|---:|"
for module in "$@"; do
  count=$(instructions "$module")
  echo "| $module | $(stat -c %s "$module") | $((count - empty)) |"
done
