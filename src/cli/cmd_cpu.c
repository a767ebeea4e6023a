/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "cli.h"

static const char usage[] =
	"usage: godwit cpu <verb> [options]\n"
	"\n"
	"  host      this host's CPU: features, usable models, host-model, labels\n"
	"  models    QEMU's named models (built in, generated from a QEMU, or usable on a profile)\n"
	"  labels    the KubeVirt node labels of a host, and the updated Node\n"
	"  compare   two hosts: identical, superset, subset or incompatible\n"
	"  baseline  the highest common models of any number of hosts\n";

int gw_cmd_cpu(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} verbs[] = {
		{"host", gw_cmd_cpu_host},       {"models", gw_cmd_cpu_models},
		{"labels", gw_cmd_cpu_labels},   {"compare", gw_cmd_cpu_compare},
		{"baseline", gw_cmd_cpu_baseline},
	};
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? GW_EXIT_USAGE : GW_EXIT_OK;
	}
	for (size_t i = 0; i < GW_ARRAY_SIZE(verbs); i++)
		if (!strcmp(argv[1], verbs[i].name))
			return verbs[i].fn(argc - 1, argv + 1);
	return gw_cli_usage(usage, "unknown verb \"cpu %s\"", argv[1]);
}
