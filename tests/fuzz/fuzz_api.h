/* SPDX-License-Identifier: Apache-2.0 */
/* The api reader fed arbitrary bytes: documents (YAML or JSON) into a
 * cluster, then linked and every object's findings walked. Shared by the
 * libFuzzer target and the unit test that replays the seed corpus. */
#ifndef GODWIT_FUZZ_API_H
#define GODWIT_FUZZ_API_H

#include <stdint.h>
#include <string.h>

#include "godwit/api.h"

static inline int fuzz_api_cluster(const uint8_t *data, size_t size)
{
	json_t *docs = NULL;
	struct gw_err *err = NULL;
	struct gw_cluster *c = gw_cluster_new();
	int r = gw_doc_load_string("fuzz.yaml", (const char *)data, size, &docs, &err);
	/* Every document, not only up to the first error: each decoder's
	 * error path runs, and what was added must stay consistent. */
	for (size_t i = 0; r == 0 && i < json_array_size(docs); i++) {
		struct gw_err *derr = NULL;
		int dr = gw_cluster_add_doc(c, json_array_get(docs, i), "fuzz.yaml", i, &derr);
		if (dr < 0 && (!derr || !derr->msg || !derr->msg[0]))
			abort();   /* an error without a message breaks the contract */
		gw_err_free(derr);
	}
	json_decref(docs);
	if (r < 0 && (!err || !err->msg || !err->msg[0]))
		abort();
	gw_err_free(err);
	gw_cluster_link(c);
	for (size_t i = 0; i < c->n_findings; i++)
		if (!c->findings[i].where || !c->findings[i].message)
			abort();
	for (size_t i = 0; i < c->n_vmis; i++)
		if (gw_cluster_vmi(c, c->vmis[i]->meta.namespace, c->vmis[i]->meta.name) != c->vmis[i])
			abort();   /* the index lost an object */
	size_t n = c->n_docs;
	gw_cluster_free(c);
	return r < 0 ? r : (int)(n > 0);
}

#endif
