/* libFuzzer harness: arbitrary bytes as a safetensors file. Build and run with `make fuzz`. */
#include "fuzz_common.h"
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_open(data, size, NULL); }
