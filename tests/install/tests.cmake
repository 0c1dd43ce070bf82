# Install and consumer tests.
#   install/consumer  cmake --install into a temporary prefix, then build docs/example
#                     with pkg-config and with find_package(weir), run it, check its output
#   install/exports   libweir.so exports every WEIR_EXTERN function and only weir_* names
# Both use the real, uninstrumented shared library: they are labelled no-sanitize (an
# example built without ASan cannot load an ASan-built libweir.so) and left out of
# WEIR_FUZZ builds.
if(NOT WEIR_FUZZ AND NOT WEIR_SANITIZE)
  file(GLOB WEIR_PUBLIC_HEADER_FILES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/include/weir/*.h)
  add_test(NAME install/consumer
    COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/install_test.sh ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR}
            ${CMAKE_INSTALL_LIBDIR} ${PROJECT_VERSION} ${CMAKE_C_COMPILER} ${CMAKE_COMMAND})
  set_tests_properties(install/consumer PROPERTIES LABELS "install;no-sanitize" TIMEOUT 600)
  find_program(WEIR_NM NAMES nm)
  if(WEIR_NM)
    add_test(NAME install/exports
      COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/exports.sh $<TARGET_FILE:weir> ${WEIR_PUBLIC_HEADER_FILES})
    set_tests_properties(install/exports PROPERTIES LABELS "install;no-sanitize")
  endif()
endif()
