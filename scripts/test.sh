#!/usr/bin/env bash
# Installs what is missing, builds weir with warnings as errors, runs every test
# (unit, CLI, shipped policies' tests, fuzz corpora, install) and the end-to-end suite
# (official SDKs through weir serve, with the plugins), then builds again with AddressSanitizer +
# UndefinedBehaviorSanitizer and runs both again.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
JOBS=$(nproc 2>/dev/null || echo 2)

echo "== build (-Wall -Wextra -Werror)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEIR_WERROR=ON >/dev/null
cmake --build build -j"$JOBS"
echo "== npm ci (tests/e2e: the official SDKs, s3rver for the s3-export plugin's tests)"
(cd tests/e2e && npm ci --silent)
echo "== tests"
(cd build && ctest --output-on-failure -j"$JOBS")

echo "== end-to-end: official SDKs through weir serve (tests/e2e)"
node tests/e2e/run.mjs --weir build/weir
node tests/e2e/identity.mjs --weir build/weir
node tests/e2e/plugins.mjs --weir build/weir

echo "== build (ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DWEIR_WERROR=ON -DWEIR_SANITIZE=ON \
      -DWEIR_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j"$JOBS"
echo "== tests under ASan + UBSan"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j"$JOBS" -LE no-sanitize)
echo "== end-to-end under ASan + UBSan (a leak or an error fails weir's exit status)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  node tests/e2e/run.mjs --weir build-asan/weir
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  node tests/e2e/identity.mjs --weir build-asan/weir
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  node tests/e2e/plugins.mjs --weir build-asan/weir
