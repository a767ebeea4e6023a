/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the nodes reader. */
#include "fuzz_readers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)fuzz_nodes(data, size);
	return 0;
}
