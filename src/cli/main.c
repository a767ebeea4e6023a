/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "cli.h"

static const char usage[] =
	"usage: godwit <command> [options]\n"
	"\n"
	"commands:\n"
	"  check -f PATH...                          the pre-flight report of a cluster\n"
	"  cpu host|models|labels|compare|baseline   the CPU-model engine\n"
	"  explain VM -f PATH...                     why a VM can or cannot go to each node, and the fixes\n"
	"  plan drain NODE... -f PATH...             where the VMs of drained nodes would go\n"
	"  server --data-dir DIR [--listen A:P]      the REST API over the store\n"
	"  node --server URL --name N                the node agent: runs and migrates the VMs of node N\n"
	"  apply -f FILE|DIR                         create or update resources on a server\n"
	"  get KIND [NAME] / describe KIND NAME      read resources from a server\n"
	"  delete KIND NAME                          delete a resource\n"
	"  migrate VMI [--selector k=v]              start a live migration\n"
	"  migrate-cancel VMI                        cancel the unfinished migration of a VMI\n"
	"  drain NODE / uncordon NODE                cordon and evacuate a node / undo it\n"
	"  watch KIND                                stream changes\n"
	"  version                                   print the version\n"
	"\n"
	"`godwit <command> --help` describes a command; docs/cli.md has them all.\n";

#ifdef GODWIT_ALLOCATOR_JEMALLOC
#include <jemalloc/jemalloc.h>

/* jemalloc reads its options from this variable at its start. Huge
 * pages for its extents: a big `check` touches half a GiB, and 4 KiB page
 * faults are dear, more so in a virtual machine (bench/README.md). */
const char *malloc_conf = "thp:always,metadata_thp:auto";

static void print_allocator(void)
{
	const char *version = "?", *thp = "?";
	size_t len = sizeof(version);
	mallctl("version", &version, &len, NULL, 0);
	len = sizeof(thp);
	mallctl("opt.thp", &thp, &len, NULL, 0);
	printf("allocator: jemalloc %s (thp %s)\n", version, thp);
}
#else
static void print_allocator(void)
{
	printf("allocator: system\n");
}
#endif

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{"check", gw_cmd_check},
	{"cpu", gw_cmd_cpu},
	{"explain", gw_cmd_explain},
	{"plan", gw_cmd_plan},
	{"server", gw_cmd_server},
	{"node", gw_cmd_node},
	{"apply", gw_cmd_apply},
	{"get", gw_cmd_get},
	{"describe", gw_cmd_describe},
	{"delete", gw_cmd_delete},
	{"migrate", gw_cmd_migrate},
	{"migrate-cancel", gw_cmd_migrate_cancel},
	{"drain", gw_cmd_drain},
	{"uncordon", gw_cmd_uncordon},
	{"watch", gw_cmd_watch},
};

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? GW_EXIT_USAGE : GW_EXIT_OK;
	}
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("godwit %s\n", GODWIT_VERSION);
		print_allocator();
		return GW_EXIT_OK;
	}
	for (size_t i = 0; i < GW_ARRAY_SIZE(commands); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	return gw_cli_usage(usage, "unknown command \"%s\"", argv[1]);
}
