# CLI behaviour tests: real `weir` process, real files (tests/cli/cli_test.sh CASE).
# Included by tests/CMakeLists.txt.
set(WEIR_CLI_TEST_CASES help exit-codes stdin json jsonl jsonl-limits lint policy-test
  policy-test-errors detectors)
foreach(case ${WEIR_CLI_TEST_CASES})
  add_test(NAME cli/${case}
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/cli_test.sh $<TARGET_FILE:weir_cli> ${CMAKE_SOURCE_DIR} ${case})
endforeach()

# `weir audit verify|query|stats` over trails built by the script (gzip + openssl CLI).
foreach(case help verify verify-tampered query stats)
  add_test(NAME cli/audit-${case}
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/audit_test.sh $<TARGET_FILE:weir_cli> ${case})
endforeach()

# `weir check --audit`: records read back with `weir audit query|verify`; fail closed.
foreach(case record verify jsonl fail-closed fail-open unopenable)
  add_test(NAME cli/check-audit-${case}
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/check_audit_test.sh $<TARGET_FILE:weir_cli> ${case})
endforeach()
