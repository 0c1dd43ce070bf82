#!/bin/sh
# install_test.sh - installs the current build into a temporary prefix and builds the
# documented example (docs/example) against it the two ways an application would:
# pkg-config and CMake's find_package(weir). Runs both and checks what they print.
#
#   install_test.sh BUILD_DIR SOURCE_DIR LIBDIR VERSION CC CMAKE
set -eu
build=$1 src=$2 libdir=$3 version=$4 cc=$5 cmake=$6

tmp=$(mktemp -d "${TMPDIR:-/tmp}/weir-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
prefix=$tmp/prefix
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

step "install into $prefix"
"$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" || {
  cat "$tmp/install.log"; fail "cmake --install"; }

for f in include/weir/weir.h "$libdir/libweir.so" "$libdir/libweir.so.0" "$libdir/libweir.a" \
         "$libdir/pkgconfig/weir.pc" "$libdir/cmake/weir/weirConfig.cmake" \
         "$libdir/cmake/weir/weirConfigVersion.cmake" "$libdir/cmake/weir/weirTargets.cmake" \
         bin/weir share/weir/policies/default.yaml; do
  [ -e "$prefix/$f" ] || fail "not installed: $f"
done
# only public headers are installed
extra=$(cd "$prefix/include" && find . -type f ! -path './weir/*.h' ! -path './weir/*/*.h')
[ -z "$extra" ] || fail "unexpected files under include/: $extra"
if command -v readelf >/dev/null 2>&1; then
  readelf -d "$prefix/$libdir/libweir.so" | grep -q 'SONAME.*\[libweir\.so\.0\]' ||
    fail "libweir.so has no SONAME libweir.so.0"
fi

export LD_LIBRARY_PATH="$prefix/$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
example=$src/docs/example

# check_* NAME OUTPUT_FILE: what the example must (and must never) print
check_default() {
  grep -q '^prompt: redact$' "$2" || fail "$1: verdict is not redact"
  grep -q 'rule=emails detector=email' "$2" || fail "$1: no email finding"
  grep -q 'send: .*\[EMAIL\]' "$2" || fail "$1: prompt not redacted with a label"
  ! grep -q 'send: .*jane\.doe@example\.com' "$2" || fail "$1: the e-mail reached the model"
}
check_tokens() {
  grep -q 'send: .*\[EMAIL_1\]' "$2" || fail "$1: e-mail not replaced by a token"
  ! grep -q 'send: .*jane\.doe@example\.com' "$2" || fail "$1: the e-mail reached the model"
  grep -q 'restored (1 tokens in vault): .*jane\.doe@example\.com' "$2" ||
    fail "$1: token not restored in the completion"
}
check_block() {
  grep -q '^prompt: block$' "$2" || fail "$1: card number not blocked"
  grep -q 'blocked: Card numbers must never reach a model' "$2" || fail "$1: no block message"
  ! grep -q '4111' "$2" || fail "$1: the card number was printed"
}
# run NAME WANT_STATUS OUT BINARY ARGS...: runs the example, shows its output
run() {
  name=$1 want=$2 out=$3
  shift 3
  rc=0
  "$@" >"$out" 2>&1 || rc=$?
  sed 's/^/  | /' "$out"
  [ "$rc" -eq "$want" ] || fail "$name: exit status $rc, expected $want"
}
run_all() { # NAME BINARY
  run "$1" 0 "$tmp/$1.default.out" "$2"
  check_default "$1 (built-in default policy)" "$tmp/$1.default.out"
  run "$1" 0 "$tmp/$1.file.out" "$2" "$prefix/share/weir/policies/default.yaml"
  check_default "$1 (installed default.yaml)" "$tmp/$1.file.out"
  run "$1" 0 "$tmp/$1.tokens.out" "$2" "$example/tokens.yaml"
  check_tokens "$1 (tokens.yaml)" "$tmp/$1.tokens.out"
  run "$1" 2 "$tmp/$1.block.out" "$2" "$example/tokens.yaml" "pay with 4111 1111 1111 1111"
  check_block "$1 (block)" "$tmp/$1.block.out"
}

step "pkg-config"
export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig"
v=$(pkg-config --modversion weir) || fail "pkg-config cannot find weir"
[ "$v" = "$version" ] || fail "weir.pc says version $v, the project $version"
flags=$(pkg-config --cflags --libs weir)
echo "pkg-config --cflags --libs weir: $flags"
case "$flags" in *"$prefix"*) ;; *) fail "weir.pc does not point into the install prefix" ;; esac
# shellcheck disable=SC2086 # flags are words
"$cc" -std=c11 -pedantic -Wall -Wextra -Werror "$example/example.c" $flags -o "$tmp/example_pc" ||
  fail "example does not build with pkg-config"
