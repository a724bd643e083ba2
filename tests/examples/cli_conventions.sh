#!/usr/bin/env bash
# The command-line conventions every faultline program shares (examples/common/cli.hpp):
# --version, --opt=value, and one wording and exit status 2 for usage errors.
# usage: cli_conventions.sh GATEWAY CLIENT LOADGEN INSPECT VERSION UPSTREAM_SIM
set -u
gateway=$1 client=$2 loadgen=$3 inspect=$4 version=$5 sim=$6
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

# check STATUS STDOUT STDERR -- PROGRAM ARGS...: the exact exit status, stdout and stderr.
check() {
  local want_status=$1 want_out=$2 want_err=$3
  shift 4
  local status=0
  "$@" </dev/null >"$work/out" 2>"$work/err" || status=$?
  local out err
  out=$(cat "$work/out") err=$(cat "$work/err")
  if [[ $status != "$want_status" || $out != "$want_out" || $err != "$want_err" ]]; then
    printf 'FAILED: %s\n  status %s (want %s)\n  stdout %q\n  (want) %q\n  stderr %q\n  (want) %q\n' \
      "${*:2}" "$status" "$want_status" "$out" "$want_out" "$err" "$want_err"
    failures=$((failures + 1))
  fi
}

# first_line_is TEXT -- PROGRAM ARGS...: exit 0 and the first line of stdout.
first_line_is() {
  local want=$1
  shift 2
  local status=0
  "$@" </dev/null >"$work/out" 2>"$work/err" || status=$?
  if [[ $status != 0 || $(head -n 1 "$work/out") != "$want" || -s $work/err ]]; then
    printf 'FAILED: %s --help: status %s, first line %q\n' "$*" "$status" "$(head -n 1 "$work/out")"
    failures=$((failures + 1))
  fi
}

u='(try --help)'
# --version: "<program> <version>" on stdout, exit 0, whatever else the line holds.
check 0 "faultline-gateway $version" "" -- "$gateway" --version
check 0 "faultline-client $version" "" -- "$client" --version
check 0 "faultline-client $version" "" -- "$client" --attempts 0 --version
check 0 "faultline-loadgen $version" "" -- "$loadgen" --version
check 0 "faultline-inspect $version" "" -- "$inspect" --version
check 0 "faultline-inspect $version" "" -- "$inspect" classify --version
check 0 "faultline-inspect $version" "" -- "$inspect" sse --version
check 0 "faultline-inspect $version" "" -- "$inspect" backoff --version
check 0 "faultline-upstream-sim $version" "" -- "$sim" --version

# --help: the usage line first, exit 0.
first_line_is "usage: faultline-gateway [options]" -- "$gateway" --help
first_line_is "usage: faultline-client --url BASE [options]" -- "$client" -h
first_line_is "usage: faultline-loadgen --url URL (--duration D | --requests N) [options]" -- \
  "$loadgen" --bogus --help
first_line_is "usage: faultline-inspect <command> [options]" -- "$inspect" --help
first_line_is "usage: faultline-upstream-sim [options]" -- "$sim" --help
first_line_is "usage: faultline-inspect sse [--chunks all|bytes|SEED] [--max-line BYTES|unlimited]" -- \
  "$inspect" sse --help

# An unknown option.
check 2 "" "faultline-gateway: unknown option '--frobnicate' $u" -- "$gateway" --frobnicate
check 2 "" "faultline-client: unknown option '--frobnicate' $u" -- "$client" --url http://h --frobnicate
check 2 "" "faultline-loadgen: unknown option '--frobnicate=3' $u" -- \
  "$loadgen" --url http://h --requests 1 --frobnicate=3
check 2 "" "faultline-inspect: unknown option '--frobnicate' $u" -- "$inspect" --frobnicate
check 2 "" "faultline-upstream-sim: unknown option '--frobnicate' $u" -- "$sim" --frobnicate
check 2 "" "faultline-inspect: unknown command 'frobnicate' $u" -- "$inspect" frobnicate
check 2 "" "faultline-inspect classify: unknown option '--frobnicate' $u" -- \
  "$inspect" classify --status 500 --frobnicate
check 2 "" "faultline-inspect sse: unknown option '--frobnicate' $u" -- "$inspect" sse --frobnicate
check 2 "" "faultline-inspect backoff: unknown option '--frobnicate' $u" -- \
  "$inspect" backoff --frobnicate

# A missing value.
check 2 "" "faultline-gateway: --port: needs a value $u" -- "$gateway" --port
check 2 "" "faultline-client: --url: needs a value $u" -- "$client" --url
check 2 "" "faultline-upstream-sim: --tls-key: needs a value $u" -- "$sim" --tls-key
check 2 "" "faultline-loadgen: --timeout: needs a value $u" -- "$loadgen" --url http://h --timeout
check 2 "" "faultline-inspect classify: --status: needs a value $u" -- "$inspect" classify --status
check 2 "" "faultline-inspect sse: --chunks: needs a value $u" -- "$inspect" sse --chunks
check 2 "" "faultline-inspect backoff: --seed: needs a value $u" -- "$inspect" backoff --seed

