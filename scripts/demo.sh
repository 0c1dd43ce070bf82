#!/usr/bin/env bash
# Installs what is missing, builds weir, and runs its gate over sample prompts: the
# built-in default policy (clean text passes, personal data is redacted, secrets and card
# numbers are blocked), then the shipped EU-residency and role-scoped policies.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" --target weir_cli >/dev/null
W=build/weir

# show TEXT [weir check options...]: prints the command, runs it, prints the exit status
show() {
  local text=$1
  shift
  printf '\n$ echo "%s" | weir check %s\n' "$text" "$*"
  set +e
  printf '%s' "$text" | "$W" check "$@"
  echo "(exit $?)"
  set -e
}

echo "weir $("$W" --version)"
echo
echo "== the built-in default policy (policies/default.yaml)"
show "Summarise the attached quarterly report in three bullet points."
show "Draft a reply to jane.doe@example.com and call her on +1 415 555 0132."
show "My card is 4111 1111 1111 1111, can you check why it was declined?"
show "Why does boto3 reject AKIAIOSFODNN7EXAMPLE with this secret?"

echo
echo "== region pinning (policies/eu-residency.yaml)"
show "Translate this paragraph into German." --policy policies/eu-residency.yaml \
     --provider bedrock --region eu-central-1 --model eu.anthropic.claude-3-7-sonnet-20250219-v1:0
show "Translate this paragraph into German." --policy policies/eu-residency.yaml \
     --provider bedrock --region eu-central-1 --model us.anthropic.claude-3-7-sonnet-20250219-v1:0

echo
echo "== who may call which model (policies/role-scoped.yaml)"
show "Classify this support ticket." --policy policies/role-scoped.yaml \
     --role arn:aws:sts::111122223333:assumed-role/llm-app/pod-7 --model anthropic.claude-3-haiku-20240307-v1:0
show "Classify this support ticket." --policy policies/role-scoped.yaml \
     --role arn:aws:iam::111122223333:role/llm-intern-bob --model anthropic.claude-3-haiku-20240307-v1:0

printf '\n$ weir check --format jsonl   (batch: one JSON object per line; a bad line does not stop it)\n'
set +e
printf '%s\n' '{"id":1,"text":"Ping ops@example.com"}' 'not json' \
              '{"id":3,"text":"Deploy to eu-central-1 tonight"}' | "$W" check --format jsonl
echo "(exit $?)"
set -e

echo
echo "== the audit trail: every check recorded, signed, verifiable (docs/audit.md)"
TRAIL=$(mktemp -d /tmp/weir-demo-trail.XXXXXX)
openssl genrsa -out "$TRAIL.key.pem" 2048 2>/dev/null
openssl rsa -in "$TRAIL.key.pem" -pubout -out "$TRAIL.pub.pem" 2>/dev/null
ROLE=arn:aws:sts::111122223333:assumed-role/llm-app/pod-7
set +e
for text in "Mail jane.doe@example.com about the renewal." "My card is 4111 1111 1111 1111." \
            "Summarise the meeting notes."; do
  printf '%s' "$text" | "$W" check --audit "$TRAIL" --audit-key "$TRAIL.key.pem" --audit-region eu-central-1 \
      --role "$ROLE" --model anthropic.claude-3-haiku-20240307-v1:0 --region eu-central-1 >/dev/null
done
set -e
printf '\n$ weir audit query %s\n' "$TRAIL"
"$W" audit query "$TRAIL"
printf '\n$ weir audit verify %s --public-key pub.pem\n' "$TRAIL"
"$W" audit verify "$TRAIL" --public-key "$TRAIL.pub.pem"
