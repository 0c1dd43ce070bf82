#!/usr/bin/env bash
# CLI behaviour tests for `weir audit verify|query|stats` over a trail built here with
# gzip and the openssl command line (independently of the writer).
# usage: audit_test.sh WEIR_BINARY CASE
set -u

WEIR=$1
CASE=$2
TMP=$(mktemp -d "${TMPDIR:-/tmp}/weir-audit-cli.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
. "$(dirname "$0")/lib.sh"
T=$TMP/trail
ACCT=111122223333
REGION=eu-central-1

# ---------------------------------------------------------------- building a trail

# record TIME ID PRINCIPAL MODEL ACTION RULE
record() {
    local findings='[]'
    [ -n "$6" ] && findings="[{\"rule\":\"$6\",\"kind\":\"content\",\"detector\":\"email\",\"entity\":\"EMAIL\",\"direction\":\"prompt\",\"action\":\"$5\",\"monitor\":false,\"count\":1,\"valueHashes\":[\"hmac-sha256:00\"]}]"
    printf '{"eventVersion":"1.11","userIdentity":{"type":"AssumedRole","arn":"%s","accountId":"%s"},"eventTime":"%s","eventSource":"weir.gate","eventName":"InvokeModel","awsRegion":"%s","sourceIPAddress":"198.51.100.7","requestParameters":{"modelId":"%s","provider":"bedrock","direction":"prompt"},"responseElements":{"action":"%s","enforcedAction":"%s"},"requestID":"r","eventID":"%s","eventType":"AwsApiCall","readOnly":true,"managementEvent":false,"eventCategory":"Data","recipientAccountId":"%s","additionalEventData":{"action":"%s","enforcedAction":"%s","findings":%s}}' \
        "$3" "$ACCT" "$1" "$REGION" "$4" "$5" "$5" "$2" "$ACCT" "$5" "$5" "$findings"
}

# log_file STAMP(YYYYMMDDTHHMMZ) UNIQUE RECORD... : writes it, prints its relative path
log_file() {
    local stamp=$1 uniq=$2
    shift 2
    local day="${stamp:0:4}/${stamp:4:2}/${stamp:6:2}"
    local rel="AWSLogs/$ACCT/CloudTrail/$REGION/$day/${ACCT}_CloudTrail_${REGION}_${stamp}_${uniq}.json.gz"
    mkdir -p "$T/$(dirname "$rel")"
    local body='{"Records":[' sep=''
    for r in "$@"; do body+="$sep$r"; sep=','; done
    body+=']}'
    printf '%s' "$body" >"$TMP/plain"
    gzip -n -c "$TMP/plain" >"$T/$rel"
    echo "$rel"
}

sha_plain() { sha256sum | cut -c1-64; }

# digest START END PREV_REL|- LOG_REL... : writes and signs it, prints its relative path
digest() {
    local start=$1 end=$2 prev=$3
    shift 3
    local stamp
    stamp=$(echo "$end" | tr -d ':-')
    local day="${end:0:4}/${end:5:2}/${end:8:2}"
    local rel="AWSLogs/$ACCT/CloudTrail-Digest/$REGION/$day/${ACCT}_CloudTrail-Digest_${REGION}_weir_${REGION}_${stamp}.json.gz"
    local fp
    fp=$(openssl pkey -in "$TMP/key.pem" -pubout -outform DER | openssl dgst -md5 -r | cut -c1-32)
    local logs='' sep=''
    for l in "$@"; do
        local h
        h=$(gzip -dc "$T/$l" | sha_plain)
        logs+="$sep{\"s3Bucket\":\"local\",\"s3Object\":\"$l\",\"hashValue\":\"$h\",\"hashAlgorithm\":\"SHA-256\",\"newestEventTime\":\"$end\",\"oldestEventTime\":\"$start\"}"
        sep=','
    done
    local pobj=null phash=null psig=null psigraw=null
    if [ "$prev" != - ]; then
        pobj="\"$prev\""
        phash="\"$(gzip -dc "$T/$prev" | sha_plain)\""
        psigraw=$(cat "$T/$prev.sig")
        psig="\"$psigraw\""
    fi
    mkdir -p "$T/$(dirname "$rel")"
    printf '{"awsAccountId":"%s","digestStartTime":"%s","digestEndTime":"%s","digestS3Bucket":"local","digestS3Object":"%s","digestPublicKeyFingerprint":"%s","digestSignatureAlgorithm":"SHA256withRSA","newestEventTime":null,"oldestEventTime":null,"previousDigestS3Bucket":%s,"previousDigestS3Object":%s,"previousDigestHashValue":%s,"previousDigestHashAlgorithm":%s,"previousDigestSignature":%s,"logFiles":[%s]}' \
        "$ACCT" "$start" "$end" "$rel" "$fp" "$([ "$prev" = - ] && echo null || echo '"local"')" \
        "$pobj" "$phash" "$([ "$prev" = - ] && echo null || echo '"SHA-256"')" "$psig" "$logs" >"$TMP/dplain"
    gzip -n -c "$TMP/dplain" >"$T/$rel"
    local dsha
    dsha=$(sha_plain <"$TMP/dplain")
    printf '%s\n%s\n%s\n%s' "$end" "local/$rel" "$dsha" "$psigraw" |
        openssl dgst -sha256 -sign "$TMP/key.pem" | od -An -v -tx1 | tr -d ' \n' >"$T/$rel.sig"
    echo "$rel"
}

ALICE=arn:aws:sts::111122223333:assumed-role/app-role/alice
BOB=arn:aws:sts::111122223333:assumed-role/batch-role/bob

build_trail() {
    mkdir -p "$T"
    openssl genrsa -out "$TMP/key.pem" 2048 2>/dev/null
    openssl rsa -in "$TMP/key.pem" -pubout -out "$TMP/pub.pem" 2>/dev/null
    openssl genrsa -out "$TMP/other.pem" 2048 2>/dev/null
    openssl rsa -in "$TMP/other.pem" -pubout -out "$TMP/other.pub.pem" 2>/dev/null
    L1=$(log_file 20260801T0830Z AAAAAAAAAAAAAAAA \
        "$(record 2026-08-01T08:29:00Z a1 "$ALICE" anthropic.claude-3-haiku allow '')" \
        "$(record 2026-08-01T08:29:30Z a2 "$BOB" anthropic.claude-3-sonnet block pii)")
    L2=$(log_file 20260801T0930Z BBBBBBBBBBBBBBBB \
        "$(record 2026-08-01T09:29:00Z b1 "$ALICE" '=cmd|calc' redact email)" \
        "$(record 2026-08-01T09:29:30Z b2 "$BOB" anthropic.claude-3-haiku log pii)")
    D1=$(digest 2026-08-01T08:00:00Z 2026-08-01T09:00:00Z - "$L1")
    D2=$(digest 2026-08-01T09:00:00Z 2026-08-01T10:00:00Z "$D1" "$L2")
    mkdir -p "$T/journal"
    { record 2026-08-01T10:05:00Z j1 "$ALICE" anthropic.claude-3-haiku block secrets; echo
      record 2026-08-01T09:29:00Z b1 "$ALICE" '=cmd|calc' redact email; echo
      printf '{"eventTime":"2026-08-01T1'; } >"$T/journal/journal.jsonl"
}

# ---------------------------------------------------------------- cases

case_help() {
    run 0 help audit
    has "$TMP/out" 'verify DIR'
    run 0 help audit verify
    has "$TMP/out" 'public-key'
    run 0 audit query --help
    has "$TMP/out" 'usage: weir audit query'
    run 0 --help
    has "$TMP/out" 'audit +verify, query'
    run 2 audit
    run 2 audit frobnicate
    run 2 audit verify "$TMP"
    has "$TMP/err" 'public-key is required'
    run 2 audit query
    run 2 audit query "$TMP" --since yesterday
    has "$TMP/err" 'not a time'
    run 2 audit query "$TMP" --action deny
    run 2 audit query "$TMP" --format xml
    run 2 audit stats "$TMP" --rule x
    run 2 audit verify "$TMP" --public-key "$TMP/missing.pem"
    run 2 audit query "$TMP/no-such-trail"
    has "$TMP/err" 'not a directory'
    run 2 audit stats "$TMP/no-such-trail"
    printf 'x' >"$TMP/key.pem"
    run 2 audit verify "$TMP/no-such-trail" --public-key "$TMP/key.pem"
}

case_verify() {
    build_trail
    run 0 audit verify "$T" --public-key "$TMP/pub.pem"
    has "$TMP/out" "^Digest file	$D2	valid$"
    has "$TMP/out" "^Log file	$L1	valid$"
    has "$TMP/out" '^2/2 digest files valid$'
    has "$TMP/out" '^2/2 log files valid$'
    # digests first newest -> oldest
    [ "$(grep -n "$D2" "$TMP/out" | cut -d: -f1)" -lt "$(grep -n "$D1" "$TMP/out" | cut -d: -f1)" ] ||
        fail "digests not newest first"
    run 0 audit verify "$T" --public-key "$TMP/pub.pem" --start 2026-08-01T09:30:00Z
    has "$TMP/out" '^1/1 digest files valid$'
    run 1 audit verify "$T" --public-key "$TMP/other.pub.pem"
    has "$TMP/out" 'INVALID: public key fingerprint mismatch'
    has "$TMP/out" '^0/2 digest files valid$'
    # a private key file works as the key too
    run 0 audit verify "$T" --public-key "$TMP/key.pem"
    # nothing in range: not a success
    run 1 audit verify "$T" --public-key "$TMP/pub.pem" --end 2020-01-01
    has "$TMP/out" 'nothing was verified'
}

case_verify_tampered() {
    build_trail
    # an altered log file, re-gzipped
    gzip -dc "$T/$L1" | sed 's/alice/mallory/' | gzip -n >"$TMP/x" && mv "$TMP/x" "$T/$L1"
    # an extra log file nobody listed
    L3=$(log_file 20260801T0845Z CCCCCCCCCCCCCCCC "$(record 2026-08-01T08:44:00Z x1 "$BOB" m allow '')")
    # garbage after the gzip member of the other log file
    printf 'junk' >>"$T/$L2"
    run 1 audit verify "$T" --public-key "$TMP/pub.pem" -v
    has "$TMP/out" "^Log file	$L1	INVALID: hash value doesn't match$"
    has "$TMP/out" "^Log file	$L2	INVALID: unexpected data after end of compressed stream$"
    has "$TMP/out" "^Log file	$L3	INVALID: not listed in any digest$"
    has "$TMP/out" '^2/2 digest files valid$'
    has "$TMP/out" '^0/3 log files valid$'
    # an edited digest (re-gzipped, old signature kept)
    gzip -dc "$T/$D1" | sed 's/"logFiles":\[.*\]/"logFiles":[]/' | gzip -n >"$TMP/x" && mv "$TMP/x" "$T/$D1"
    run 1 audit verify "$T" --public-key "$TMP/pub.pem"
    has "$TMP/out" "^Digest file	$D1	INVALID: signature verification failed$"
    # a deleted digest
    rm "$T/$D1"
    run 1 audit verify "$T" --public-key "$TMP/pub.pem"
    has "$TMP/out" "^Digest file	$D1	INVALID: not found$"
}

case_query() {
    build_trail
    run 0 audit query "$T"
    has "$TMP/out" '^TIME +PRINCIPAL +MODEL +EVENT +ACTION +RULES$'
    [ "$(wc -l <"$TMP/out")" -eq 6 ] || fail "expected a header and 5 records"
    # newest first: j1 (journal) on top
    sed -n 2p "$TMP/out" | grep -q '2026-08-01T10:05:00Z' || fail "not newest first"
    run 0 audit query "$T" --principal 'arn:aws:sts::*:assumed-role/batch-role/*'
    [ "$(wc -l <"$TMP/out")" -eq 3 ] || fail "principal filter"
    run 0 audit query "$T" --rule pii --action block
    [ "$(wc -l <"$TMP/out")" -eq 2 ] || fail "rule+action filter"
    has "$TMP/out" 'block +pii$'
    run 0 audit query "$T" --since 2026-08-01T09:00:00Z --until 2026-08-01T10:00Z --model '*haiku'
    [ "$(wc -l <"$TMP/out")" -eq 2 ] || fail "time+model filter"
    run 0 audit query "$T" --limit 1 --format jsonl
    [ "$(wc -l <"$TMP/out")" -eq 1 ] || fail "limit"
    jq -e '.eventID == "j1" and .additionalEventData.findings[0].rule == "secrets"' "$TMP/out" >/dev/null ||
        fail "jsonl record"
    run 0 audit query "$T" --format json
    jq -e 'length == 5 and ([.[].eventID] | unique | length) == 5' "$TMP/out" >/dev/null ||
        fail "json is not an array of 5 distinct records"
    # a journal cut for a roll that is not delivered yet is read too
    { record 2026-08-01T10:06:00Z r1 "$BOB" anthropic.claude-3-haiku allow ''; echo; } \
        >"$T/journal/roll-20260801T1006Z-0123456789abcdef.jsonl"
    run 0 audit query "$T" --format json
    jq -e 'length == 6 and ([.[].eventID] | index("r1")) != null' "$TMP/out" >/dev/null ||
        fail "a cut journal's records are missing"
    rm "$T/journal/roll-20260801T1006Z-0123456789abcdef.jsonl"
    run 0 audit query "$T" --format json --event Nothing
    jq -e 'length == 0' "$TMP/out" >/dev/null || fail "empty json array"
    run 0 audit query "$T" --format csv
    has "$TMP/out" '^eventTime,eventID,principal,model,eventName,action,enforcedAction,rules,errorCode$'
    # a model id that a spreadsheet would run as a formula is neutralised
    has "$TMP/out" ",\"'=cmd\\|calc\",InvokeModel,"
    python3 - "$TMP/out" <<'EOF' || fail "csv does not parse to 6 rows of 9 fields"
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline='')))
sys.exit(0 if len(rows) == 6 and all(len(r) == 9 for r in rows) else 1)
EOF
    # unreadable file: warning, the rest printed, exit 1
    printf 'plain' >"$(dirname "$T/$L1")/${ACCT}_CloudTrail_${REGION}_20260801T0800Z_ZZZZZZZZZZZZZZZZ.json.gz"
    run 1 audit query "$T"
    has "$TMP/err" 'warning: .*ZZZZZZZZZZZZZZZZ.json.gz: invalid format'
    [ "$(wc -l <"$TMP/out")" -eq 6 ] || fail "records after a bad file"
}

case_stats() {
    build_trail
    run 0 audit stats "$T"
    has "$TMP/out" '^5 records from 2026-08-01T08:29:00Z to 2026-08-01T10:05:00Z$'
    has "$TMP/out" '^  block +2$'
    has "$TMP/out" '^  pii +2$'
    run 0 audit stats "$T" --format json --since 2026-08-01T09:00:00Z
    jq -e '.records == 3 and .actions.block == 1 and .rules.email == 1 and
           .principals["arn:aws:sts::111122223333:assumed-role/app-role/alice"] == 2' \
        "$TMP/out" >/dev/null || { fail "stats json"; cat "$TMP/out" >&2; }
}

run_case
