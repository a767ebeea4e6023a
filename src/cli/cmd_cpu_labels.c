/* SPDX-License-Identifier: Apache-2.0 */
#include "cli.h"

int gw_cmd_cpu_labels(int argc, char **argv)
{
	(void)argc, (void)argv;
	fprintf(stderr, "godwit: cpu labels: not implemented yet\n");
	return GW_EXIT_UNSUPPORTED;
}
