#!/usr/bin/env bash
# The conformance suite: the example gateway driven by the official openai npm client.
# usage: run.sh GATEWAY_BINARY [JUNIT_FILE [UPSTREAM_SIM_BINARY]]
# Builds nothing. Starts GATEWAY_BINARY with its built-in configuration on a free port of
# 127.0.0.1 (its channels at UPSTREAM_SIM_BINARY on another free port when given, so every byte
# crosses a socket), runs gateway.test.cjs with node's test runner against it (a JUnit report to
# JUNIT_FILE when given), and always stops the gateway. The openai package comes from
# `npm ci` in this directory (.ci/install-deps does it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
gateway=${1:?usage: run.sh GATEWAY_BINARY [JUNIT_FILE [UPSTREAM_SIM_BINARY]]}
junit=${2:-}
sim=${3:-}

command -v node >/dev/null || { echo "conformance: node is missing (run .ci/install-deps)"; exit 1; }
[[ -f $here/node_modules/openai/package.json ]] ||
  { echo "conformance: $here/node_modules/openai is missing (run .ci/install-deps)"; exit 1; }
[[ -x $gateway ]] || { echo "conformance: no gateway binary at $gateway"; exit 1; }

[[ -n $junit ]] && rm -f "$junit" # a report from an earlier run must not be counted again
work=$(mktemp -d)
gw_pid=
node_pid=
sim_pid=
cleanup() {
  if [[ -n $node_pid ]]; then
    kill "$node_pid" 2>/dev/null || true
    wait "$node_pid" 2>/dev/null || true
  fi
  if [[ -n $gw_pid ]]; then
    kill "$gw_pid" 2>/dev/null || true
    wait "$gw_pid" 2>/dev/null || true
  fi
  if [[ -n $sim_pid ]]; then
    kill "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

channels=()
if [[ -n $sim ]]; then
  [[ -x $sim ]] || { echo "conformance: no upstream simulator binary at $sim"; exit 1; }
  "$sim" --port 0 >"$work/sim.out" 2>"$work/sim.log" &
  sim_pid=$!
  sim_url=
  for _ in $(seq 200); do
    sim_url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$work/sim.out" 2>/dev/null || true)
    [[ -n $sim_url ]] && break
    kill -0 "$sim_pid" 2>/dev/null || break
    sleep 0.05
  done
  [[ -n $sim_url ]] || { echo "conformance: the simulator did not start"; cat "$work/sim.log"; exit 1; }
  channels=(--channels-at "$sim_url")
fi
"$gateway" --port 0 "${channels[@]}" >"$work/gateway.out" 2>"$work/gateway.log" &
gw_pid=$!
url=
for _ in $(seq 200); do
  # The background job may not have created gateway.out yet.
  url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$work/gateway.out" 2>/dev/null || true)
  [[ -n $url ]] && break
  kill -0 "$gw_pid" 2>/dev/null || break
  sleep 0.05
done
if [[ -z $url ]]; then
  echo "conformance: the gateway did not start"
  cat "$work/gateway.out" "$work/gateway.log"
  exit 1
fi
echo "conformance: gateway at $url${sim:+ (channels at $sim_url)}, openai $(node -p "require('$here/node_modules/openai/package.json').version")"

reporters=(--test-reporter=spec --test-reporter-destination=stdout)
[[ -n $junit ]] && reporters+=(--test-reporter=junit --test-reporter-destination="$junit")
# In the background so that a signal to this script runs its traps at once, not after node.
FAULTLINE_GATEWAY_URL=$url FAULTLINE_GATEWAY_LOG=$work/gateway.log \
  timeout --kill-after=10 240 node --test "${reporters[@]}" "$here/gateway.test.cjs" &
node_pid=$!
status=0
wait "$node_pid" || status=$?
node_pid=
if ((status != 0)); then
  echo "conformance: failed ($status); the gateway's log:"
  tail -n 60 "$work/gateway.log"
fi
exit "$status"
