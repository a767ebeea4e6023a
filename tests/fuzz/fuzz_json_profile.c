/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the json profile reader. */
#include "fuzz_readers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)fuzz_json_profile(data, size);
	return 0;
}
