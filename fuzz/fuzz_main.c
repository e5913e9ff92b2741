/* One libFuzzer program: FUZZ_ENTRY (fuzz_config, ...) is the target's entry
 * function from targets.c, set per program by fuzz/CMakeLists.txt. */
#include "fuzz/targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return FUZZ_ENTRY(data, size); }
