/*
 * tests/test_toma.c: the topology manager's voters, leases and proposals
 * (core/toma.h, docs/toma.md), driven through its public API only.
 *
 * The deterministic world of tests/toma_world.h: nodes 1..3 vote in one
 * group (two replicas and a witness).
 *
 * MESH_TEST_LOG=1 prints every log line with its time and node.
 */

#define LEASE_NS (100 * MS)
#define ROUND_NS (20 * MS)         /* round timeout: a fifth of a lease */
#define GROUP 7
#define NODE_A 1                   /* replica, head of the chain */
#define NODE_B 2                   /* replica */
#define NODE_W 3                   /* witness */
#define NODES 4                    /* slot 0 unused: ids are indices */
#define META_MAX 4
#define META_BYTES 512
#define SEED 0x746f6d61ull

#include "tests/toma_world.h"

static void crash(struct world *w, uint32_t id)
{
	node(w, id)->down = true;
}

/* Run until node @id has committed a change and return when, or NEVER. */
static uint64_t run_until_commit(struct world *w, uint32_t id, uint64_t until_ns)
{
	while (stats_of(w, id).commits == 0) {
		if (w->now_ns >= until_ns)
			return NEVER;
		step(w, until_ns);
	}
	return w->now_ns;
}


/* Node @id holds epoch 2 of mirror2 with A stale. */
static void assert_a_stale_at_epoch_2(struct world *w, uint32_t id)
{
	const struct mesh_group_config *c = config_of(w, id);

	assert_int_equal(c->epoch, 2);
	assert_int_equal(c->member_count, 3);
	assert_int_equal(c->members[0].node, NODE_A);
	assert_int_equal(c->members[0].state, MESH_MEMBER_STALE);
	assert_int_equal(c->members[1].node, NODE_B);
	assert_int_equal(c->members[1].state, MESH_MEMBER_ACTIVE);
	assert_int_equal(c->members[2].node, NODE_W);
	assert_int_equal(c->members[2].state, MESH_MEMBER_ACTIVE);
}

/* The client takes a lease on epoch 1 from every voter that answers. */
static void lease_from_all(struct world *w)
{
	for (uint32_t id = 1; id < NODES; id++)
		ask_lease(w, id, 1);
	settle(w);
	for (uint32_t id = 1; id < NODES; id++) {
		const struct mesh_msg *g = reply_from(w, id, MESH_MSG_LEASE_GRANT);

		if (node(w, id)->down) {
			assert_null(g);
			continue;
		}
		assert_non_null(g);
		assert_int_equal(g->u.lease_grant.status, 0);
		assert_int_equal(g->u.lease_grant.lease_ns, LEASE_NS);
		assert_int_equal(g->u.lease_grant.config.epoch, 1);
	}
}

/* ---- the tests ---- */

static void dead_replica_is_marked_stale_by_one_round(void **state)
{
	struct world *w = *state;
	struct mesh_toma_stats b;
	uint64_t current = 0, at;

	crash(w, NODE_A);
	mesh_toma_on_peer_change(node(w, NODE_B)->toma, NODE_A, false);
	/* B is the first member it believes alive, so it proposes at its next tick. */
	at = run_until_epoch(w, NODE_W, 2, ROUND_NS);
	assert_true(at < ROUND_NS);
	assert_a_stale_at_epoch_2(w, NODE_B);
	assert_a_stale_at_epoch_2(w, NODE_W);
	assert_int_equal(epoch_of(w, NODE_A), 1); /* crashed, heard nothing */
	b = stats_of(w, NODE_B);
	assert_int_equal(b.proposals, 1);
	assert_int_equal(b.commits, 1);
	assert_int_equal(b.aborts, 0);
	assert_int_equal(b.accepts_deferred, 0);

	/* W cannot tell the change committed and finishes it once more; that
	 * must neither move the epoch nor go on for ever. */
	run_until(w, w->now_ns + 20 * ROUND_NS);
	assert_a_stale_at_epoch_2(w, NODE_B);
	assert_a_stale_at_epoch_2(w, NODE_W);
	assert_int_equal(stats_of(w, NODE_B).commits, 1);
	assert_true(timers_idle(w, NODE_B));
	assert_true(timers_idle(w, NODE_W));

	/* B fences the old epoch and serves the new one; the witness serves
	 * no data at all. */
	assert_int_equal(mesh_toma_io_check(node(w, NODE_B)->toma, GROUP, 2, MESH_MSG_IO_READ,
					    &current, NULL), 0);
	assert_int_equal(current, 2);
	current = 0;
	assert_int_equal(mesh_toma_io_check(node(w, NODE_B)->toma, GROUP, 1, MESH_MSG_IO_WRITE,
					    &current, NULL), -ESTALE);
	assert_int_equal(current, 2);
	assert_int_equal(mesh_toma_io_check(node(w, NODE_W)->toma, GROUP, 2, MESH_MSG_IO_READ,
					    &current, NULL), -ESTALE);
	assert_int_equal(stats_of(w, NODE_B).io_fenced, 1);
}

