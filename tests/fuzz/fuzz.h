/*
 * fuzz.h - the libFuzzer entry point every harness in tests/fuzz/ defines.
 *
 * Built two ways: with -fsanitize=fuzzer (WEIR_FUZZ=ON, clang) libFuzzer supplies main;
 * otherwise replay_main.c does, and runs the harness over the files it is given (the seed
 * corpus, in ctest). A harness aborts on a broken invariant so both report it as a crash.
 */
#ifndef WEIR_TESTS_FUZZ_H
#define WEIR_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
