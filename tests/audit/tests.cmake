# Audit trail writer, process level (tests/audit/audit_proc.c): a writer killed with SIGKILL
# loses no acknowledged record and duplicates none (crash-roll: killed mid-roll, SYNC and
# BATCH); a full disk (RLIMIT_FSIZE) and a removed trail
# directory fail closed with WEIR_EIO and recover on their own. Included by tests/CMakeLists.txt.
add_executable(audit_proc ${CMAKE_CURRENT_LIST_DIR}/audit_proc.c)
target_link_libraries(audit_proc PRIVATE weir_internal)
foreach(case crash crash-roll fsize rmdir)
  add_test(NAME audit/writer-${case}
    COMMAND audit_proc ${case} ${CMAKE_BINARY_DIR}/audit-proc-${case})
  set_tests_properties(audit/writer-${case} PROPERTIES TIMEOUT 120)
endforeach()