static void voter_defers_a_higher_epoch_until_its_lease_runs_out(void **state)
{
	struct world *w = *state;
	uint64_t t0, at;

	crash(w, NODE_A);
	t0 = w->now_ns;
	lease_from_all(w);
	mesh_toma_on_peer_change(node(w, NODE_B)->toma, NODE_A, false);

	run_until(w, t0 + LEASE_NS - MS);
	assert_int_equal(epoch_of(w, NODE_B), 1);
	assert_int_equal(epoch_of(w, NODE_W), 1);
	assert_true(stats_of(w, NODE_B).accepts_deferred > 0);
	assert_true(stats_of(w, NODE_W).accepts_deferred > 0);
	assert_int_equal(stats_of(w, NODE_B).commits, 0);

	/* Past the lease a round (after at most a back-off and a tick) commits. */
	at = run_until_commit(w, NODE_B, t0 + LEASE_NS + 2 * ROUND_NS);
	assert_true(at != NEVER);
	assert_true(at >= t0 + LEASE_NS);
	assert_a_stale_at_epoch_2(w, NODE_B);
	assert_a_stale_at_epoch_2(w, NODE_W);
	print_message("committed %.1f ms after the lease was granted\n", (double)(at - t0) / MS);
}

/*
 * The client renews its lease on every voter each quarter lease from
 * @from_ns, under epoch 1, until @proposer commits (returns when) or
 * @bound_ns passes (returns NEVER). A voter that deferred the change for
 * the client's lease must refuse every renewal until it accepts (counted
 * in *@refused): a grant would move its lease end, and the change with it.
 */
static uint64_t renew_until_commit(struct world *w, uint32_t proposer, uint64_t from_ns,
				   uint64_t bound_ns, unsigned *refused)
{
	uint64_t at = NEVER;

	for (uint64_t t = from_ns + LEASE_NS / 4; w->now_ns < bound_ns; t += LEASE_NS / 4) {
		at = run_until_commit(w, proposer, t < bound_ns ? t : bound_ns);
		if (at != NEVER)
			break;
		for (uint32_t id = 1; id < NODES; id++)
			ask_lease(w, id, 1);
		settle(w);
		for (uint32_t id = 1; id < NODES; id++) {
			const struct mesh_msg *g = reply_from(w, id, MESH_MSG_LEASE_GRANT);

			if (node(w, id)->down)
				continue;
			assert_non_null(g);
			if (epoch_of(w, id) == 2) {
				/* Accepted: leases go on, on the new configuration. */
				assert_int_equal(g->u.lease_grant.status, 0);
				assert_int_equal(g->u.lease_grant.config.epoch, 2);
			} else if (stats_of(w, id).accepts_deferred) {
				assert_int_equal(g->u.lease_grant.status, -EBUSY);
				(*refused)++;
			}
		}
	}
	return at;
}

/*
 * The client renews its lease on every voter every L/4 while @proposer is
 * told that A is dead: the change must still commit within 3L + R of
 * that, with the renewals that would delay it refused. Returns how many
 * were refused.
 */
