/* SPDX-License-Identifier: Apache-2.0 */
/* godwit node: the node agent (docs/node-agent.md). Runs until SIGINT or
 * SIGTERM; the VMs it started keep running after it exits. */
#include <getopt.h>
#include <signal.h>
#include <string.h>

#include "cli.h"
#include "godwit/api.h"
#include "godwit/node.h"

static const char usage[] =
	"usage: godwit node --server URL (--token T | --token-file F) --name N [--profile FILE]\n"
	"                   [--address IP] [--state-dir DIR] [--memory SIZE] [--cpus N]\n"
	"                   [--heartbeat-interval S] [--qemu PATH] [--accel auto|kvm|tcg] [--model-db FILE]\n"
	"\n"
	"  --server URL         the API server (else $GODWIT_SERVER or the config file)\n"
	"  --token T            bearer token (else --token-file, $GODWIT_TOKEN or the config file)\n"
	"  --token-file F       read the token from F (the server's DATA/token)\n"
	"  --name N             this node's name (the Node object)\n"
	"  --profile FILE       a CPU profile standing in for this host's CPU (any format of\n"
	"                       `godwit cpu labels --profile`); VMs then always run under TCG\n"
	"  --address IP         where other agents reach this node's migration targets (127.0.0.1)\n"
	"  --state-dir DIR      VMs' state directories (default ./godwit-node-N)\n"
	"  --memory SIZE        capacity and allocatable memory (4Gi; default: this host's)\n"
	"  --cpus N             capacity and allocatable CPUs (default: this host's)\n"
	"  --heartbeat-interval S  seconds between heartbeats (default 10)\n"
	"  --qemu PATH          QEMU binary (default qemu-system-x86_64)\n"
	"  --accel A            auto (kvm when the guest's CPU is usable under KVM here), kvm or tcg\n"
	"  --model-db F         use a model database written by `cpu models --from-qemu -o tsv`\n";

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

enum {
	OPT_SERVER = 0x100, OPT_TOKEN, OPT_TOKEN_FILE, OPT_NAME, OPT_PROFILE, OPT_ADDRESS, OPT_STATE_DIR,
	OPT_MEMORY, OPT_CPUS, OPT_HEARTBEAT, OPT_QEMU, OPT_ACCEL, OPT_MODEL_DB,
};

int gw_cmd_node(int argc, char **argv)
{
	static const struct option opts[] = {
		{"server", required_argument, NULL, OPT_SERVER},
		{"token", required_argument, NULL, OPT_TOKEN},
		{"token-file", required_argument, NULL, OPT_TOKEN_FILE},
		{"name", required_argument, NULL, OPT_NAME},
		{"profile", required_argument, NULL, OPT_PROFILE},
		{"address", required_argument, NULL, OPT_ADDRESS},
		{"state-dir", required_argument, NULL, OPT_STATE_DIR},
		{"memory", required_argument, NULL, OPT_MEMORY},
		{"cpus", required_argument, NULL, OPT_CPUS},
		{"heartbeat-interval", required_argument, NULL, OPT_HEARTBEAT},
		{"qemu", required_argument, NULL, OPT_QEMU},
		{"accel", required_argument, NULL, OPT_ACCEL},
		{"model-db", required_argument, NULL, OPT_MODEL_DB},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct gw_node_agent_options o = {.stop = &stop_requested};
	const char *token_file = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_SERVER: o.server = optarg; break;
		case OPT_TOKEN: o.token = optarg; break;
		case OPT_TOKEN_FILE: token_file = optarg; break;
		case OPT_NAME: o.name = optarg; break;
		case OPT_PROFILE: o.profile = optarg; break;
		case OPT_ADDRESS: o.address = optarg; break;
		case OPT_STATE_DIR: o.state_dir = optarg; break;
		case OPT_QEMU: o.qemu = optarg; break;
		case OPT_MODEL_DB: o.model_db = optarg; break;
		case OPT_MEMORY: {
			int64_t bytes = 0;
			int r = gw_quantity_parse(optarg, &bytes);
			if (r < 0 || bytes <= 0)
				return gw_cli_usage(usage, "--memory \"%s\": %s", optarg,
						    r < 0 ? gw_quantity_strerror(r) : "must be positive");
			o.memory_bytes = bytes;
			break;
		}
		case OPT_CPUS: {
			uint64_t n = 0;
			if (!gw_str_to_u64(optarg, &n) || n == 0 || n > 65536)
				return gw_cli_usage(usage, "--cpus \"%s\": a whole number from 1 to 65536 expected", optarg);
			o.cpus = (int64_t)n;
			break;
		}
		case OPT_HEARTBEAT: {
			uint64_t n = 0;
			if (!gw_str_to_u64(optarg, &n) || n == 0 || n > 3600)
				return gw_cli_usage(usage, "--heartbeat-interval \"%s\": seconds from 1 to 3600 expected",
						    optarg);
			o.heartbeat_interval_s = (unsigned)n;
			break;
		}
		case OPT_ACCEL:
			if (strcmp(optarg, "auto") == 0)
				o.accel = GW_NODE_ACCEL_AUTO;
			else if (strcmp(optarg, "kvm") == 0)
				o.accel = GW_NODE_ACCEL_KVM;
			else if (strcmp(optarg, "tcg") == 0)
				o.accel = GW_NODE_ACCEL_TCG;
			else
				return gw_cli_usage(usage, "--accel \"%s\": auto, kvm or tcg expected", optarg);
			break;
		case 'h':
			fputs(usage, stdout);
			return GW_EXIT_OK;
		default:
			return gw_cli_usage(usage, "node: bad option");
		}
	}
	if (optind < argc)
		return gw_cli_usage(usage, "node: unexpected argument \"%s\"", argv[optind]);
	if (!o.name)
		return gw_cli_usage(usage, "node: --name is required");
	if (o.token && token_file)
		return gw_cli_usage(usage, "node: --token and --token-file exclude each other");

	struct gw_err *err = NULL;
	_cleanup_free_ char *token = NULL;
	if (token_file) {
		if (gw_cli_read_token_file(token_file, &token, &err) < 0)
			return gw_cli_fail(err);
		o.token = token;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (gw_node_agent_run(&o, &err) < 0)
		return gw_cli_fail(err);
	return GW_EXIT_OK;
}
