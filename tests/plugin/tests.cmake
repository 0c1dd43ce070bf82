# Test plugins: tests/plugin/testplug.c built in variants that each break one rule of
# <weir/plugin.h> (or none), into ${CMAKE_BINARY_DIR}/test-plugins/weir-<variant>.so, for
# tests/unit/plugin/ (loader checks, plugin findings vs builtin redaction, audit sinks).
set(WEIR_TEST_PLUGINS
  "falcon:TP_DETECTOR"
  "falcon-notail:TP_DETECTOR|TP_NO_TAIL"
  "falcon-scratch:TP_DETECTOR|TP_SCRATCH"
  "abi2:TP_DETECTOR|TP_MAJOR=2"
  "small:TP_DETECTOR|TP_SMALL"
  "noentry:TP_DETECTOR|TP_NO_ENTRY"
  "nullscan:TP_DETECTOR|TP_NULL_SCAN"
  "createfails:TP_DETECTOR|TP_CREATE_FAILS"
  "badspan:TP_DETECTOR|TP_BAD_SPAN"
  "failon:TP_DETECTOR|TP_FAIL_ON"
  "sink:TP_SINK")
set(WEIR_TEST_PLUGIN_TARGETS)
foreach(v ${WEIR_TEST_PLUGINS})
  string(REPLACE "|" ";" v "${v}")
  string(REPLACE ":" ";" parts "${v}")
  list(GET parts 0 name)
  list(REMOVE_AT parts 0)
  set(target testplug_${name})
  string(REPLACE "-" "_" target ${target})
  add_library(${target} MODULE ${CMAKE_CURRENT_LIST_DIR}/testplug.c)
  target_compile_definitions(${target} PRIVATE ${parts})
  # only <weir/plugin.h>, as an out-of-tree plugin would have
  target_include_directories(${target} PRIVATE ${CMAKE_SOURCE_DIR}/include)
  set_target_properties(${target} PROPERTIES PREFIX "" OUTPUT_NAME weir-${name}
    C_VISIBILITY_PRESET hidden
    LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/test-plugins)
  list(APPEND WEIR_TEST_PLUGIN_TARGETS ${target})
endforeach()
foreach(t unit_plugin_test_loader unit_plugin_test_detect unit_plugin_test_sink)
  if(TARGET ${t})
    add_dependencies(${t} ${WEIR_TEST_PLUGIN_TARGETS})
  endif()
endforeach()