static unsigned change_commits_despite_renewals(struct world *w, uint32_t proposer)
{
	uint64_t t0 = w->now_ns, change_ns, bound_ns, at;
	unsigned refused = 0;

	lease_from_all(w);
	run_until(w, t0 + MS);
	change_ns = w->now_ns;
	mesh_toma_on_peer_change(node(w, proposer)->toma, NODE_A, false);
	bound_ns = change_ns + 3 * LEASE_NS + ROUND_NS;

	at = renew_until_commit(w, proposer, t0, bound_ns, &refused);
	assert_true(at != NEVER);
	assert_true(at <= bound_ns);
	assert_true(stats_of(w, NODE_B).leases_refused > 0);
	settle(w);
	assert_a_stale_at_epoch_2(w, NODE_B);
	assert_a_stale_at_epoch_2(w, NODE_W);
	print_message("committed %.1f ms after the change was wanted (bound %.1f ms), "
		      "%u renewals refused\n", (double)(at - change_ns) / MS,
		      (double)(bound_ns - change_ns) / MS, refused);
	return refused;
}

static void lease_renewals_do_not_starve_a_pending_change(void **state)
{
	struct world *w = *state;

	crash(w, NODE_A);
	assert_true(change_commits_despite_renewals(w, NODE_B) >= 4);
	assert_true(stats_of(w, NODE_W).leases_refused > 0);
}

/*
 * Regression (192e418, "renewals starved a change for ever"): a voter
 * whose vote the change needs (B, active in the new configuration) may
 * never see a prepare, only the proposal. Deferring that proposal must
 * hold its leases back as a promise would; before the fix B went on
 * granting, each renewal pushed its lease end on, and W never committed.
 */
static void renewals_do_not_starve_a_change_whose_prepare_was_lost(void **state)
{
	struct world *w = *state;

	/* A is well, but W wrongly suspects it; W's prepares to B are lost. */
	w->drop[NODE_W][NODE_B] = MESH_MSG_CONFIG_READ;
	change_commits_despite_renewals(w, NODE_W);
	assert_true(stats_of(w, NODE_B).accepts_deferred > 0);
}

/*
 * A majority is not enough: B, active in the new configuration, must fence
 * epoch 1 before epoch 2 takes effect. W (wrongly suspecting A) gets A's
 * vote at once, while B defers for the lease it granted the client.
 */
static void change_commits_only_once_every_active_member_accepted(void **state)
{
	struct world *w = *state;
	uint64_t t0 = w->now_ns, at;
	const struct mesh_msg *g;

	ask_lease(w, NODE_B, 1);
	g = reply_from(w, NODE_B, MESH_MSG_LEASE_GRANT);
	assert_non_null(g);
	assert_int_equal(g->u.lease_grant.status, 0);
	mesh_toma_on_peer_change(node(w, NODE_W)->toma, NODE_A, false);

	run_until(w, t0 + LEASE_NS - MS);
	assert_a_stale_at_epoch_2(w, NODE_A);
	assert_a_stale_at_epoch_2(w, NODE_W);
	assert_int_equal(epoch_of(w, NODE_B), 1);
	for (uint32_t id = 1; id < NODES; id++)
		assert_int_equal(stats_of(w, id).commits, 0);

	/* Once B's lease ran out, whoever finishes the round commits it. */
	at = run_until_epoch(w, NODE_B, 2, t0 + LEASE_NS + 2 * ROUND_NS);
	assert_true(at != NEVER);
	run_until(w, at + ROUND_NS);
	assert_true(stats_of(w, NODE_A).commits + stats_of(w, NODE_W).commits > 0);
	for (uint32_t id = 1; id < NODES; id++)
		assert_a_stale_at_epoch_2(w, id);
}

/*
 * W's link to A is cut both ways, so W's heartbeat suspects A while A is
 * well. W proposes epoch 2 (A stale); the proposal reaches B only, and W
 * crashes as it sends it, so B's vote never comes back to it. Returns when
 * B accepted, A still holding epoch 1.
 */
