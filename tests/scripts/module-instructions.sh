#!/usr/bin/env bash
# Instructions per request of each module's own request path, in Node's V8
# without Envoy (tests/scripts/hit-profile.mjs under callgrind): the filter
# on a token cache hit against the floor (the SDK's header copies) and the
# floor reading the headers in place. Each count is the difference between
# runs of 1,000 and 21,000 requests (after the same warm-up), so start-up
# and compilation cancel. V8 runs as Envoy runs it: without Liftoff, every
# function compiled by TurboFan up front (proxy-wasm-cpp-host turns Liftoff
# off; with it, counts depended on when each function tiered up and were
# off by up to a factor of two), and single-threaded, so runs agree to
# about 2 %. Whole-Envoy counts are `make bench-instructions`.
#
#   module-instructions.sh [FILTER.wasm [NOOP.wasm]]
# PROFILE=1 also prints where the filter's time goes, by wasm function
# (node --cpu-prof; needs a build with names, the `release-js` profile).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
filter=${1:-$root/target/wasm32-wasip1/release-js/signed_headers.wasm}
noop=${2:-$root/target/wasm32-wasip1/release-js/noop_filter.wasm}
harness=$root/tests/scripts/hit-profile.mjs
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$root/target/release/signing-key" generate -o "$work/key.pem" 2>/dev/null
python3 -c 'import json, sys; print(json.dumps({"signing_key": open(sys.argv[1]).read()}))' \
  "$work/key.pem" > "$work/filter.json"
echo '{"mode": "floor"}' > "$work/floor.json"
echo '{"mode": "floor", "in_place": true}' > "$work/floor-in-place.json"

instructions() { # MODULE CONFIG REQUESTS
  valgrind --tool=callgrind --callgrind-out-file="$work/cg" \
    node --no-warnings --no-liftoff --single-threaded --max-semi-space-size=64 "$harness" "$@" > /dev/null 2>&1
  sed -n 's/^summary: //p; s/^totals: //p' "$work/cg" | head -1
}
per_request() { # MODULE CONFIG
  local few many
  few=$(instructions "$1" "$2" 1000)
  many=$(instructions "$1" "$2" 21000)
  echo $(((many - few) / 20000))
}

echo "| module | instructions per request |"
echo "|---|---:|"
echo "| floor (the SDK's get_map) | $(per_request "$noop" "$work/floor.json") |"
echo "| floor, headers read in place | $(per_request "$noop" "$work/floor-in-place.json") |"
echo "| signed-headers, token cache hit | $(per_request "$filter" "$work/filter.json") |"

if [ "${PROFILE:-0}" = 1 ]; then
  node --no-warnings --no-liftoff --cpu-prof --cpu-prof-interval 20 --cpu-prof-dir "$work/profile" \
    "$harness" "$filter" "$work/filter.json" 400000 > /dev/null
  python3 "$root/tests/scripts/wasm-profile.py" "$work"/profile/*.cpuprofile 420000
fi
