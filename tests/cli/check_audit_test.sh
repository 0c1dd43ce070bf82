#!/usr/bin/env bash
# CLI behaviour tests for `weir check --audit`: records written through the real trail
# writer, read back with `weir audit query|verify`, and fail-closed behaviour when the
# trail cannot be written (RLIMIT_FSIZE via `ulimit -f`: works as root, unlike permissions).
# usage: check_audit_test.sh WEIR_BINARY CASE
set -u

WEIR=$1
CASE=$2
TMP=$(mktemp -d "${TMPDIR:-/tmp}/weir-check-audit.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
. "$(dirname "$0")/lib.sh"
T=$TMP/trail
ALICE=arn:aws:sts::111122223333:assumed-role/app-role/alice
BOB=arn:aws:sts::111122223333:assumed-role/batch-role/bob
MODEL=eu.anthropic.claude-3-haiku-20240307-v1:0
EMAIL=jane.doe@example.com
CARD='4111 1111 1111 1111'
# a role and a model make every record here longer than 1 KiB (ulimit -f counts KiB)
WHO=(--role "$ALICE" --model "$MODEL")

# run EXPECTED_STATUS LIMIT INPUT ARGS... : runs weir with stdin from INPUT (- : /dev/null)
# and, unless LIMIT is -, `ulimit -f LIMIT`; keeps stdout/stderr in $TMP/out, $TMP/err.
run() {
    local want=$1 limit=$2 input=$3
    shift 3
    [ "$input" = - ] && input=/dev/null
    (
        [ "$limit" = - ] || ulimit -f "$limit"
        exec "$WEIR" "$@"
    ) >"$TMP/out" 2>"$TMP/err" <"$input"
    local got=$?
    if [ "$got" != "$want" ]; then
        fail "weir $* <$input (ulimit -f $limit) exited $got, expected $want"
        echo "--- stdout" >&2; cat "$TMP/out" >&2
        echo "--- stderr" >&2; cat "$TMP/err" >&2
    fi
}

lines() { # lines FILE N
    local n
    n=$(wc -l <"$1")
    [ "$n" -eq "$2" ] || { fail "$(basename "$1") has $n lines, expected $2"; sed 's/^/    | /' "$1" >&2; }
}
jqok() { # jqok FILE FILTER WHAT : FILTER true for the (only) JSON value in FILE
    jq -e "$2" "$1" >/dev/null || { fail "$3"; sed 's/^/    | /' "$1" >&2; }
}
jqone() { # jqone FILE SELECT FILTER WHAT : exactly one value in FILE matches SELECT, and FILTER holds for it
    jq -s -e "map(select($2)) | length == 1 and (.[0] | $3)" "$1" >/dev/null ||
        { fail "$4"; sed 's/^/    | /' "$1" >&2; }
}

# records DIR : the trail's records as JSON lines in $TMP/recs
records() {
    "$WEIR" audit query "$1" --format jsonl >"$TMP/recs" 2>"$TMP/qerr" ||
        { fail "audit query $1 failed"; cat "$TMP/qerr" >&2; }
}

# raw DIR : every byte the trail holds, decompressed, in $TMP/raw
raw() {
    : >"$TMP/raw"
    while IFS= read -r -d '' f; do
        case "$f" in
        *.gz) gzip -dc "$f" >>"$TMP/raw" ;;
        *) cat "$f" >>"$TMP/raw" ;;
        esac
    done < <(find "$1" -type f -print0)
}

# ---------------------------------------------------------------- cases

