/*
 * fuzz_postfix - every reader (--mta auto) of the log parser, and the report tally, on arbitrary
 * bytes (the body is fuzz_log() in fuzz_log.h)
 */
#include "tests/fuzz/fuzz_log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_log(data, size, MTA_UNKNOWN);
    return 0;
}
