/* SPDX-License-Identifier: Apache-2.0 */
/* Migration policies (kubevirt-behaviour.md 5.2-5.4, seed 003) and the
 * settings in effect: S24 (shim), S27 (bandwidth), 4.3 and seed 002
 * (completion deadline per rule set). */
#include "sched_fixture.h"

static const struct gw_rule_set *kv(void)
{
	return gw_rules_get(GW_RULES_KUBEVIRT);
}

static const struct gw_rule_set *gw(void)
{
	return gw_rules_get(GW_RULES_GODWIT);
}

static const char *winner(const struct gw_cluster *c, const struct gw_vmi *v, const struct gw_rule_set *rules)
{
	int i = gw_sched_policy(c, v, rules);
	return i < 0 ? "none" : c->policies[i]->meta.name;
}

/* 5.2: matching, selectors absent, the nil-labels QUIRK */
static void test_matching(void **state)
{
	struct gw_cluster *c = fx_cluster();
	fx_namespace(c, "default", "env=prod");
	struct gw_vmi *v = fx_vmi(c, "vm", "n");
	fx_labels(&v->meta.labels, "app=web");
	struct gw_policy *nosel = fx_policy(c, "a-no-selectors", NULL, NULL);
	nosel->has_selectors = false;
	fx_policy(c, "b-other-app", "app=db", NULL);
	fx_policy(c, "c-other-env", NULL, "env=dev");
	assert_string_equal(winner(c, v, kv()), "none");
	assert_string_equal(winner(c, v, gw()), "none");

	fx_policy(c, "d-web", "app=web", "env=prod");
	assert_string_equal(winner(c, v, kv()), "d-web");
	assert_string_equal(winner(c, v, gw()), "d-web");

	/* QUIRK: a VMI without labels skips both selectors: every policy
	 * with selectors matches with score (0,0); the smallest name wins */
	gw_map_fini(&v->meta.labels);
	assert_string_equal(winner(c, v, kv()), "b-other-app");
	fx_free(c);
}

/* 5.3 / 003: the most matching labels win in both rule sets */
static void test_most_labels(void **state)
{
	struct gw_cluster *c = fx_cluster();
	fx_namespace(c, "default", "env=prod");
	struct gw_vmi *v = fx_vmi(c, "vm", "n");
	fx_labels(&v->meta.labels, "app=web,tier=front");
	fx_policy(c, "a-one", "app=web", NULL);
	fx_policy(c, "z-three", "app=web,tier=front", "env=prod");
	fx_policy(c, "b-two", "tier=front", "env=prod");
	assert_string_equal(winner(c, v, kv()), "z-three");
	assert_string_equal(winner(c, v, gw()), "z-three");
	fx_free(c);
}

/* Where the rule sets differ: equal totals, one policy matches a VMI
 * label (tier), the other a namespace label (env). KubeVirt: more VMI
 * labels wins; 003: the matching keys in alphabetical order (env < tier).
 * Names are chosen so that name order would give neither answer alone. */
static void test_tie_vmi_count_vs_keys(void **state)
{
	struct gw_cluster *c = fx_cluster();
	fx_namespace(c, "default", "env=prod");
	struct gw_vmi *v = fx_vmi(c, "vm", "n");
	fx_labels(&v->meta.labels, "tier=db");
	fx_policy(c, "zz-vmi", "tier=db", NULL);
	fx_policy(c, "yy-ns", NULL, "env=prod");
	assert_string_equal(winner(c, v, kv()), "zz-vmi");
	assert_string_equal(winner(c, v, gw()), "yy-ns");
	fx_free(c);
}

/* Equal totals and VMI counts: KubeVirt takes the smaller name, 003 the
 * alphabetically first matching keys (app < zone) */