case_record() {
    printf 'Contact %s today\n' "$EMAIL" >"$TMP/in.txt"
    run 0 - "$TMP/in.txt" check --audit "$T" "${WHO[@]}" --region eu-central-1 \
        --provider bedrock
    has "$TMP/out" '^verdict: redact$'
    empty "$TMP/err"
    records "$T"
    lines "$TMP/recs" 1
    jqok "$TMP/recs" '.eventName == "Check" and .eventSource == "weir.gate"
        and .userIdentity.arn == "'"$ALICE"'"
        and .requestParameters == {"modelId":"'"$MODEL"'","provider":"bedrock","direction":"prompt"}
        and .awsRegion == "eu-central-1"
        and .responseElements.action == "redact"
        and .additionalEventData.policy.name == "default"
        and ([.additionalEventData.findings[].rule] == ["emails"])
        and .additionalEventData.findings[0].count == 1
        and (.additionalEventData.findings[0] | has("valueHashes") | not)
        and (.additionalEventData.gateLatencyMs | type == "number" and . >= 0)' \
        "record fields"
    # the log file was delivered at exit: the journal is empty
    [ ! -s "$T/journal/journal.jsonl" ] || fail "journal not rolled at exit"
    [ -n "$(find "$T/AWSLogs/000000000000/CloudTrail/us-east-1" -name '*.json.gz')" ] ||
        fail "no log file in the default layout"
    raw "$T"
    lacks "$TMP/raw" "$EMAIL"
    lacks "$TMP/raw" "Contact"
    lacks "$TMP/recs" "$EMAIL"

    # a blocked text (json format), with value hashes; the completion direction
    printf 'card %s\n' "$CARD" >"$TMP/card.txt"
    HASH_KEY=0123456789abcdef-test-key \
        run 1 - "$TMP/card.txt" check --audit "$T" --audit-hash-key-env HASH_KEY -f json \
        -d completion --role "$BOB"
    jqok "$TMP/out" '.action == "block"' "json report"
    records "$T"
    lines "$TMP/recs" 2
    jqone "$TMP/recs" '.userIdentity.arn == "'"$BOB"'"' '.responseElements.action == "block"
        and .requestParameters.direction == "completion"
        and .errorCode == "GuardrailIntervened"
        and .additionalEventData.findings[0].rule == "card-numbers"
        and (.additionalEventData.findings[0].valueHashes[0] | test("^hmac-sha256:[0-9a-f]{16}$"))' \
        "blocked record with value hashes"
    raw "$T"
    lacks "$TMP/raw" "$CARD"
    lacks "$TMP/raw" "4111111111111111"
    lacks "$TMP/raw" "0123456789abcdef-test-key"

    # batch durability writes the same records
    run 0 - "$TMP/in.txt" check --audit "$T" --audit-durability batch "${WHO[@]}"
    records "$T"
    lines "$TMP/recs" 3
}

case_verify() {
    openssl genrsa -out "$TMP/key.pem" 2048 2>/dev/null
    openssl rsa -in "$TMP/key.pem" -pubout -out "$TMP/pub.pem" 2>/dev/null
    openssl genrsa -out "$TMP/other.pem" 2048 2>/dev/null
    openssl rsa -in "$TMP/other.pem" -pubout -out "$TMP/other.pub.pem" 2>/dev/null
    printf 'Contact %s\n' "$EMAIL" >"$TMP/in.txt"
    local opts=(--audit "$T" --audit-key "$TMP/key.pem" --audit-account 111122223333
        --audit-region eu-central-1)
    run 0 - "$TMP/in.txt" check "${opts[@]}" "${WHO[@]}"
    # a second run continues the digest chain
    run 0 - "$TMP/in.txt" check "${opts[@]}" --role "$BOB" -f json
    [ -n "$(find "$T/AWSLogs/111122223333/CloudTrail-Digest/eu-central-1" -name '*.json.gz.sig')" ] ||
        fail "no signed digest in the account/region layout"
    run_verify 0 "$TMP/pub.pem"
    has "$TMP/out" '^2/2 digest files valid$'
    has "$TMP/out" '^2/2 log files valid$'
    run_verify 1 "$TMP/other.pub.pem"
    has "$TMP/out" 'fingerprint mismatch'
    records "$T"
    lines "$TMP/recs" 2
}

