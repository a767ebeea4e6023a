/* SPDX-License-Identifier: Apache-2.0 */
/* The loop framework: one watcher thread per kind turns store events into
 * "dirty" marks; one thread per controller runs a pass (fresh snapshot,
 * one round of work) when marked, on its resync tick, or when it asked to
 * run again at a deadline (timeouts, backoff). */
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "internal.h"

static const char *const watched_kinds[] = {
	KIND_NODES, KIND_NAMESPACES, KIND_VMS, KIND_VMIS, KIND_VMIMS, KIND_POLICIES, KIND_KUBEVIRTS,
};
#define KBIT(i) (1u << (i))
enum { K_NODES, K_NAMESPACES, K_VMS, K_VMIS, K_VMIMS, K_POLICIES, K_KUBEVIRTS };


int64_t ctl_now_ms(struct gw_ctl *ctl)
{
	if (ctl->opts.now_ms)
		return ctl->opts.now_ms(ctl->opts.clock_ctx);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ctl_log(struct gw_ctl *ctl, enum gw_ctl_log_level level, const char *fmt, ...)
{
	if (!ctl->opts.log)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (msg)
		ctl->opts.log(ctl->opts.log_ctx, level, msg);
	free(msg);
}

static void mark_dirty(struct gw_ctl *ctl, unsigned kind_bits)
{
	pthread_mutex_lock(&ctl->lock);
	for (size_t i = 0; i < ctl->n_loops; i++)
		if (ctl->loops[i].kinds & kind_bits)
			ctl->loops[i].dirty++;
	pthread_cond_broadcast(&ctl->cond);
	pthread_mutex_unlock(&ctl->lock);
}

void gw_ctl_kick(struct gw_ctl *ctl)
{
	if (ctl)
		mark_dirty(ctl, ~0u);
}

static bool stopping(struct gw_ctl *ctl)
{
	pthread_mutex_lock(&ctl->lock);
	bool s = ctl->stopping;
	pthread_mutex_unlock(&ctl->lock);
	return s;
}

static void *watcher_main(void *p)
{
	struct ctl_watcher *a = p;
	struct gw_ctl *ctl = a->ctl;
	const char *kind = watched_kinds[a->kind];
	struct gw_store_watch *w = NULL;
	while (!stopping(ctl)) {
		_cleanup_err_ struct gw_err *err = NULL;
		if (!w) {
			int64_t rv = 0;
			if (gw_store_current_rv(ctl->store, &rv, &err) < 0 ||
			    gw_store_watch(ctl->store, kind, NULL, rv, &w, &err) < 0) {
				ctl_log(ctl, GW_CTL_LOG_WARN, "watch %s: %s", kind, gw_err_msg(err));
				w = NULL;
				usleep(200 * 1000);
				continue;
			}
			/* Anything between the loops' last list and this watch is
			 * seen by the pass this mark causes. */
			mark_dirty(ctl, KBIT(a->kind));
		}
		struct gw_store_event ev = {0};
		int r = gw_store_watch_next(w, 100, &ev, &err);
		if (r == 0) {
			gw_store_event_fini(&ev);
			mark_dirty(ctl, KBIT(a->kind));
		} else if (r != -ETIMEDOUT) {
			ctl_log(ctl, GW_CTL_LOG_WARN, "watch %s: %s; re-watching", kind, gw_err_msg(err));
			gw_store_watch_free(w);
			w = NULL;
		}
	}
	gw_store_watch_free(w);
	return NULL;
}

/* ---- snapshot ------------------------------------------------------------------- */
static const char *const doc_kind[] = {
	"Node", "Namespace", "VirtualMachine", "VirtualMachineInstance",
	"VirtualMachineInstanceMigration", "MigrationPolicy", "KubeVirt",
};

static struct gw_cluster *snapshot(struct gw_ctl *ctl)
{
	struct gw_cluster *c = gw_cluster_new();
	for (size_t k = 0; k < GW_ARRAY_SIZE(watched_kinds); k++) {
		_cleanup_err_ struct gw_err *err = NULL;
		_cleanup_json_ json_t *items = NULL;
		if (gw_store_list(ctl->store, watched_kinds[k], NULL, NULL, &items, NULL, &err) < 0) {
			ctl_log(ctl, GW_CTL_LOG_WARN, "list %s: %s", watched_kinds[k], gw_err_msg(err));
			gw_cluster_free(c);
			return NULL;
		}
		size_t i;
		json_t *doc;
		json_array_foreach(items, i, doc) {
			/* List items are read-only (shared with the store's cache). */
			_cleanup_json_ json_t *with_kind = NULL;
			if (!json_is_string(json_object_get(doc, "kind"))) {
				with_kind = json_deep_copy(doc);
				json_object_set_new(with_kind, "kind", json_string(doc_kind[k]));
				doc = with_kind;
			}
			/* Only one KubeVirt CR counts (KubeVirt's own rule). */
			if (k == K_KUBEVIRTS && c->kubevirt)
				continue;
			_cleanup_err_ struct gw_err *derr = NULL;
			if (gw_cluster_add_doc(c, doc, watched_kinds[k], i, &derr) < 0)
				ctl_log(ctl, GW_CTL_LOG_WARN, "skipping %s", gw_err_msg(derr));
		}
	}
	gw_cluster_link(c);
	return c;
}

static void *loop_main(void *p)
{
	struct ctl_loop *l = p;
	struct gw_ctl *ctl = l->ctl;
	uint64_t seen = 0;
	int64_t again_ms = 0;
	pthread_mutex_lock(&ctl->lock);
	l->dirty++;
	for (;;) {
		/* Wait until marked, the loop's own deadline or the resync tick. */
		int wait_ms = ctl->opts.resync_ms;
		if (again_ms >= 0 && again_ms < wait_ms)
			wait_ms = (int)again_ms;
		if (l->dirty == seen && !ctl->stopping && wait_ms > 0) {
			struct timespec ts;
			gw_deadline_ms(CLOCK_REALTIME, wait_ms, &ts);
			pthread_cond_timedwait(&ctl->cond, &ctl->lock, &ts);
		}
		if (ctl->stopping)
			break;
		seen = l->dirty;
		pthread_mutex_unlock(&ctl->lock);
		struct gw_cluster *c = snapshot(ctl);
		if (c) {
			again_ms = l->pass(ctl, c);
			gw_cluster_free(c);
		} else {
			again_ms = 200;
		}
		pthread_mutex_lock(&ctl->lock);
	}
	pthread_mutex_unlock(&ctl->lock);
	return NULL;
}

int gw_ctl_start(struct gw_store *store, const struct gw_ctl_options *opts, struct gw_ctl **out,
		 struct gw_err **err)
{
	struct gw_ctl *ctl = gw_calloc(1, sizeof(*ctl));
	ctl->store = store;
	if (opts)
		ctl->opts = *opts;
	if (ctl->opts.node_heartbeat_timeout_s <= 0)
		ctl->opts.node_heartbeat_timeout_s = 300;
	if (ctl->opts.resync_ms <= 0)
		ctl->opts.resync_ms = 1000;
	if (!ctl->opts.controllers)
		ctl->opts.controllers = GW_CTL_ALL;
	ctl->rules = gw_rules_by_name(ctl->opts.rules ? ctl->opts.rules : "godwit");
	if (!ctl->rules) {
		free(ctl);
		return gw_err_set(err, -EINVAL, "unknown rule set \"%s\" (godwit, kubevirt)", opts->rules);
	}
	pthread_mutex_init(&ctl->lock, NULL);
	pthread_cond_init(&ctl->cond, NULL);

	const unsigned all = KBIT(K_NODES) | KBIT(K_NAMESPACES) | KBIT(K_VMS) | KBIT(K_VMIS) | KBIT(K_VMIMS) |
			     KBIT(K_POLICIES) | KBIT(K_KUBEVIRTS);
	const struct ctl_loop defs[] = {
		{.thread_name = "gw-ctl-vm", .which = GW_CTL_VM, .kinds = KBIT(K_VMS) | KBIT(K_VMIS), .pass = ctl_pass_vm},
		{.thread_name = "gw-ctl-place", .which = GW_CTL_PLACEMENT,
		 .kinds = KBIT(K_NODES) | KBIT(K_VMIS) | KBIT(K_KUBEVIRTS) | KBIT(K_VMIMS), .pass = ctl_pass_placement},
		{.thread_name = "gw-ctl-migrate", .which = GW_CTL_MIGRATION, .kinds = all, .pass = ctl_pass_migration},
		{.thread_name = "gw-ctl-node", .which = GW_CTL_NODE,
		 .kinds = KBIT(K_NODES) | KBIT(K_VMIS) | KBIT(K_VMIMS) | KBIT(K_KUBEVIRTS), .pass = ctl_pass_node},
	};
	for (size_t i = 0; i < GW_ARRAY_SIZE(defs); i++) {
		if (!(ctl->opts.controllers & defs[i].which))
			continue;
		ctl->loops[ctl->n_loops] = defs[i];
		ctl->loops[ctl->n_loops].ctl = ctl;
		ctl->n_loops++;
	}
	/* Watchers first: a loop's first pass then misses nothing. */
	for (size_t k = 0; k < GW_ARRAY_SIZE(watched_kinds); k++) {
		struct ctl_watcher *a = &ctl->watchers[ctl->n_watchers];
		a->ctl = ctl;
		a->kind = k;
		if (pthread_create(&a->thread, NULL, watcher_main, a) != 0) {
			gw_ctl_stop(ctl);
			return gw_err_set(err, -EAGAIN, "cannot start a watcher thread");
		}
		static const char *const short_names[] = {"nodes", "ns", "vm", "vmi", "vmim", "policy", "kubevirt"};
		char name[16];
		snprintf(name, sizeof(name), "gw-watch-%s", short_names[k]);
		pthread_setname_np(a->thread, name);
		ctl->n_watchers++;
	}
	for (size_t i = 0; i < ctl->n_loops; i++) {
		struct ctl_loop *l = &ctl->loops[i];
		if (pthread_create(&l->thread, NULL, loop_main, l) != 0) {
			gw_ctl_stop(ctl);
			return gw_err_set(err, -EAGAIN, "cannot start controller thread %s", l->thread_name);
		}
		l->started = true;
		pthread_setname_np(l->thread, l->thread_name);
	}
	*out = ctl;
	return 0;
}

void gw_ctl_stop(struct gw_ctl *ctl)
{
	if (!ctl)
		return;
	pthread_mutex_lock(&ctl->lock);
	ctl->stopping = true;
	pthread_cond_broadcast(&ctl->cond);
	pthread_mutex_unlock(&ctl->lock);
	for (size_t i = 0; i < ctl->n_loops; i++)
		if (ctl->loops[i].started)
			pthread_join(ctl->loops[i].thread, NULL);
	for (size_t i = 0; i < ctl->n_watchers; i++)
		pthread_join(ctl->watchers[i].thread, NULL);
	pthread_cond_destroy(&ctl->cond);
	pthread_mutex_destroy(&ctl->lock);
	free(ctl);
}
