#!/usr/bin/env bash
# Consumes faultline the ways users do, and runs the same program each time:
#   include     plain #include + -lboost_json (-std=gnu++20: the consumer's dialect is its own)
#   cxx17       the same under C++17 fails at once with faultline's own message
#   wrap        a meson subproject through the wrap the README gives (its url pointed at this
#               repository's committed main), with no options: nothing of faultline's is built
#   pkgconf     an installed copy found through pkg-config (faultline and faultline-redis),
#               with no -std flag forced on the consumer and no program installed by default
#   cmake-find  find_package(faultline CONFIG) on that installed copy (faultline::redis too)
#   cmake-fetch FetchContent of this repository (add_subdirectory of the source tree)
# Prints one line "consumer <way>: ok|FAILED" per way; exits non-zero if any failed.
set -uo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
log="$work/log"
cp -r "$src/tests/consumer" "$work/consumer"
app="$work/consumer/app"
redis=false
pkg-config --exists hiredis && redis=true
redis_feature=$([[ $redis == true ]] && echo enabled || echo disabled)
redis_cmake=$([[ $redis == true ]] && echo ON || echo OFF)

report() { # name, exit status of the step
  if [[ $2 -eq 0 ]]; then echo "consumer $1: ok"; else echo "consumer $1: FAILED"; tail -n 30 "$log"; status=1; fi
}

${CXX:-g++} -std=gnu++20 -Wall -Wextra -Wpedantic -Werror -I"$src/include" \
  "$app/main.cpp" -o "$work/include-consumer" -lboost_json -pthread >"$log" 2>&1 &&
  "$work/include-consumer" >>"$log" 2>&1
report include $?

# The first error must be faultline's, not a missing C++20 name deep in a header.
! ${CXX:-g++} -std=c++17 -fsyntax-only -I"$src/include" "$app/main.cpp" >"$log" 2>&1 &&
  grep -m1 'error' "$log" | grep -q 'faultline needs C++20'
report cxx17 $?

# The wrap is the first ```ini block of the README, as a user would copy it.
mkdir -p "$app/subprojects"
awk '/^ *```ini$/ { inside = 1; next } inside && /^ *```$/ { exit } inside' "$src/README.md" |
  sed -e 's/^ *//' -e "s|^url = .*|url = file://$src|" >"$app/subprojects/faultline.wrap"
(grep -q '^revision = ' "$app/subprojects/faultline.wrap" &&
  meson setup "$work/wrap" "$app" --force-fallback-for=faultline,faultline-redis -Dredis="$redis_feature" &&
  ! meson introspect --targets "$work/wrap" | grep -Eq '"name": "(faultline-tests|faultline-inspect|faultline-gateway|gateway|quickstart)"' &&
  meson test -C "$work/wrap") >"$log" 2>&1
report wrap $?
rm -rf "$app/subprojects"

# An install with the default options: headers, pkg-config and CMake files, no programs.
(meson setup "$work/fl-build" "$src" --prefix "$work/prefix" -Dtests=false \
    -Dbenchmarks=false -Dfuzz=false &&
  ! meson introspect --installed "$work/fl-build" | grep -q '/bin/' &&
  meson setup "$work/fl-build" --reconfigure -Dexamples=false &&
  meson install -C "$work/fl-build" &&
  pc=$(dirname "$(find "$work/prefix" -name faultline.pc | head -n 1)") &&
  ! PKG_CONFIG_PATH="$pc" pkg-config --cflags faultline | grep -q -- '-std=' &&
  { [[ $redis == false ]] || PKG_CONFIG_PATH="$pc" pkg-config --libs faultline-redis | grep -q -- '-lhiredis'; } &&
  PKG_CONFIG_PATH="$pc" meson setup "$work/pc" "$app" -Dmethod=pkg-config -Dredis="$redis_feature" &&
  meson test -C "$work/pc" &&
  ! grep -q -- '-std=c++20' "$work/pc/compile_commands.json") >"$log" 2>&1
report pkgconf $?

(cmake -S "$work/consumer/cmake" -B "$work/cmake-find" -DFAULTLINE_METHOD=find \
    -DFAULTLINE_REDIS="$redis_cmake" -DCMAKE_PREFIX_PATH="$work/prefix" &&
  cmake --build "$work/cmake-find" &&
  "$work/cmake-find/consumer" &&
  { [[ $redis == false ]] || "$work/cmake-find/redis_consumer"; }) >"$log" 2>&1
report cmake-find $?

(cmake -S "$work/consumer/cmake" -B "$work/cmake-fetch" -DFAULTLINE_METHOD=fetch \
    -DFAULTLINE_REDIS="$redis_cmake" -DFAULTLINE_GIT="file://$src" \
    -DFAULTLINE_TAG="$(git -C "$src" rev-parse HEAD)" &&
  cmake --build "$work/cmake-fetch" &&
  "$work/cmake-fetch/consumer" &&
  { [[ $redis == false ]] || "$work/cmake-fetch/redis_consumer"; }) >"$log" 2>&1
report cmake-fetch $?

exit $status
