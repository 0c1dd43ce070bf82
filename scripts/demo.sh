#!/usr/bin/env bash
# Installs what is missing, builds weir, and runs its gate over sample prompts with the
# default policy: clean text passes, personal data is redacted, secrets are blocked.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" --target weir_cli >/dev/null
W=build/weir

show() {
  printf '\n$ weir check <<< %q\n' "$1"
  set +e
  printf '%s' "$1" | "$W" check
  echo "(exit $?)"
  set -e
}
echo "weir $("$W" --version) with the built-in default policy (policies/default.yaml)"
show "Summarise the attached quarterly report in three bullet points."
show "Draft a reply to jane.doe@example.com and call her on +1 415 555 0132."
show "My card is 4111 1111 1111 1111, can you check why it was declined?"
show "Why does boto3 reject AKIAIOSFODNN7EXAMPLE with this secret?"

printf '\n$ weir check --format jsonl  (batch: one JSON object per line)\n'
set +e
printf '%s\n' '{"id":1,"text":"Ping ops@example.com"}' 'not json' \
              '{"id":3,"text":"Deploy to eu-central-1 tonight"}' | "$W" check --format jsonl
echo "(exit $?)"
