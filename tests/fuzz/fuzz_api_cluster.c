/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: cluster documents (all kinds, Lists) through the api decoders. */
#include "fuzz_api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)fuzz_api_cluster(data, size);
	return 0;
}
