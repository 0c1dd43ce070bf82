# weir serve's operations (admin endpoints, bad input, reload, drain) with real sockets.
find_package(Python3 COMPONENTS Interpreter REQUIRED)
add_test(NAME sidecar/ops COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/ops_test.py
  $<TARGET_FILE:weir_cli>)
set_tests_properties(sidecar/ops PROPERTIES TIMEOUT 120)
add_test(NAME sidecar/identity COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/identity_test.py
  $<TARGET_FILE:weir_cli>)
set_tests_properties(sidecar/identity PROPERTIES TIMEOUT 120)
add_test(NAME sidecar/redact COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/redact_test.py
  $<TARGET_FILE:weir_cli>)
set_tests_properties(sidecar/redact PROPERTIES TIMEOUT 60)