static uint64_t propose_then_crash_proposer(struct world *w)
{
	uint64_t at;

	w->cut[NODE_W][NODE_A] = w->cut[NODE_A][NODE_W] = true;
	node(w, NODE_W)->crash_after = MESH_MSG_CONFIG_PROPOSE;
	mesh_toma_on_peer_change(node(w, NODE_W)->toma, NODE_A, false);
	/* W is not the first member it believes alive: it waits a round. */
	at = run_until_epoch(w, NODE_B, 2, 3 * ROUND_NS);
	assert_true(at != NEVER);
	assert_true(at >= ROUND_NS);
	assert_true(node(w, NODE_W)->down);
	assert_a_stale_at_epoch_2(w, NODE_B);
	assert_int_equal(epoch_of(w, NODE_A), 1);
	assert_int_equal(stats_of(w, NODE_W).commits, 0);
	assert_int_equal(stats_of(w, NODE_B).proposals, 0);
	return at;
}

static void voters_finish_a_configuration_whose_proposer_crashed(void **state)
{
	struct world *w = *state;
	uint64_t accepted_ns = propose_then_crash_proposer(w), at;
	const struct mesh_msg *g;

	/* A client still on epoch 1 is no sign that epoch 2 committed. */
	run_until(w, accepted_ns + ROUND_NS);
	ask_lease(w, NODE_B, 1);
	g = reply_from(w, NODE_B, MESH_MSG_LEASE_GRANT);
	assert_non_null(g);
	assert_int_equal(g->u.lease_grant.status, 0);
	assert_int_equal(g->u.lease_grant.config.epoch, 2);

	/* B waits two round timeouts for a sign of the commit, then (not
	 * being first alive) one more round for A to act. */
	run_until(w, accepted_ns + 2 * ROUND_NS - MS);
	assert_int_equal(stats_of(w, NODE_B).proposals, 0);
	at = run_until_epoch(w, NODE_A, 2, accepted_ns + 4 * ROUND_NS);
	assert_true(at != NEVER);
	assert_true(stats_of(w, NODE_B).proposals >= 1);
	assert_true(stats_of(w, NODE_B).commits >= 1);
	assert_a_stale_at_epoch_2(w, NODE_A);
	assert_memory_equal(config_of(w, NODE_A), config_of(w, NODE_B),
			    sizeof(struct mesh_group_config));

	/* Then all is quiet, and still at epoch 2. */
	run_until(w, w->now_ns + 20 * ROUND_NS);
	assert_a_stale_at_epoch_2(w, NODE_A);
	assert_a_stale_at_epoch_2(w, NODE_B);
	assert_true(timers_idle(w, NODE_A));
	assert_true(timers_idle(w, NODE_B));
	print_message("completed %.1f ms after B accepted\n", (double)(at - accepted_ns) / MS);
}

static void lease_on_the_new_epoch_cancels_the_completion(void **state)
{
	struct world *w = *state;
	uint64_t accepted_ns = propose_then_crash_proposer(w), proposals;
	const struct mesh_msg *g;

	/* Clients learn an epoch only from a majority: it is committed. */
	run_until(w, accepted_ns + ROUND_NS);
	ask_lease(w, NODE_B, 2);
	g = reply_from(w, NODE_B, MESH_MSG_LEASE_GRANT);
	assert_non_null(g);
	assert_int_equal(g->u.lease_grant.status, 0);
	assert_int_equal(g->u.lease_grant.config.epoch, 2);
	proposals = stats_of(w, NODE_A).proposals + stats_of(w, NODE_B).proposals;

	run_until(w, accepted_ns + 20 * ROUND_NS);
	assert_int_equal(stats_of(w, NODE_A).proposals + stats_of(w, NODE_B).proposals, proposals);
	assert_int_equal(epoch_of(w, NODE_A), 1);
	assert_a_stale_at_epoch_2(w, NODE_B);
}

