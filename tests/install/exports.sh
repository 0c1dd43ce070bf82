#!/bin/sh
# exports.sh LIBWEIR.so - the shared library exports weir_* functions and nothing else.
set -eu
lib=$1
syms=$(nm -D --defined-only "$lib" | awk 'NF >= 3 { print $3 }' | sed 's/@.*//' |
       grep -v -x -e _init -e _fini -e _edata -e _end -e __bss_start || true)
[ -n "$syms" ] || { echo "FAIL: $lib exports nothing"; exit 1; }
bad=$(printf '%s\n' "$syms" | grep -v '^weir_' || true)
if [ -n "$bad" ]; then
  echo "FAIL: $lib exports symbols outside the weir_ namespace:"
  printf '  %s\n' $bad
  exit 1
fi
echo "$(printf '%s\n' "$syms" | wc -l) exported symbols, all weir_*"
# every function declared WEIR_EXTERN in the public headers is exported
shift
missing=
for h in "$@"; do
  for fn in $(sed -n 's/^WEIR_EXTERN[^(]*[ *]\(weir_[a-z0-9_]*\)(.*/\1/p' "$h"); do
    printf '%s\n' "$syms" | grep -q -x "$fn" || missing="$missing $fn"
  done
done
[ -z "$missing" ] || { echo "FAIL: declared but not exported:$missing"; exit 1; }
echo "PASS"