static void test_tie_name_vs_keys(void **state)
{
	struct gw_cluster *c = fx_cluster();
	struct gw_vmi *v = fx_vmi(c, "vm", "n");
	fx_labels(&v->meta.labels, "app=web,zone=a");
	fx_policy(c, "a-zone", "zone=a", NULL);
	fx_policy(c, "b-app", "app=web", NULL);
	assert_string_equal(winner(c, v, kv()), "a-zone");
	assert_string_equal(winner(c, v, gw()), "b-app");
	/* the same keys: the name decides in both */
	fx_policy(c, "0-app", "app=web", NULL);
	assert_string_equal(winner(c, v, gw()), "0-app");
	assert_string_equal(winner(c, v, kv()), "0-app");
	fx_free(c);
}

/* S24: the shim and the defaults */
static void test_s24_shim(void **state)
{
	struct gw_cluster *c = fx_cluster();
	struct gw_vmi *v = fx_vmi(c, "vm", "n");
	fx_labels(&v->meta.labels, "app=web");
	v->spec.memory_request_bytes = 1LL << 30;
	struct gw_policy *p = fx_policy(c, "p", "app=web", NULL);
	p->has_allow_post_copy = true;
	p->allow_post_copy = true;
	p->has_completion_timeout = true;
	p->completion_timeout_per_gib = 50;
	struct gw_migration_settings s;
	gw_sched_settings(c, v, kv(), &s);
	assert_string_equal(s.policy, "p");
	assert_true(s.config.allow_post_copy);
	assert_int_equal(s.config.allow_workload_disruption, 1);
	assert_int_equal(s.config.completion_timeout_per_gib, 50);
	assert_int_equal(s.config.bandwidth_bytes, 0);
	assert_int_equal(s.bandwidth_mib_s, 0);
	assert_int_equal(s.config.progress_timeout_s, 150);
	assert_false(s.config.allow_auto_converge);
	assert_int_equal(s.config.parallel_migrations_per_cluster, 5);
	assert_int_equal(s.config.parallel_outbound_migrations_per_node, 2);

	p->has_allow_workload_disruption = true;
	p->allow_workload_disruption = false;
	gw_sched_settings(c, v, kv(), &s);
	assert_true(s.config.allow_post_copy);
	assert_int_equal(s.config.allow_workload_disruption, 0);

	/* no policy: disruption follows allowPostCopy (false) */
	gw_map_fini(&v->meta.labels);
	fx_labels(&v->meta.labels, "app=db");
	gw_sched_settings(c, v, kv(), &s);
	assert_null(s.policy);
	assert_int_equal(s.config.allow_workload_disruption, 0);
	fx_free(c);
}

/* S27 / 4.2 */
static void test_s27_bandwidth(void **state)
{
	static const struct { int64_t bytes, mib; } cases[] = {
		{64LL << 20, 64}, {500LL << 10, 1}, {1000000000LL, 954}, {0, 0},
	};
	struct gw_cluster *c = fx_cluster();
	struct gw_vmi *v = fx_vmi(c, "vm", "n");
	fx_labels(&v->meta.labels, "app=web");
	struct gw_policy *p = fx_policy(c, "p", "app=web", NULL);
	p->has_bandwidth = true;
	for (size_t i = 0; i < GW_ARRAY_SIZE(cases); i++) {
		struct gw_migration_settings s;
		p->bandwidth_bytes = cases[i].bytes;
		gw_sched_settings(c, v, kv(), &s);
		assert_int_equal(s.bandwidth_mib_s, cases[i].mib);
	}
	fx_free(c);
}

static int64_t deadline(struct gw_cluster *c, struct gw_vmi *v, const struct gw_rule_set *rules, int64_t bytes,
			int64_t *units)
{
	struct gw_migration_settings s;
	v->spec.memory_request_bytes = bytes;
	gw_sched_settings(c, v, rules, &s);
	*units = s.size_units;
	assert_int_equal(s.size_bytes, bytes);
	return s.completion_deadline_s;
}

/* 002: 800 s per binary GiB (8 GiB -> 6400 s, partial GiB rounded up);
 * 4.3: KubeVirt 150 s per decimal GB rounded up (8Gi -> 9 -> 1350 s) */
