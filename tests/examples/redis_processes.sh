#!/usr/bin/env bash
# Two faultline-gateway processes started with --redis share one key's limit: sk-demo-limited may
# send 2 requests a minute in all, whichever gateway they reach. Starts a private redis-server on
# a free port of 127.0.0.1; everything is stopped on exit.
#
# usage: redis_processes.sh GATEWAY CLIENT REDIS_SERVER
set -euo pipefail
gateway=$1 client=$2 redis=$3
[[ -x $redis ]] || { echo "redis-server was not found when the build was configured"; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
# Every process started here must be gone once cleanup ran: a redis-server and two gateways.
check_stopped() {
  cleanup
  [[ ${#pids[@]} -eq 3 ]] || { echo "FAILED: expected 3 processes, recorded ${#pids[@]}"; exit 1; }
  for p in "${pids[@]}"; do
    if kill -0 "$p" 2>/dev/null; then echo "FAILED: process $p still runs after cleanup"; exit 1; fi
  done
  echo "ok: every process stopped"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$redis" --bind 127.0.0.1 --port "$port" --save '' --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.05
done

# Started in this shell, not in a $(...) subshell, so that cleanup knows every pid.
start() { # name
  "$gateway" --port 0 --redis "127.0.0.1:$port" >"$work/$1.out" 2>"$work/$1.log" &
  pids+=($!)
}
url_of() { # name
  for _ in $(seq 100); do grep -q listening "$work/$1.out" && break; sleep 0.05; done
  sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$work/$1.out"
}
start a
start b
a=$(url_of a)
b=$(url_of b)
[[ -n $a && -n $b ]] || { echo "a gateway did not start"; cat "$work"/*.log; exit 1; }

ask() { "$client" --url "$1/v1" --key sk-demo-limited --attempts 1 --json || true; }
expect() { # what, json, substring
  if [[ $2 != *"$3"* ]]; then echo "FAILED: $1: expected $3 in $2"; exit 1; fi
  echo "ok: $1"
}
expect "first request, gateway a" "$(ask "$a")" '"ok":true'
expect "second request, gateway b" "$(ask "$b")" '"ok":true'
expect "third request, gateway a: the shared limit" "$(ask "$a")" '"code":"rpm_exceeded"'
expect "fourth request, gateway b: the shared limit" "$(ask "$b")" '"code":"rpm_exceeded"'
grep -q 'by=redis' "$work/a.log" || { echo "FAILED: gateway a did not decide in Redis"; exit 1; }
check_stopped