static void restarted_voter_resumes_its_epoch_and_waits_out_a_lease(void **state)
{
	struct world *w = *state;
	struct mesh_group_config next;
	const struct mesh_msg *r;
	uint64_t restart_ns, ballot;
	const char *why = NULL;

	crash(w, NODE_A);
	mesh_toma_on_peer_change(node(w, NODE_B)->toma, NODE_A, false);
	assert_true(run_until_epoch(w, NODE_W, 2, ROUND_NS) != NEVER);

	/* Restart W, offering it the first configuration again. */
	restart_ns = w->now_ns;
	node_stop(w, NODE_W);
	node_start(w, NODE_W);
	assert_a_stale_at_epoch_2(w, NODE_W);
	assert_memory_equal(config_of(w, NODE_W), config_of(w, NODE_B),
			    sizeof(struct mesh_group_config));

	/* Its promise survived too: a lower ballot is refused. */
	send_prepare(w, NODE_W, 1);
	r = reply_from(w, NODE_W, MESH_MSG_CONFIG_REPLY);
	assert_non_null(r);
	assert_int_equal(r->u.config_reply.status, -ESTALE);
	assert_true(r->u.config_reply.promised > 1);
	assert_int_equal(r->u.config_reply.accepted_ballot, r->u.config_reply.promised);
	assert_int_equal(r->u.config_reply.config.epoch, 2);
	ballot = r->u.config_reply.promised + 1;

	/* W may have granted leases it no longer remembers: no epoch 3 for
	 * a full lease from the restart. */
	assert_int_equal(mesh_group_change(config_of(w, NODE_W), MESH_GROUP_START_REBUILD, 0, 0, 0,
					   0, &next, &why), 0);
	run_until(w, restart_ns + LEASE_NS - MS);
	send_propose(w, NODE_W, ballot, &next);
	r = reply_from(w, NODE_W, MESH_MSG_CONFIG_ACCEPT);
	assert_non_null(r);
	assert_int_equal(r->u.config_accept.status, -EBUSY);
	assert_int_equal(r->u.config_accept.retry_ns, MS);
	assert_int_equal(epoch_of(w, NODE_W), 2);
	assert_int_equal(stats_of(w, NODE_W).accepts_deferred, 1);

	run_until(w, restart_ns + LEASE_NS);
	send_propose(w, NODE_W, ballot, &next);
	r = reply_from(w, NODE_W, MESH_MSG_CONFIG_ACCEPT);
	assert_non_null(r);
	assert_int_equal(r->u.config_accept.status, 0);
	assert_int_equal(r->u.config_accept.epoch, 3);
	assert_int_equal(epoch_of(w, NODE_W), 3);
	assert_int_equal(config_of(w, NODE_W)->members[0].state, MESH_MEMBER_REBUILDING);
}

/* @rc is @want, and node A logged one error line, naming @words. */
static void assert_refused_with(struct world *w, int rc, int want, const char *words)
{
	struct fake_node *n = node(w, NODE_A);

	assert_int_equal(rc, want);
	assert_int_equal(n->error_lines, 1);
	assert_non_null(strstr(n->last_error, words));
	n->error_lines = 0;
}