# An out-of-range value, as --opt value and as --opt=value.
check 2 "" "faultline-gateway: --threads: must be 1..256, not '0' $u" -- "$gateway" --threads 0
check 2 "" "faultline-gateway: --port: must be 0..65535, not '65536' $u" -- "$gateway" --port=65536
check 2 "" "faultline-upstream-sim: --hold-ms: must be 0..86400000, not '-1' $u" -- "$sim" --hold-ms -1
check 2 "" "faultline-upstream-sim: --port: must be 0..65535, not '65536' $u" -- "$sim" --port=65536
# A rule across options.
check 2 "" "faultline-upstream-sim: --tls-cert and --tls-key go together $u" -- \
  "$sim" --tls-cert cert.pem
check 2 "" "faultline-client: --ca-file: needs an https --url $u" -- \
  "$client" --url http://h --ca-file ca.pem
check 2 "" "faultline-loadgen: --ca-file: needs an https --url $u" -- \
  "$loadgen" --url http://h --requests 1 --ca-file=ca.pem
check 2 "" "faultline-client: --ca-file: cannot use '$work/none.pem': No such file or directory $u" -- \
  "$client" --url https://h --ca-file "$work/none.pem"
check 2 "" "faultline-loadgen: --arrival: needs --rate $u" -- \
  "$loadgen" --url http://h --requests 1 --arrival=constant
check 2 "" "faultline-loadgen: --prompts: $work/none.jsonl: cannot read: No such file or directory $u" -- \
  "$loadgen" --url http://h --requests 1 --prompts "$work/none.jsonl"
printf '{"prompt": "a"}\n[1]\n' >"$work/bad.jsonl"
check 2 "" "faultline-loadgen: --prompts: $work/bad.jsonl:2: not a JSON object $u" -- \
  "$loadgen" --url http://h --requests 1 --prompts="$work/bad.jsonl"
check 2 "" "faultline-client: --attempts: must be 1..100, not '0' $u" -- \
  "$client" --url http://h --attempts 0
check 2 "" "faultline-client: --attempts: must be 1..100, not '101' $u" -- \
  "$client" --url=http://h --attempts=101
# A run in which nothing succeeded still reports, and says so: exit 3 and one line naming why.
status=0
"$loadgen" --url http://127.0.0.1:1 --requests 2 --quiet --json "$work/nothing.json" \
  </dev/null >"$work/out" 2>"$work/err" || status=$?
refused=$(python3 -c 'import os, errno; print(os.strerror(errno.ECONNREFUSED))')
want="faultline-loadgen: no request succeeded: 2 of 2 failed, most often upstream_unavailable/upstream_unavailable (2: $refused)"
if [[ $status != 3 || $(cat "$work/err") != "$want" || ! -s $work/nothing.json ]] ||
  ! grep -q '^  failures     upstream_unavailable: 2' "$work/out"; then
  printf 'FAILED: a run without successes: status %s (want 3), stderr %q\n' "$status" "$(cat "$work/err")"
  failures=$((failures + 1))
fi
check 2 "" "faultline-loadgen: --connections: must be 1..1024, not '0' $u" -- \
  "$loadgen" --url http://h --requests 1 --connections 0
check 2 "" "faultline-loadgen: --connections: must be 1..1024, not '1025' $u" -- \
  "$loadgen" --url=http://h --requests=1 --connections=1025
check 2 "" "faultline-inspect classify: --status: must be 0..999, not '1000' $u" -- \
  "$inspect" classify --status=1000
check 2 "" "faultline-inspect sse: --chunks: must be all, bytes or a decimal seed, not 'some' $u" -- \
  "$inspect" sse --chunks=some
check 2 "" "faultline-inspect sse: --max-line: must be a whole number of bytes or 'unlimited', not 'lots' $u" -- \
  "$inspect" sse --max-line lots
check 2 "" "faultline-inspect backoff: --attempts: must be 1..10000, not '0' $u" -- \
  "$inspect" backoff --policy full --base 1 --cap 2 --attempts=0

# --opt=value runs like --opt value.
check 0 '{"attempt":1,"min_ms":250,"p50_ms":250,"p90_ms":250,"max_ms":250}' "" -- \
  "$inspect" backoff --policy=constant --base=250 --attempts=1 --samples=1
printf 'data: {"x":1}\n\ndata: [DONE]\n\n' >"$work/stream.sse"
check 0 '{"event":null,"data":"{\"x\":1}","id":null,"lastEventId":""}
{"event":null,"data":"[DONE]","id":null,"lastEventId":""}
{"verdict":{"terminal":"done","error":null}}' "" -- "$inspect" sse --chunks=bytes "$work/stream.sse"

# Numbers in printed JSON are plain decimals (regression: Boost.JSON wrote 4.99106E2).
check 0 '{"attempt":1,"min_ms":28.551,"p50_ms":56.656,"p90_ms":97.1,"max_ms":97.1}
{"attempt":2,"min_ms":88.872,"p50_ms":149.156,"p90_ms":158.799,"max_ms":158.799}' "" -- \
  "$inspect" backoff --policy full --base 100 --cap 1000 --attempts 2 --samples 5

if ((failures)); then
  echo "$failures command-line checks failed"
  exit 1
fi
echo "all command-line checks passed"
