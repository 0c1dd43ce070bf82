# Fuzz harnesses: every tests/fuzz/fuzz_<name>.c defines LLVMFuzzerTestOneInput.
#
#   always:         replay_<name>  = harness + replay_main.c (no libFuzzer needed), and a
#                   ctest fuzz/<name> that replays the seed corpus tests/fuzz/corpus/<name>/
#   WEIR_FUZZ=ON:   fuzz_<name>    = harness + libFuzzer (clang -fsanitize=fuzzer), e.g.
#                   build-fuzz/tests/fuzz_policy -max_total_time=120 NEW_DIR tests/fuzz/corpus/policy
#
# A harness links the internal view of the library (weir_internal), so it may use internal
# headers. Extra seed directories for one harness: WEIR_FUZZ_EXTRA_SEEDS_<name>.
set(WEIR_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR})
set(WEIR_FUZZ_EXTRA_SEEDS_policy ${CMAKE_SOURCE_DIR}/policies)
set(WEIR_FUZZ_EXTRA_SEEDS_normalize ${WEIR_FUZZ_DIR}/corpus/check)

if(WEIR_FUZZ AND NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "WEIR_FUZZ=ON needs clang (libFuzzer): -DCMAKE_C_COMPILER=clang")
endif()

file(GLOB WEIR_FUZZ_HARNESSES CONFIGURE_DEPENDS ${WEIR_FUZZ_DIR}/fuzz_*.c)
foreach(src ${WEIR_FUZZ_HARNESSES})
  get_filename_component(target ${src} NAME_WE)   # fuzz_policy
  string(REGEX REPLACE "^fuzz_" "" name ${target}) # policy

  add_executable(replay_${name} ${src} ${WEIR_FUZZ_DIR}/replay_main.c)
  target_include_directories(replay_${name} PRIVATE ${WEIR_FUZZ_DIR})
  target_link_libraries(replay_${name} PRIVATE weir_sidecar weir_internal)
  add_test(NAME fuzz/${name}
    COMMAND replay_${name} ${WEIR_FUZZ_DIR}/corpus/${name} ${WEIR_FUZZ_EXTRA_SEEDS_${name}})
  set_tests_properties(fuzz/${name} PROPERTIES LABELS fuzz TIMEOUT 600)

  if(WEIR_FUZZ)
    add_executable(${target} ${src})
    target_include_directories(${target} PRIVATE ${WEIR_FUZZ_DIR})
    target_link_libraries(${target} PRIVATE weir_sidecar weir_internal)
    target_link_options(${target} PRIVATE -fsanitize=fuzzer)
  endif()
endforeach()
