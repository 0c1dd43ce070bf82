# Shared by the CLI test scripts. Source it after setting WEIR (the binary), CASE and TMP;
# a script may redefine run() when it needs more (stdin, rlimits).

FAILS=0

fail() {
    echo "FAIL: $*" >&2
    FAILS=$((FAILS + 1))
}

# run EXPECTED_STATUS ARGS... : runs weir, keeps stdout/stderr in $TMP/out, $TMP/err.
run() {
    local want=$1
    shift
    "$WEIR" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
    local got=$?
    if [ "$got" != "$want" ]; then
        fail "weir $* exited $got, expected $want"
        echo "--- stdout" >&2; cat "$TMP/out" >&2
        echo "--- stderr" >&2; cat "$TMP/err" >&2
    fi
}

has() { # has FILE REGEX
    grep -Eq -- "$2" "$1" || { fail "$(basename "$1") lacks /$2/"; sed 's/^/    | /' "$1" >&2; }
}
lacks() { # lacks FILE FIXED_STRING
    if grep -Fq -- "$2" "$1"; then fail "$(basename "$1") contains '$2'"; sed 's/^/    | /' "$1" >&2; fi
}
empty() {
    [ ! -s "$1" ] || { fail "$(basename "$1") is not empty"; sed 's/^/    | /' "$1" >&2; }
}

# run_case: runs case_$CASE (dashes become underscores) and exits with the verdict.
run_case() {
    local fn="case_${CASE//-/_}"
    if ! declare -F "$fn" >/dev/null; then
        echo "unknown case $CASE" >&2
        exit 2
    fi
    "$fn"
    if [ "$FAILS" -ne 0 ]; then
        echo "$CASE: $FAILS check(s) failed" >&2
        exit 1
    fi
    echo "$CASE: ok"
}