run_verify() { # run_verify EXPECTED_STATUS PUBKEY
    "$WEIR" audit verify "$T" --public-key "$2" >"$TMP/out" 2>"$TMP/err"
    local got=$?
    [ "$got" = "$1" ] || { fail "audit verify exited $got, expected $1"; cat "$TMP/out" "$TMP/err" >&2; }
}

case_jsonl() {
    cat >"$TMP/in.jsonl" <<EOF
{"id":1,"text":"Contact $EMAIL"}
{"id":"b","text":"hello","role":"$BOB","direction":"completion"}
not json
{"id":3,"text":"card $CARD"}

{"id":4}
EOF
    run 1 - "$TMP/in.jsonl" check --audit "$T" "${WHO[@]}" -f jsonl
    lines "$TMP/out" 5
    empty "$TMP/err"
    records "$T"
    # one record per checked line; the unparsable line and the line without text have none
    lines "$TMP/recs" 3
    jqone "$TMP/recs" '.responseElements.action == "redact"' '.userIdentity.arn == "'"$ALICE"'" and .additionalEventData.findings[0].rule == "emails"' \
        "line 1 record"
    jqone "$TMP/recs" '.responseElements.action == "allow"' '.userIdentity.arn == "'"$BOB"'" and .requestParameters.direction == "completion"
          and .requestParameters.modelId == "'"$MODEL"'" and .additionalEventData.findings == []' \
        "line 2 record (overrides)"
    jqone "$TMP/recs" '.responseElements.action == "block"' '.additionalEventData.findings[0].rule == "card-numbers"' "line 4 record"
    raw "$T"
    lacks "$TMP/raw" "$EMAIL"
    lacks "$TMP/raw" "$CARD"
    lacks "$TMP/raw" "hello"
}

case_fail_closed() {
    printf 'Contact %s\n' "$EMAIL" >"$TMP/in.txt"
    printf 'card %s\n' "$CARD" >"$TMP/card.txt"
    # ulimit -f 1: the trail opens (no write), the first record (> 1 KiB) cannot be written
    run 3 1 "$TMP/in.txt" check --audit "$T" "${WHO[@]}"
    empty "$TMP/out"
    has "$TMP/err" '^weir: error: audit trail unwritable: .*journal\.jsonl: .*File too large; refusing$'
    lacks "$TMP/err" "$EMAIL"
    run 3 1 "$TMP/in.txt" check --audit "$T" "${WHO[@]}" -f json
    empty "$TMP/out"
    # 3 wins over 1 for a blocked text
    run 3 1 "$TMP/card.txt" check --audit "$T" "${WHO[@]}"
    empty "$TMP/out"
    records "$T"
    lines "$TMP/recs" 0

    # batch: ulimit -f 2 holds one record; later lines are refused, the batch goes on
    cat >"$TMP/in.jsonl" <<EOF
{"id":1,"text":"Contact $EMAIL"}
{"id":2,"text":"hello"}
{"id":3,"text":"card $CARD"}
nope
EOF
    run 3 2 "$TMP/in.jsonl" check --audit "$TMP/t2" "${WHO[@]}" -f jsonl
    lines "$TMP/out" 4
    sed -n 1p "$TMP/out" >"$TMP/l1"
    jqok "$TMP/l1" '.id == 1 and .action == "redact"' "line 1 released"
    sed -n 2,3p "$TMP/out" >"$TMP/l23"
    jq -s -e 'length == 2 and [.[].line] == [2, 3] and [.[].id] == [2, 3]
        and all(.[]; keys == ["error","id","line"]
            and (.error | test("^audit trail unwritable: .*journal\\.jsonl: .*File too large$")))' \
        "$TMP/l23" >/dev/null || { fail "lines 2-3 not refused with error lines"; cat "$TMP/l23" >&2; }
    sed -n 4p "$TMP/out" >"$TMP/l4"
    jqok "$TMP/l4" '.line == 4 and (.error | test("invalid JSON"))' "line 4 parse error"
    lacks "$TMP/out" '"block"'
    has "$TMP/err" 'line 2: audit trail unwritable'
    has "$TMP/err" '2 line\(s\) could not be audited'
    records "$TMP/t2"
    lines "$TMP/recs" 1

    # the limit lifted, the same trail takes records again
    run 0 - "$TMP/in.txt" check --audit "$T" "${WHO[@]}"
    has "$TMP/out" '^verdict: redact$'
    records "$T"
    lines "$TMP/recs" 1
}

