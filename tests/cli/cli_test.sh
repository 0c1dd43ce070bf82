#!/usr/bin/env bash
# CLI behaviour tests for `weir`: exit codes, formats, batch mode, lint and policy tests.
# usage: cli_test.sh WEIR_BINARY SOURCE_DIR CASE
set -u

WEIR=$1
SRC=$2
CASE=$3
DATA=$SRC/tests/data/cli
TMP=$(mktemp -d "${TMPDIR:-/tmp}/weir-cli.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
. "$(dirname "$0")/lib.sh"

# run_in EXPECTED_STATUS INPUT_FILE ARGS... : like run, with stdin from INPUT_FILE.
run_in() {
    local want=$1 input=$2
    shift 2
    "$WEIR" "$@" >"$TMP/out" 2>"$TMP/err" <"$input"
    local got=$?
    if [ "$got" != "$want" ]; then
        fail "weir $* <$input exited $got, expected $want"
        echo "--- stdout" >&2; cat "$TMP/out" >&2
        echo "--- stderr" >&2; cat "$TMP/err" >&2
    fi
}

P=$DATA/codes.yaml

case_help() {
    run 0 --help
    has "$TMP/out" '^usage: weir'
    has "$TMP/out" 'check'
    has "$TMP/out" 'policy'
    empty "$TMP/err"
    run 0 -h
    run 0 --version
    has "$TMP/out" '^weir [0-9]+\.[0-9]+\.[0-9]+'
    run 0 help check
    has "$TMP/out" '^usage: weir check'
    run 0 help policy test
    has "$TMP/out" '^usage: weir policy test'
    run 0 check --help
    has "$TMP/out" '--format'
    run 0 policy lint --help
    has "$TMP/out" '^usage: weir policy lint'
    run 0 policy --help
    run 2
    has "$TMP/err" '^usage: weir'
    run 2 frobnicate
    has "$TMP/err" "unknown command 'frobnicate'"
    has "$TMP/err" '^usage: weir'
    empty "$TMP/out"
    run 2 --frobnicate
    has "$TMP/err" "unknown option '--frobnicate'"
    run 2 check --frobnicate
    has "$TMP/err" "unknown option '--frobnicate'"
    has "$TMP/err" "weir help check"
    run 2 check --policy
    has "$TMP/err" "needs a value"
    run 2 check --format yaml "$DATA/codes.yaml"
    run 2 help nonsense
    run 2 policy
    run 2 policy frob
    # serve: a bad config and missing credentials are set-up errors (2), said plainly
    printf 'upstreams:\n  - name: x\n    kind: nope\n' > "$TMP/bad-serve.yaml"
    run 2 serve --config "$TMP/bad-serve.yaml"
    has "$TMP/err" 'kind'
    env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_PROFILE -u AWS_WEB_IDENTITY_TOKEN_FILE \
        -u AWS_CONTAINER_CREDENTIALS_FULL_URI -u AWS_CONTAINER_CREDENTIALS_RELATIVE_URI \
        AWS_SHARED_CREDENTIALS_FILE=/nonexistent HOME=/nonexistent "$WEIR" serve >"$TMP/out" 2>"$TMP/err" && fail "serve without credentials started"
    has "$TMP/err" 'no AWS credentials'
    run 0 serve --check-config --config "$SRC/tests/data/config/minimal.yaml"
    has "$TMP/out" 'config ok'
    run 0 help serve
    has "$TMP/out" 'SIGHUP'
    run 2 audit verify
    has "$TMP/err" 'which trail'
}

case_exit_codes() {
    printf 'nothing to see here\n' >"$TMP/clean.txt"
    printf 'See TCK-1234 today\n' >"$TMP/ticket.txt"
    printf 'the launch code 424242 is here\n' >"$TMP/launch.txt"
    printf 'a draft\n' >"$TMP/draft.txt"

    run 0 check --policy "$P" "$TMP/clean.txt"
    has "$TMP/out" '^verdict: allow'
    has "$TMP/out" '^text: unchanged'

    run 0 check --policy "$P" "$TMP/ticket.txt"
    has "$TMP/out" '^verdict: redact'
    has "$TMP/out" 'rule=tickets'
    has "$TMP/out" 'start=4 end=12'
    has "$TMP/out" '^See \[TICKET\] today$'
    lacks "$TMP/out" 'TCK-1234'

    run 0 check --policy "$P" "$TMP/draft.txt"
    has "$TMP/out" '^verdict: log'
    has "$TMP/out" 'rule=drafts'

    run 1 check --policy "$P" "$TMP/launch.txt"
    has "$TMP/out" '^verdict: block'
    has "$TMP/out" 'Launch codes stay in the vault'
    has "$TMP/out" 'withheld'
    lacks "$TMP/out" '424242'
    lacks "$TMP/err" '424242'

    # direction matters: the completion-only rule
    printf 'SECRET-ANSWER\n' >"$TMP/answer.txt"
    run 0 check --policy "$P" "$TMP/answer.txt"
    run 1 check --policy "$P" --direction completion "$TMP/answer.txt"
    run 1 check --policy="$P" -d completion "$TMP/answer.txt"

    # monitor mode: the block is recorded, not applied; nothing is redacted
    printf 'launch code 424242 and TCK-1234\n' >"$TMP/both.txt"
    run 0 check --policy "$DATA/monitor.yaml" "$TMP/both.txt"
    has "$TMP/out" '^verdict: log \(enforced: block; monitor mode\)'
    has "$TMP/out" 'rule=launch-codes .*action=block monitor'
    has "$TMP/out" '^text: unchanged'
    run 0 check --policy "$DATA/monitor.yaml" --format json "$TMP/both.txt"
    has "$TMP/out" '"enforced_action": "block"'

    # usage and policy errors: 2
    run 2 check --policy "$P" --direction sideways "$TMP/clean.txt"
    has "$TMP/err" 'direction'
    run 2 check --policy "$P" --provider gcp "$TMP/clean.txt"
    run 2 check --policy "$P" "$TMP/does-not-exist.txt"
    has "$TMP/err" 'does-not-exist.txt'
    run 2 check --policy "$TMP/no-policy.yaml" "$TMP/clean.txt"
    has "$TMP/err" 'no-policy.yaml'
    run 2 check --policy "$DATA/bad-policy.yaml" "$TMP/clean.txt"
    has "$TMP/err" 'bad-policy.yaml:[0-9]+:[0-9]+: '
    run 2 check --policy "$P" "$TMP/clean.txt" "$TMP/ticket.txt"

    # the built-in default policy
    run 0 check "$TMP/clean.txt"
    has "$TMP/out" '^policy: default sha256:[0-9a-f]{64}'
}

case_stdin() {
    printf 'See TCK-1234 today\n' >"$TMP/ticket.txt"
    run_in 0 "$TMP/ticket.txt" check --policy "$P"
    has "$TMP/out" '^See \[TICKET\] today$'
    run_in 0 "$TMP/ticket.txt" check --policy "$P" -
    has "$TMP/out" '^See \[TICKET\] today$'
    printf 'launch code 111111' >"$TMP/launch.txt"
    run_in 1 "$TMP/launch.txt" check --policy "$P" -
    # empty stdin is an empty text: allowed
    : >"$TMP/empty.txt"
    run_in 0 "$TMP/empty.txt" check --policy "$P"
    has "$TMP/out" '^verdict: allow'
}

case_json() {
    printf 'See TCK-1234 and the draft\n' >"$TMP/t.txt"
    run 0 check --policy "$P" --format json "$TMP/t.txt"
    python3 -m json.tool "$TMP/out" >/dev/null || fail "--format json output is not valid JSON"
    python3 - "$TMP/out" <<'PY' || fail "--format json content"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["action"] == "redact", d
assert d["enforced_action"] == "redact", d
assert d["policy"]["name"] == "cli-codes", d
assert d["policy"]["digest"].startswith("sha256:"), d
assert d["redacted"] == "See [TICKET] and the draft\n", d   # log changes nothing
assert d["changed"] is True, d
rules = [f["rule"] for f in d["findings"]]
assert rules == ["tickets", "drafts"], rules
f = d["findings"][0]
assert (f["start"], f["end"], f["kind"], f["detector"], f["action"], f["monitor"]) == \
    (4, 12, "content", "regex", "redact", False), f
PY
    printf 'launch code 999999 with TCK-0001' >"$TMP/b.txt"
    run 1 check --policy "$P" -f json "$TMP/b.txt"
    python3 - "$TMP/out" <<'PY' || fail "--format json for a block"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["action"] == "block", d
assert d["redacted"] is None, d
assert "Launch codes stay in the vault" in d["message"], d
assert {f["rule"] for f in d["findings"]} == {"launch-codes", "tickets"}, d
PY
    lacks "$TMP/out" '999999'
    # text that is not valid UTF-8 still gives valid JSON
    printf 'TCK-1234 \xff\xfe end' >"$TMP/bin.txt"
    run 0 check --policy "$P" --format json "$TMP/bin.txt"
    python3 -m json.tool "$TMP/out" >/dev/null || fail "JSON for invalid UTF-8 input"
}

case_jsonl() {
    run 1 check --policy "$P" --format jsonl "$DATA/batch.jsonl"
    python3 - "$TMP/out" <<'PY' || fail "jsonl batch output"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
out = [json.loads(l) for l in lines]          # every line is valid JSON
assert len(out) == 11, (len(out), lines)       # 12 input lines, one blank
by = {}
for o in out:
    by.setdefault(json.dumps(o.get("id")), []).append(o)
def one(i):
    v = by[json.dumps(i)]
    assert len(v) == 1, v
    return v[0]
o = one(1)
assert o["action"] == "redact" and o["redacted"] == "See [TICKET] please", o
assert o["findings"][0]["rule"] == "tickets" and o["findings"][0]["start"] == 4, o
o = one("two")
assert o["action"] == "allow" and o["redacted"] == "nothing to see" and o["findings"] == [], o
o = one(3)
assert o["action"] == "block" and o["redacted"] is None, o
assert o["findings"][0]["rule"] == "launch-codes", o
assert "123456" not in json.dumps(o), o
nulls = by["null"]                              # bad JSON (line 4) and the array (line 11)
assert sorted(n["line"] for n in nulls) == [4, 11], nulls
assert all("error" in n for n in nulls), nulls
assert "invalid JSON" in [n for n in nulls if n["line"] == 4][0]["error"], nulls
assert "text" in one(5)["error"], one(5)
assert one(5)["line"] == 6, one(5)
assert "string" in one(6)["error"], one(6)
assert one(7)["action"] == "log", one(7)
assert one(8)["action"] == "block", one(8)      # per-line direction override
assert "direction" in one(9)["error"], one(9)
o = one(10)                                     # the batch went on after the errors
assert o["redacted"] == "[TICKET] and [TICKET]", o
assert [l.get("id") for l in out] == [1, "two", 3, None, 5, 6, 7, 8, 9, None, 10], [l.get("id") for l in out]
PY
    lacks "$TMP/out" '123456'
    lacks "$TMP/out" 'not json at all'

    # all lines allowed: 0; stdin works; CRLF line ends are fine
    printf '{"id":1,"text":"TCK-1234"}\r\n{"id":2,"text":"fine"}\r\n' >"$TMP/ok.jsonl"
    run_in 0 "$TMP/ok.jsonl" check --policy "$P" --format jsonl
    has "$TMP/out" '^\{"id":1,"action":"redact"'
    has "$TMP/out" '"redacted":"\[TICKET\]"'
    # flags give the context, a line's key overrides it
    printf '{"id":1,"text":"SECRET-ANSWER"}\n{"id":2,"text":"SECRET-ANSWER","direction":"prompt"}\n' >"$TMP/dir.jsonl"
    run 1 check --policy "$P" --format jsonl --direction completion "$TMP/dir.jsonl"
    has "$TMP/out" '^\{"id":1,"action":"block"'
    has "$TMP/out" '^\{"id":2,"action":"allow"'
    # a malformed line alone: reported, exit 1 (an unchecked line is not an allowed line)
    printf '{"id":1,"text":"fine"}\n{oops\n' >"$TMP/bad.jsonl"
    run 1 check --policy "$P" --format jsonl "$TMP/bad.jsonl"
    has "$TMP/out" '"line":2'
    # NUL inside a JSON string is text like any other
    printf '{"id":1,"text":"a\\u0000TCK-1234"}\n' >"$TMP/nul.jsonl"
    run 0 check --policy "$P" --format jsonl "$TMP/nul.jsonl"
    has "$TMP/out" '"redacted":"a\\u0000\[TICKET\]"'
    # duplicate keys are refused rather than guessed
    printf '{"id":1,"text":"fine","text":"TCK-1234"}\n' >"$TMP/dup.jsonl"
    run 1 check --policy "$P" --format jsonl "$TMP/dup.jsonl"
    has "$TMP/out" '"error":"invalid JSON'
}

case_jsonl_limits() {
    python3 - "$TMP" <<'PY'
import sys
d = sys.argv[1]
with open(d + "/deep.jsonl", "w") as f:
    f.write('{"id":1,"text":"ok","x":' + "[" * 100 + "]" * 100 + "}\n")
    f.write('{"id":2,"text":"TCK-1234"}\n')
with open(d + "/long.jsonl", "w") as f:
    f.write('{"id":1,"text":"' + "a" * (17 * 1024 * 1024) + '"}\n')
    f.write('{"id":2,"text":"TCK-1234"}\n')
PY
    run 1 check --policy "$P" --format jsonl "$TMP/deep.jsonl"
    has "$TMP/out" '^\{"id":null,"line":1,"error":"JSON nested deeper'
    has "$TMP/out" '^\{"id":2,"action":"redact"'
    run 1 check --policy "$P" --format jsonl "$TMP/long.jsonl"
    has "$TMP/out" '^\{"id":null,"line":1,"error":"line longer than'
    has "$TMP/out" '^\{"id":2,"action":"redact"'
}

case_lint() {
    run 0 policy lint "$P"
    has "$TMP/out" "^$P: ok \(4 rules, sha256:[0-9a-f]{64}\)$"
    run 0 policy lint "$SRC/policies/default.yaml" "$SRC/policies/pci.yaml" \
        "$SRC/policies/eu-residency.yaml" "$SRC/policies/role-scoped.yaml"
    has "$TMP/out" 'default.yaml: ok'
    has "$TMP/out" 'role-scoped.yaml: ok'
    run 2 policy lint "$DATA/bad-policy.yaml"
    has "$TMP/err" "^$DATA/bad-policy.yaml:[0-9]+:[0-9]+: .+"
    empty "$TMP/out"
    # a bad file does not stop the others
    run 2 policy lint "$DATA/bad-policy.yaml" "$P"
    has "$TMP/out" "^$P: ok"
    run 2 policy lint "$TMP/missing.yaml"
    has "$TMP/err" 'missing.yaml'
    run 2 policy lint
}

case_policy_test() {
    run 0 policy test --tests "$DATA/codes.test.yaml" "$P"
    has "$TMP/out" '^6 passed, 0 failed$'
    # tests found beside the policy: NAME.yaml -> NAME.test.yaml
    cp "$P" "$TMP/x.yaml"
    cp "$DATA/codes.test.yaml" "$TMP/x.test.yaml"
    run 0 policy test "$TMP/x.yaml"
    has "$TMP/out" '^6 passed, 0 failed$'
    run 0 policy test -v "$TMP/x.yaml"
    has "$TMP/out" '^ok +ticket code is redacted'

    run 1 policy test --tests "$DATA/codes-wrong.test.yaml" "$P"
    has "$TMP/out" '^1 passed, 3 failed$'
    has "$TMP/out" '^FAIL wrong redacted text \(.*codes-wrong.test.yaml:4\)'
    has "$TMP/out" '^ +- See \[TICKET\] tomorrow\.$'
    has "$TMP/out" '^ +\+ See \[TICKET\] today\.$'
    has "$TMP/out" '^ {23}\^ first difference at line 1, column 16$'
    has "$TMP/out" '^FAIL wrong action and rules'
    has "$TMP/out" 'action: +expected block, got log'
    has "$TMP/out" 'rules: +expected \[launch-codes\], got \[drafts\]'
    has "$TMP/out" '- launch-codes \(expected, did not fire\)'
    has "$TMP/out" '\+ drafts \(fired, not expected\)'
    has "$TMP/out" '^ +- \[TICKET\] 2nd line$'
    has "$TMP/out" '^ +\+ \[TICKET\] second line$'
    has "$TMP/out" '^ +  first line$'
    lacks "$TMP/out" 'FAIL right test among wrong ones'
}

case_policy_test_errors() {
    run 2 policy test --tests "$DATA/bad-test-file.test.yaml" "$P"
    has "$TMP/err" "bad-test-file.test.yaml:4:5: unknown key 'expcet'"
    run 2 policy test --tests "$TMP/none.test.yaml" "$P"
    has "$TMP/err" 'none.test.yaml'
    run 2 policy test --tests "$DATA/codes.test.yaml" "$DATA/bad-policy.yaml"
    has "$TMP/err" 'bad-policy.yaml:[0-9]+:[0-9]+: '
    printf 'tests:\n  - name: x\n    input: [1]\n    expect: {action: allow}\n' >"$TMP/t1.yaml"
    run 2 policy test --tests "$TMP/t1.yaml" "$P"
    has "$TMP/err" 't1.yaml:3:12: input must be a string'
    printf 'tests:\n  - name: x\n    input: "a"\n    expect: {action: maybe}\n' >"$TMP/t2.yaml"
    run 2 policy test --tests "$TMP/t2.yaml" "$P"
    has "$TMP/err" 't2.yaml:4:22: action must be allow, log, redact or block'
    printf 'tests:\n  - name: x\n    input: "a"\n    context: {direction: up}\n    expect: {action: allow}\n' >"$TMP/t3.yaml"
    run 2 policy test --tests "$TMP/t3.yaml" "$P"
    has "$TMP/err" 't3.yaml:4:14: direction must be prompt or completion'
    printf 'tests: [\n' >"$TMP/t4.yaml"
    run 2 policy test --tests "$TMP/t4.yaml" "$P"
    has "$TMP/err" 't4.yaml:[0-9]+:[0-9]+: '
    printf 'tests: []\n' >"$TMP/t5.yaml"
    run 2 policy test --tests "$TMP/t5.yaml" "$P"
    has "$TMP/err" 't5.yaml:1:8: tests is empty'
    run 2 policy test
    run 2 policy test "$P" "$P"
}

case_detectors() {
    run 0 policy detectors
    has "$TMP/out" '^DETECTOR +ENTITY$'
    has "$TMP/out" '^email +EMAIL$'
    has "$TMP/out" '^credit_card '
    has "$TMP/out" '^us_ssn '
    run 2 policy detectors extra
}

run_case
