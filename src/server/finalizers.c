/* SPDX-License-Identifier: Apache-2.0 */
/* Finalizer completion for writers that bypass the API. An object marked
 * for deletion (metadata.deletionTimestamp) goes when its last finalizer
 * is removed. The handlers do that for updates through the API; the
 * controllers write to the store directly (gw_ctl_start gets the store),
 * so this thread watches every kind and deletes what a direct update left
 * marked and without finalizers. Also catches what was left while the
 * server was down (a list at start). Thread "gw-finalizers"; its state is
 * its own. */
#include <pthread.h>
#include <string.h>

#include "godwit/store.h"
#include "server_int.h"

#define POLL_MS 450  /* one round over every kind when idle */

struct gw_finalizers {
	struct gw_server *server;
	pthread_t thread;
	struct gw_store_watch *watches[16];
};

static bool releasable(const json_t *obj)
{
	const json_t *meta = json_object_get(obj, "metadata");
	return json_object_get(meta, "deletionTimestamp") &&
	       json_array_size(json_object_get(meta, "finalizers")) == 0;
}

static void reap(struct gw_server *s, const char *kind, const json_t *obj)
{
	const json_t *meta = json_object_get(obj, "metadata");
	const char *rvs = json_string_value(json_object_get(meta, "resourceVersion"));
	uint64_t rv = 0;
	if (!rvs || !gw_str_to_u64(rvs, &rv))
		return;
	struct gw_err *err = NULL;
	/* With the version as a precondition: an object changed meanwhile
	 * is judged again on its own event. */
	if (gw_store_delete(s->store, kind, json_string_value(json_object_get(meta, "namespace")),
			    json_string_value(json_object_get(meta, "name")), (int64_t)rv, NULL, &err) == 0)
		gw_server_logf(s, "finalizers: %s %s deleted (last finalizer removed)", kind,
			       json_string_value(json_object_get(meta, "name")));
	gw_err_free(err);
}

/* Lists kind, reaps what is left, watches from the list's version. */
static int resync(struct gw_finalizers *f, size_t k)
{
	struct gw_server *s = f->server;
	const char *kind = gw_server_resources[k].plural;
	gw_store_watch_free(f->watches[k]);
	f->watches[k] = NULL;
	json_t *items = NULL;
	int64_t rv = 0;
	struct gw_err *err = NULL;
	int r = gw_store_list(s->store, kind, NULL, NULL, &items, &rv, &err);
	if (r == 0) {
		size_t i;
		json_t *item;
		json_array_foreach(items, i, item)
			if (releasable(item))
				reap(s, kind, item);
		r = gw_store_watch(s->store, kind, NULL, rv, &f->watches[k], &err);
	}
	if (r < 0)
		gw_server_logf(s, "finalizers: %s: %s (retrying)", kind, gw_err_msg(err));
	json_decref(items);
	gw_err_free(err);
	return r;
}

static void *run(void *arg)
{
	struct gw_finalizers *f = arg;
	struct gw_server *s = f->server;
	pthread_setname_np(pthread_self(), "gw-finalizers");
	for (size_t k = 0; k < gw_server_resources_count; k++)
		resync(f, k);
	while (!atomic_load(&s->stopping)) {
		for (size_t k = 0; k < gw_server_resources_count && !atomic_load(&s->stopping); k++) {
			if (!f->watches[k] && resync(f, k) < 0)
				continue;
			struct gw_store_event ev;
			struct gw_err *err = NULL;
			int r;
			/* Drain what is there, then move on to the next kind. */
			int timeout = POLL_MS / (int)gw_server_resources_count + 1;
			while ((r = gw_store_watch_next(f->watches[k], timeout, &ev, &err)) == 0) {
				if (ev.type == GW_STORE_MODIFIED && releasable(ev.object))
					reap(s, gw_server_resources[k].plural, ev.object);
				gw_store_event_fini(&ev);
				timeout = 0;
			}
			if (r != -ETIMEDOUT) {
				gw_store_watch_free(f->watches[k]);
				f->watches[k] = NULL;  /* expired or failed: re-list next round */
			}
			gw_err_free(err);
		}
	}
	return NULL;
}

int gw_finalizers_start(struct gw_server *s, struct gw_finalizers **out, struct gw_err **err)
{
	struct gw_finalizers *f = gw_calloc(1, sizeof(*f));
	f->server = s;
	int r = pthread_create(&f->thread, NULL, run, f);
	if (r) {
		free(f);
		return gw_err_set(err, -r, "finalizers thread: %s", strerror(r));
	}
	*out = f;
	return 0;
}

void gw_finalizers_stop(struct gw_finalizers *f)
{
	if (!f)
		return;
	/* the caller has set server->stopping */
	pthread_join(f->thread, NULL);
	for (size_t k = 0; k < GW_ARRAY_SIZE(f->watches); k++)
		gw_store_watch_free(f->watches[k]);
	free(f);
}
