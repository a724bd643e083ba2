#!/usr/bin/env bash
# Consumes faultline three ways, as users do, and runs the same program each time:
#   include  plain #include + -lboost_json
#   wrap     a meson subproject fetched through subprojects/faultline.wrap (wrap-git of this repo's HEAD)
#   pkgconf  an installed copy found through pkg-config
# Prints one line "consumer <way>: ok|FAILED" per way; exits non-zero if any failed.
set -uo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
log="$work/log"

report() { # name, exit status of the step
  if [[ $2 -eq 0 ]]; then echo "consumer $1: ok"; else echo "consumer $1: FAILED"; tail -n 30 "$log"; status=1; fi
}

${CXX:-g++} -std=c++20 -Wall -Wextra -Wpedantic -Werror -I"$src/include" \
  "$src/tests/consumer/app/main.cpp" -o "$work/include-consumer" -lboost_json -pthread >"$log" 2>&1 &&
  "$work/include-consumer" >>"$log" 2>&1
report include $?

cp -r "$src/tests/consumer/app" "$work/wrap"
mkdir -p "$work/wrap/subprojects"
cat >"$work/wrap/subprojects/faultline.wrap" <<WRAP
[wrap-git]
url = file://$src
revision = HEAD
depth = 1

[provide]
faultline = faultline_dep
WRAP
(meson setup "$work/wrap/build" "$work/wrap" -Dmethod=subproject &&
  meson test -C "$work/wrap/build") >"$log" 2>&1
report wrap $?

(meson setup "$work/fl-build" "$src" --prefix "$work/prefix" -Dtests=false -Dexamples=false \
    -Dbenchmarks=false -Dfuzz=false &&
  meson install -C "$work/fl-build" &&
  pc=$(dirname "$(find "$work/prefix" -name faultline.pc | head -n 1)") &&
  PKG_CONFIG_PATH="$pc" meson setup "$work/pc/build" "$src/tests/consumer/app" -Dmethod=pkg-config &&
  meson test -C "$work/pc/build") >"$log" 2>&1
report pkgconf $?

exit $status