static void bad_input_is_refused_with_clear_errors(void **state)
{
	struct world *w = *state;
	struct mesh_env_ops no_put = fake_ops, no_get = fake_ops;
	struct fake_node *a = node(w, NODE_A);
	struct mesh_env env_no_put = { &no_put, a, NODE_A }, env_no_get = { &no_get, a, NODE_A };
	struct mesh_toma_config cfg = w->cfg;
	struct mesh_group_config c;
	struct mesh_toma *t = NULL;
	uint64_t current = 0;
	const struct mesh_msg *g;

	no_put.meta_put = NULL;
	no_get.meta_get = NULL;
	a->error_lines = 0;
	assert_refused_with(w, mesh_toma_create(&env_no_put, &cfg, &t), -EOPNOTSUPP,
			    "metadata store");
	assert_refused_with(w, mesh_toma_create(&env_no_get, &cfg, &t), -EOPNOTSUPP,
			    "metadata store");
	cfg.lease_ns = MESH_TOMA_LEASE_NS_MIN - 1;
	assert_refused_with(w, mesh_toma_create(&a->env, &cfg, &t), -EINVAL, "lease");
	cfg.lease_ns = MESH_TOMA_LEASE_NS_MAX + 1;
	assert_refused_with(w, mesh_toma_create(&a->env, &cfg, &t), -EINVAL, "lease");
	cfg = w->cfg;
	cfg.drift_ppm = MESH_GROUP_DRIFT_PPM_MAX + 1;
	assert_refused_with(w, mesh_toma_create(&a->env, &cfg, &t), -EINVAL, "drift");
	cfg = w->cfg;
	cfg.round_timeout_ns = 0;
	assert_refused_with(w, mesh_toma_create(&a->env, &cfg, &t), -EINVAL, "round timeout");
	assert_null(t);

	/* The bounds themselves are fine. */
	cfg = w->cfg;
	cfg.lease_ns = MESH_TOMA_LEASE_NS_MIN;
	cfg.drift_ppm = MESH_GROUP_DRIFT_PPM_MAX;
	assert_int_equal(mesh_toma_create(&a->env, &cfg, &t), 0);
	mesh_toma_destroy(t);
	cfg.lease_ns = MESH_TOMA_LEASE_NS_MAX;
	assert_int_equal(mesh_toma_create(&a->env, &cfg, &t), 0);
	mesh_toma_destroy(t);

	/* Groups: the world's managers already vote in GROUP at epoch 1. */
	t = a->toma;
	c = mirror2(1u << 20);
	c.group = GROUP + 1;
	c.members[2].state = MESH_MEMBER_STALE;
	assert_refused_with(w, mesh_toma_group_add(t, &c), -EINVAL, "invalid configuration");
	c = mirror2(1u << 20);
	c.group = GROUP + 1;
	c.members[0].node = 9;
	assert_refused_with(w, mesh_toma_group_add(t, &c), -EINVAL, "not a member");
	assert_null(mesh_toma_config_of(t, GROUP + 1));
	c = mirror2(1u << 20);
	assert_int_equal(mesh_toma_group_add(t, &c), -EEXIST);
	c.group = GROUP + 2;
	c.epoch = 5;
	assert_int_equal(mesh_toma_group_add(t, &c), 0);
	assert_int_equal(mesh_toma_config_of(t, GROUP + 2)->epoch, 5);

	/* Fencing. */
	assert_int_equal(mesh_toma_io_check(t, GROUP + 1, 5, MESH_MSG_IO_READ, &current, NULL), -ENOENT);
	assert_int_equal(mesh_toma_io_check(t, GROUP + 2, 5, MESH_MSG_IO_READ, &current, NULL), 0);
	assert_int_equal(current, 5);
	current = 0;
	assert_int_equal(mesh_toma_io_check(t, GROUP + 2, 4, MESH_MSG_IO_WRITE, &current, NULL), -ESTALE);
	assert_int_equal(current, 5);
	assert_int_equal(stats_of(w, NODE_A).io_fenced, 1);

	/* A lease on a group this voter does not vote in. */
	ask_lease_on(w, NODE_A, GROUP + 1, 1);
	g = reply_from(w, NODE_A, MESH_MSG_LEASE_GRANT);
	assert_non_null(g);
	assert_int_equal(g->u.lease_grant.status, -ENOENT);
	assert_int_equal(a->error_lines, 0);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, world_start, world_teardown)
	const struct CMUnitTest tests[] = {
		T(dead_replica_is_marked_stale_by_one_round),
		T(voter_defers_a_higher_epoch_until_its_lease_runs_out),
		T(lease_renewals_do_not_starve_a_pending_change),
		T(renewals_do_not_starve_a_change_whose_prepare_was_lost),
		T(change_commits_only_once_every_active_member_accepted),
		T(voters_finish_a_configuration_whose_proposer_crashed),
		T(lease_on_the_new_epoch_cancels_the_completion),
		T(restarted_voter_resumes_its_epoch_and_waits_out_a_lease),
		T(bad_input_is_refused_with_clear_errors),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