case_fail_open() {
    printf 'Contact %s\n' "$EMAIL" >"$TMP/in.txt"
    printf 'card %s\n' "$CARD" >"$TMP/card.txt"
    run 0 1 "$TMP/in.txt" check --audit "$T" "${WHO[@]}" --audit-fail-open
    has "$TMP/out" '^verdict: redact$'
    has "$TMP/out" '^Contact \[EMAIL\]$'
    has "$TMP/err" '^weir: warning: audit trail unwritable: .*File too large; releasing the verdict anyway'
    run 1 1 "$TMP/card.txt" check --audit "$T" "${WHO[@]}" --audit-fail-open -f json
    jqok "$TMP/out" '.action == "block"' "blocked verdict released"
    has "$TMP/err" 'warning: audit trail unwritable'
    records "$T"
    lines "$TMP/recs" 0
    printf '{"id":1,"text":"Contact %s"}\n{"id":2,"text":"card %s"}\n' "$EMAIL" "$CARD" >"$TMP/in.jsonl"
    run 1 1 "$TMP/in.jsonl" check --audit "$T" "${WHO[@]}" --audit-fail-open -f jsonl
    lines "$TMP/out" 2
    jq -s -e '[.[].action] == ["redact", "block"]' "$TMP/out" >/dev/null || fail "verdicts released"
    has "$TMP/err" 'warning: 2 line\(s\) could not be audited'
}

case_unopenable() {
    printf 'Contact %s\n' "$EMAIL" >"$TMP/in.txt"
    : >"$TMP/file"
    run 2 - "$TMP/in.txt" check --audit "$TMP/file"
    empty "$TMP/out"
    has "$TMP/err" "cannot open the audit trail: .*file: not a directory"
    # also in batch mode, and with --audit-fail-open: nothing is checked
    run 2 - "$TMP/in.txt" check --audit "$TMP/file" -f jsonl --audit-fail-open
    empty "$TMP/out"
    run 2 - "$TMP/in.txt" check --audit "$T" --audit-key "$TMP/missing.pem"
    has "$TMP/err" 'missing\.pem'
    empty "$TMP/out"
    run 2 - "$TMP/in.txt" check --audit "$T" --audit-account 1234
    has "$TMP/err" '12 digits'
    run 2 - "$TMP/in.txt" check --audit "$T" --audit-region 'eu central'
    SHORT=tooshort run 2 - "$TMP/in.txt" check --audit "$T" --audit-hash-key-env SHORT
    has "$TMP/err" 'at least 16 bytes'
    run 2 - "$TMP/in.txt" check --audit "$T" --audit-hash-key-env WEIR_TEST_UNSET_VARIABLE
    has "$TMP/err" 'WEIR_TEST_UNSET_VARIABLE'
    run 2 - "$TMP/in.txt" check --audit "$T" --audit-durability fsync
    run 2 - "$TMP/in.txt" check --audit-key "$TMP/key.pem"
    has "$TMP/err" 'needs --audit'
    run 2 - "$TMP/in.txt" check --audit-fail-open
    # a trail held by another writer
    mkdir -p "$T/journal" && : >"$T/journal/journal.jsonl"
    flock "$T/journal/journal.jsonl" "$WEIR" check --audit "$T" "$TMP/in.txt" \
        >"$TMP/out" 2>"$TMP/err"
    [ $? = 2 ] || fail "a locked trail did not give status 2"
    has "$TMP/err" 'in use by another writer'
    empty "$TMP/out"
    run 0 - - check --help
    has "$TMP/out" '--audit DIR'
    has "$TMP/out" '--audit-fail-open'
}

run_case