static void test_completion_deadline(void **state)
{
	struct gw_cluster *c = fx_cluster();
	struct gw_vmi *v = fx_vmi(c, "vm", "n");
	int64_t units;
	assert_int_equal(deadline(c, v, gw(), 8LL << 30, &units), 6400);
	assert_int_equal(units, 8);
	assert_int_equal(deadline(c, v, gw(), 512LL << 20, &units), 800);
	assert_int_equal(deadline(c, v, gw(), 3LL << 29, &units), 1600);   /* 1.5Gi -> 2 GiB */
	assert_int_equal(deadline(c, v, kv(), 8LL << 30, &units), 1350);
	assert_int_equal(units, 9);
	assert_int_equal(deadline(c, v, kv(), 1LL << 30, &units), 300);     /* 1Gi -> 2 */
	assert_int_equal(deadline(c, v, kv(), 2LL << 30, &units), 450);     /* 2Gi -> 3 */
	assert_int_equal(deadline(c, v, kv(), 512LL << 20, &units), 150);   /* 512Mi -> 1 */
	assert_int_equal(deadline(c, v, kv(), 8000000000LL, &units), 1200); /* 8G -> 8 */

	/* memory.guest replaces the request */
	struct gw_migration_settings s;
	v->spec.memory_request_bytes = 1LL << 30;
	v->spec.memory_guest_bytes = 8LL << 30;
	gw_sched_settings(c, v, gw(), &s);
	assert_int_equal(s.completion_deadline_s, 6400);
	v->spec.memory_guest_bytes = 0;

	/* a configured completionTimeoutPerGiB overrides either default */
	struct gw_kubevirt *k = fx_kubevirt(c);
	assert_int_equal(deadline(c, v, gw(), 8LL << 30, &units), 6400);   /* CR present but unset */
	k->migrations.completion_timeout_set = true;
	k->migrations.completion_timeout_per_gib = 100;
	assert_int_equal(deadline(c, v, gw(), 8LL << 30, &units), 800);
	assert_int_equal(deadline(c, v, kv(), 8LL << 30, &units), 900);
	/* 0 disables the completion timeout */
	k->migrations.completion_timeout_per_gib = 0;
	assert_int_equal(deadline(c, v, kv(), 8LL << 30, &units), 0);
	/* and a policy overrides the CR */
	fx_labels(&v->meta.labels, "app=web");
	struct gw_policy *p = fx_policy(c, "p", "app=web", NULL);
	p->has_completion_timeout = true;
	p->completion_timeout_per_gib = 10;
	assert_int_equal(deadline(c, v, gw(), 8LL << 30, &units), 80);
	fx_free(c);
}

/* 4.3 step 2: BlockMigration adds the copied disks whose size is known
 * (emptyDisk capacity); LiveMigration adds nothing */
static void test_block_migration_size(void **state)
{
	struct gw_cluster *c = fx_cluster();
	struct gw_vmi *v = fx_vmi(c, "vm", "n");
	v->spec.memory_request_bytes = 2LL << 30;
	fx_volume(v, "scratch", GW_VOL_EMPTYDISK, NULL, GW_DISK_DISK, false);
	v->spec.volumes[0].empty_disk_capacity = gw_strdup("2Gi");
	struct gw_migration_settings s;
	gw_sched_settings(c, v, gw(), &s);
	assert_int_equal(s.size_bytes, 4LL << 30);
	assert_int_equal(s.completion_deadline_s, 3200);
	/* as a read-only CD-ROM it is not copied */
	v->spec.disks[0].type = GW_DISK_CDROM;
	v->spec.disks[0].readonly = true;
	gw_sched_settings(c, v, gw(), &s);
	assert_int_equal(s.size_bytes, 2LL << 30);
	fx_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matching),
		cmocka_unit_test(test_most_labels),
		cmocka_unit_test(test_tie_vmi_count_vs_keys),
		cmocka_unit_test(test_tie_name_vs_keys),
		cmocka_unit_test(test_s24_shim),
		cmocka_unit_test(test_s27_bandwidth),
		cmocka_unit_test(test_completion_deadline),
		cmocka_unit_test(test_block_migration_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
