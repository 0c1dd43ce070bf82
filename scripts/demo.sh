#!/usr/bin/env bash
# The README's main command: installs what is missing, builds weir, and runs its main job:
# `weir serve` with the default policy in front of a local Bedrock / Azure OpenAI simulator,
# driven by the official SDKs (@aws-sdk/client-bedrock-runtime, openai). It shows a clean
# request, a redacted prompt (what the app sent vs what the model received), a redacted
# streamed completion, a blocked request and a region denial (a listener whose own policy
# pins EU regions). Exit status 0 when every step behaved as described.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" --target weir_cli >/dev/null
if [ ! -d tests/e2e/node_modules ] || [ tests/e2e/package-lock.json -nt tests/e2e/node_modules ]; then
  (cd tests/e2e && npm ci --silent)
fi
echo "weir $(build/weir --version)"
exec node tests/e2e/demo.mjs --weir build/weir