run_all pkg-config "$tmp/example_pc"
if command -v make >/dev/null 2>&1; then
  cp "$example/example.c" "$example/Makefile" "$tmp/" &&
    make -s -C "$tmp" CC="$cc" >"$tmp/make.log" 2>&1 || { cat "$tmp/make.log"; fail "docs/example/Makefile"; }
  "$tmp/example" >/dev/null || fail "the Makefile's example does not run"
fi

step "cmake find_package(weir)"
unset PKG_CONFIG_PATH
"$cmake" -S "$example" -B "$tmp/cmake-build" -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >"$tmp/cmake.log" 2>&1 ||
  { cat "$tmp/cmake.log"; fail "configuring docs/example with CMake"; }
"$cmake" --build "$tmp/cmake-build" >"$tmp/build.log" 2>&1 ||
  { cat "$tmp/build.log"; fail "building docs/example with CMake"; }
run_all cmake "$tmp/cmake-build/example"
[ -x "$tmp/cmake-build/example_static" ] || fail "weir::weir_static not available through CMake"
run_all cmake-static "$tmp/cmake-build/example_static"
if ldd "$tmp/cmake-build/example_static" 2>/dev/null | grep -q libweir; then
  fail "example_static links libweir.so"
fi
step "plugins from the installed headers alone"
for f in include/weir/plugin.h "$libdir/weir/plugins/weir-keywords.so" \
         "$libdir/weir/plugins/weir-s3-export.so"; do
  [ -e "$prefix/$f" ] || fail "not installed: $f"
done
for p in keywords s3-export; do
  "$cmake" -S "$src/plugins/$p" -B "$tmp/plugin-$p" -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release -DWEIR_BUILD_TESTS=OFF \
    >"$tmp/plugin-$p.log" 2>&1 || { cat "$tmp/plugin-$p.log"; fail "configuring plugins/$p alone"; }
  grep -q "$prefix/include" "$tmp/plugin-$p/CMakeCache.txt" ||
    fail "plugins/$p did not take <weir/plugin.h> from the install prefix"
  "$cmake" --build "$tmp/plugin-$p" >>"$tmp/plugin-$p.log" 2>&1 ||
    { cat "$tmp/plugin-$p.log"; fail "building plugins/$p from the installed headers"; }
  so=$(find "$tmp/plugin-$p" -name "weir-$p.so" | head -n 1)
  [ -n "$so" ] || fail "plugins/$p built no weir-$p.so"
  if command -v nm >/dev/null 2>&1; then
    exports=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBR]$/ {print $3}' | sort -u | tr '\n' ' ')
    [ "$exports" = "weir_plugin_entry " ] || fail "weir-$p.so exports more than weir_plugin_entry: $exports"
  fi
  eval "so_$(echo "$p" | tr - _)=\$so"
done
# the installed weir loads the standalone keywords plugin named in a policy
printf 'Project Falcon\nNightingale\n' >"$tmp/terms.txt"
cat >"$tmp/kw.yaml" <<YAML
weir: 1
name: keywords-install
detectors:
  projects:
    plugin: $so_keywords
    config: { terms_file: terms.txt }
    label: PROJECT
rules:
  - id: projects
    detect: projects
    action: redact
YAML
echo "the project falcon ships; nightingales sing" |
  "$prefix/bin/weir" check -p "$tmp/kw.yaml" >"$tmp/kw.out" 2>&1 || true
sed 's/^/  | /' "$tmp/kw.out"
grep -q 'the \[PROJECT\] ships; nightingales sing' "$tmp/kw.out" ||
  fail "the installed weir did not redact with the standalone keywords plugin"

echo "PASS"
