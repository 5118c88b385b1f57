/*
 * tests/test_replace.c: a replica whose drive failed is replaced by a
 * spare (core/toma.h: mesh_toma_drive_failed, REPLACE, spares joining),
 * driven through the topology manager's public API only.
 *
 * The deterministic world of tests/toma_world.h. Replicas A and B and the
 * witness W vote in one 2-copy group; S votes in nothing until it is
 * picked as a spare. Every
 * node's pick_spare answers the world's spare (S, drive SPARE_DRIVE, at
 * SPARE_OFFSET, unless a test says otherwise), and its on_config records
 * what it took and checks that the node's epoch never goes back. CLIENT
 * is the test: it sends lease requests and raw Paxos messages and finds
 * the answers in its inbox.
 *
 * The last tests are regressions for bugs they found (see "bugs found"
 * above main()).
 *
 * MESH_TEST_LOG=1 prints every log line with its time and node.
 */
#define LEASE_NS (100 * MS)
#define ROUND_NS (20 * MS)
#define GROUP 7
#define GROUP_BYTES (1ull << 20)
#define NODE_A 1                   /* replica, head of the chain */
#define NODE_B 2                   /* replica */
#define NODE_W 3                   /* witness */
#define NODE_S 4                   /* spare: no group at first */
#define NODES 5                    /* slot 0 unused: ids are indices */
#define SPARE_DRIVE 3
#define SPARE_OFFSET (40ull << 20)
#define CLIENT_BALLOT (1ull << 40) /* above any ballot the nodes reach here */
#define META_MAX 4                 /* S: the joined list and the group */
#define META_BYTES 4096            /* the joined list is about 2 KiB */
#define SEED 0x7265706cull

#include "tests/toma_world.h"

/* ---- the manager's callbacks ---- */

/* Checked on every configuration a node takes: it is one a voter may
 * hold (never a spare's placeholder), and the node's epoch never goes
 * back (a committed epoch is never undone; a restart reports its own). */
static void on_config(void *arg, const struct mesh_group_config *c)
{
	struct fake_node *n = arg;

	assert_int_equal(mesh_group_check(c, NULL), 0);
	assert_true(n->seen_count < SEEN_MAX);
	if (n->seen_count)
		assert_true(c->epoch >= n->seen[n->seen_count - 1].epoch);
	n->seen[n->seen_count++] = *c;
}

/* The world's spare, asked only for this node's own stale replica. */
static int pick_spare(void *arg, const struct mesh_group_config *c, unsigned member,
		      struct mesh_group_member *spare)
{
	struct fake_node *n = arg;

	n->picks++;
	assert_true(member < c->member_count);
	assert_int_equal(c->members[member].node, n->env.self);
	assert_int_equal(c->members[member].state, MESH_MEMBER_STALE);
	if (n->w->spare_rc)
		return n->w->spare_rc;
	*spare = n->w->spare;
	return 0;
}

/* ---- driving the world ---- */

/* ---- the test client ---- */

/* The status of a lease asked of @dst under @epoch; *@out the grant. */
static int lease_status(struct world *w, uint32_t dst, uint64_t epoch, struct mesh_msg *out)
{
	const struct mesh_msg *g;

	ask_lease(w, dst, epoch);
	g = answer_from(w, dst, MESH_MSG_LEASE_GRANT);
	if (out)
		*out = *g;
	return g->u.lease_grant.status;
}

/* ---- the world ---- */

static int world_make(void **state, bool picker)
{
	struct world *w = world_new();

	if (!w)
		return -1;
	w->cfg = (struct mesh_toma_config){
		.lease_ns = LEASE_NS, .drift_ppm = 0, .round_timeout_ns = ROUND_NS,
		.on_config = on_config, .pick_spare = picker ? pick_spare : NULL,
	};
	w->spare = (struct mesh_group_member){
		.node = NODE_S, .drive = SPARE_DRIVE, .role = MESH_MEMBER_REPLICA,
		.state = MESH_MEMBER_REBUILDING, .offset = SPARE_OFFSET,
	};
	w->initial = mirror2(GROUP_BYTES);
	for (uint32_t id = 1; id < NODES; id++)
		node_start(w, id);
	*state = w;
	return 0;
}

static int world_setup(void **state)
{
	return world_make(state, true);
}

static int world_setup_no_picker(void **state)
{
	return world_make(state, false);
}


/* @c is epoch 2 of mirror2 with A stale. */
static void assert_a_stale_at_epoch_2(const struct mesh_group_config *c)
{
	struct mesh_group_config want = mirror2(GROUP_BYTES);

	want.epoch = 2;
	want.members[0].state = MESH_MEMBER_STALE;
	assert_memory_equal(c, &want, sizeof(want));
}

/* @c is epoch 3: S rebuilding at the head in A's place, B and W kept. */
static void assert_a_replaced_by_s(const struct mesh_group_config *c)
{
	struct mesh_group_config want = mirror2(GROUP_BYTES);

	want.epoch = 3;
	want.members[0] = (struct mesh_group_member){ NODE_S, SPARE_DRIVE, MESH_MEMBER_REPLICA,
						      MESH_MEMBER_REBUILDING, SPARE_OFFSET };
	assert_memory_equal(c, &want, sizeof(want));
}

/* A's drive fails; run until B holds the replacement and it is quiet.
 * Returns how long the replacement took. */
static uint64_t replace_a(struct world *w)
{
	uint64_t t0 = w->now_ns, at;

	mesh_toma_drive_failed(toma(w, NODE_A), GROUP);
	at = run_until_epoch(w, NODE_B, 3, t0 + 3 * ROUND_NS);
	assert_true(at != NEVER);
	run_until(w, at + 10 * ROUND_NS);
	assert_a_replaced_by_s(config_of(w, NODE_B));
	return at - t0;
}

/* ---- the tests ---- */

static void drive_failure_replaces_the_replica_with_a_spare(void **state)
{
	struct world *w = *state;
	struct fake_node *a = node(w, NODE_A), *s = node(w, NODE_S);
	uint64_t current = 0;

	assert_null(mesh_toma_config_of(toma(w, NODE_S), GROUP));
	/* A knows its replica is gone: it does not wait a round for the
	 * first live member (B, once A is stale) to act. */
	assert_true(replace_a(w) < ROUND_NS);

	/* Every voter, old and new, holds the same configuration. */
	for (uint32_t id = 1; id < NODES; id++)
		assert_a_replaced_by_s(config_of(w, id));
	assert_int_equal(mesh_toma_group_count(toma(w, NODE_S)), 1);

	/* Two steps, each seen by the proposer: stale, then replaced. */
	assert_int_equal(a->seen_count, 2);
	assert_a_stale_at_epoch_2(&a->seen[0]);
	assert_a_replaced_by_s(&a->seen[1]);
	assert_int_equal(a->picks, 1);
	/* The spare was told of one configuration only, the one naming it. */
	assert_int_equal(s->seen_count, 1);
	assert_a_replaced_by_s(&s->seen[0]);

	/* The spare rebuilds from the epoch that made it a replica; it is
	 * new, so nobody takes it for a replica coming back. */
	assert_int_equal(mesh_toma_rebuild_epoch(toma(w, NODE_S), GROUP), 3);
	for (uint32_t id = 1; id < NODES; id++)
		assert_false(mesh_toma_member_returning(toma(w, id), GROUP, NODE_S));

	/* It takes writes of epoch 3, not reads. */
	assert_int_equal(mesh_toma_io_check(toma(w, NODE_S), GROUP, 3, MESH_MSG_IO_WRITE,
					    &current, NULL), 0);
	assert_int_equal(mesh_toma_io_check(toma(w, NODE_S), GROUP, 3, MESH_MSG_IO_READ,
					    &current, NULL), -ESTALE);
	assert_int_equal(current, 3);

	assert_int_equal(stats_of(w, NODE_A).replacements, 1);
	assert_int_equal(stats_of(w, NODE_A).commits, 2);
	for (uint32_t id = NODE_B; id < NODES; id++)
		assert_int_equal(stats_of(w, id).replacements, 0);

	/* Then all is quiet. */
	run_until(w, w->now_ns + 20 * ROUND_NS);
	assert_a_replaced_by_s(config_of(w, NODE_B));
	for (uint32_t id = 1; id < NODES; id++)
		assert_true(timers_idle(w, id));
	assert_int_equal(a->picks, 1);
}

static void replica_on_a_lost_drive_serves_nothing(void **state)
{
	struct world *w = *state;
	uint64_t current = 0;

	/* No spare yet: A stays a stale member with its drive lost. */
	w->spare_rc = -ENOSPC;
	mesh_toma_drive_failed(toma(w, NODE_A), GROUP);
	/* At once, before any round: epoch 1, where A is still active. */
	assert_int_equal(epoch_of(w, NODE_A), 1);
	assert_int_equal(lease_status(w, NODE_A, 1, NULL), -EBUSY);
	assert_int_equal(mesh_toma_io_check(toma(w, NODE_A), GROUP, 1, MESH_MSG_IO_WRITE,
					    &current, NULL), -ESTALE);
	assert_int_equal(current, 1);
	assert_int_equal(mesh_toma_io_check(toma(w, NODE_A), GROUP, 1, MESH_MSG_IO_READ,
					    &current, NULL), -ESTALE);
	assert_int_equal(stats_of(w, NODE_A).leases_refused, 1);
	assert_int_equal(stats_of(w, NODE_A).leases_granted, 0);

	/* Marked stale; still a member, still refusing. */
	assert_true(run_until_epoch(w, NODE_B, 2, 3 * ROUND_NS) != NEVER);
	run_until(w, w->now_ns + 5 * ROUND_NS);
	assert_a_stale_at_epoch_2(config_of(w, NODE_A));
	assert_a_stale_at_epoch_2(config_of(w, NODE_B));
	assert_int_equal(lease_status(w, NODE_A, 2, NULL), -EBUSY);
	assert_null(mesh_toma_config_of(toma(w, NODE_S), GROUP));
	assert_int_equal(stats_of(w, NODE_A).replacements, 0);
}

static void replica_waits_for_a_spare_and_then_is_replaced(void **state)
{
	struct world *w = *state;
	struct fake_node *a = node(w, NODE_A);
	unsigned picks;

	w->spare_rc = -ENOSPC;
	mesh_toma_drive_failed(toma(w, NODE_A), GROUP);
	run_until(w, 10 * ROUND_NS);
	assert_a_stale_at_epoch_2(config_of(w, NODE_B));
	assert_null(mesh_toma_config_of(toma(w, NODE_S), GROUP));
	/* It keeps asking. */
	picks = a->picks;
	assert_true(picks >= 2);

	w->spare_rc = 0;
	assert_true(run_until_epoch(w, NODE_B, 3, w->now_ns + 3 * ROUND_NS) != NEVER);
	assert_a_replaced_by_s(config_of(w, NODE_B));
	assert_int_equal(a->picks, picks + 1);
	assert_int_equal(stats_of(w, NODE_A).replacements, 1);
}

/*
 * The usual case: clients hold leases on every voter, so each voter
 * defers the epoch that makes A stale until the lease it granted runs
 * out. A granted its last lease @late_ns after B and W did, so they
 * accept first and commit that epoch before A's own vote is in. A must
 * still learn it and go on to the replacement.
 */
static void replace_after_a_late_lease(struct world *w, uint64_t late_ns)
{
	uint64_t t0 = w->now_ns;

	assert_int_equal(lease_status(w, NODE_B, 1, NULL), 0);
	assert_int_equal(lease_status(w, NODE_W, 1, NULL), 0);
	run_until(w, t0 + late_ns);
	assert_int_equal(lease_status(w, NODE_A, 1, NULL), 0);
	mesh_toma_drive_failed(toma(w, NODE_A), GROUP);
	assert_true(run_until_epoch(w, NODE_B, 2, t0 + LEASE_NS + 2 * ROUND_NS) != NEVER);
	assert_true(w->now_ns >= t0 + LEASE_NS);
	assert_true(run_until_epoch(w, NODE_B, 3, t0 + late_ns + LEASE_NS + 5 * ROUND_NS) != NEVER);
	assert_a_replaced_by_s(config_of(w, NODE_B));
	assert_a_replaced_by_s(config_of(w, NODE_A));
	assert_int_equal(stats_of(w, NODE_A).replacements, 1);
}

/* B's completion of epoch 2 comes after A's lease: it brings A along. */
static void replica_whose_lease_ends_a_little_last_is_replaced(void **state)
{
	replace_after_a_late_lease(*state, 10 * MS);
}

static void drive_failure_of_a_witness_or_a_stranger_changes_nothing(void **state)
{
	struct world *w = *state;

	assert_false(mesh_toma_drive_failed(toma(w, NODE_W), GROUP));
	assert_false(mesh_toma_drive_failed(toma(w, NODE_S), GROUP));
	assert_false(mesh_toma_drive_failed(toma(w, NODE_A), GROUP + 1));
	run_until(w, 10 * ROUND_NS);
	for (uint32_t id = 1; id < NODE_S; id++) {
		assert_int_equal(epoch_of(w, id), 1);
		assert_int_equal(lease_status(w, id, 1, NULL), 0);
		assert_int_equal(stats_of(w, id).proposals, 0);
		assert_true(timers_idle(w, id));
	}
	assert_null(mesh_toma_config_of(toma(w, NODE_S), GROUP));
	assert_int_equal(node(w, NODE_W)->picks, 0);
}

static void replaced_replica_refuses_leases_and_members_grant_the_new_one(void **state)
{
	struct world *w = *state;
	struct mesh_msg g;
	uint64_t current = 0, proposals;

	replace_a(w);
	assert_int_equal(lease_status(w, NODE_A, 3, &g), -ENOENT);
	assert_int_equal(g.hdr.epoch, 3); /* the client learns it is behind */
	assert_int_equal(mesh_toma_io_check(toma(w, NODE_A), GROUP, 3, MESH_MSG_IO_WRITE,
					    &current, NULL), -ESTALE);
	assert_int_equal(current, 3);

	for (uint32_t id = NODE_B; id < NODES; id++) {
		assert_int_equal(lease_status(w, id, 3, &g), 0);
		assert_int_equal(g.u.lease_grant.lease_ns, LEASE_NS);
		assert_a_replaced_by_s(&g.u.lease_grant.config);
	}
	/* A client still on epoch 1 hears of epoch 3 from the new voters. */
	assert_int_equal(lease_status(w, NODE_S, 1, &g), 0);
	assert_a_replaced_by_s(&g.u.lease_grant.config);
	assert_int_equal(stats_of(w, NODE_A).leases_granted, 0);

	/* A client behind, or a peer ahead, does not set A proposing in a
	 * group that is no longer its business. */
	proposals = stats_of(w, NODE_A).proposals;
	assert_int_equal(mesh_toma_io_check(toma(w, NODE_A), GROUP, 1, MESH_MSG_IO_WRITE,
					    &current, NULL), -ESTALE);
	mesh_toma_catch_up(toma(w, NODE_A), GROUP);
	run_until(w, w->now_ns + 10 * ROUND_NS);
	assert_int_equal(stats_of(w, NODE_A).proposals, proposals);
	assert_true(timers_idle(w, NODE_A));
}

static void spare_votes_again_after_a_restart(void **state)
{
	struct world *w = *state;
	struct mesh_group_config before;
	const struct mesh_msg *r;
	uint64_t restart_ns;

	replace_a(w);
	before = *config_of(w, NODE_S);

	/* S was placed in nothing: only the list of joined groups brings
	 * the group back, once. */
	node_stop(w, NODE_S);
	restart_ns = w->now_ns;
	node_create(w, NODE_S);
	assert_null(mesh_toma_config_of(toma(w, NODE_S), GROUP));
	assert_int_equal(mesh_toma_resume_joined(toma(w, NODE_S)), 0);
	assert_memory_equal(config_of(w, NODE_S), &before, sizeof(before));
	assert_int_equal(mesh_toma_resume_joined(toma(w, NODE_S)), 0);
	assert_int_equal(mesh_toma_group_count(toma(w, NODE_S)), 1);
	assert_memory_equal(&node(w, NODE_S)->seen[node(w, NODE_S)->seen_count - 1], &before,
			    sizeof(before));

	/* It votes: it answers a read with what it accepted before. */
	send_prepare(w, NODE_S, 0);
	r = answer_from(w, NODE_S, MESH_MSG_CONFIG_REPLY);
	assert_int_equal(r->u.config_reply.status, 0);
	assert_memory_equal(&r->u.config_reply.config, &before, sizeof(before));
	assert_true(r->u.config_reply.accepted_ballot > 0);

	/* A restart forgets since when it rebuilds: writes it took before
	 * are not marked, so it proposes itself stale (a new rebuild starts
	 * clean), and B and W go with it. */
	assert_int_equal(mesh_toma_rebuild_epoch(toma(w, NODE_S), GROUP), 0);
	assert_true(run_until_epoch(w, NODE_B, 4, restart_ns + 3 * ROUND_NS) != NEVER);
	assert_int_equal(config_of(w, NODE_B)->members[0].node, NODE_S);
	assert_int_equal(config_of(w, NODE_B)->members[0].state, MESH_MEMBER_STALE);
	assert_true(stats_of(w, NODE_S).commits >= 1);
}

static void without_a_spare_picker_the_replica_is_only_marked_stale(void **state)
{
	struct world *w = *state;

	mesh_toma_drive_failed(toma(w, NODE_A), GROUP);
	assert_true(run_until_epoch(w, NODE_B, 2, 3 * ROUND_NS) != NEVER);
	run_until(w, w->now_ns + 20 * ROUND_NS);
	for (uint32_t id = 1; id < NODE_S; id++)
		assert_a_stale_at_epoch_2(config_of(w, id));
	assert_null(mesh_toma_config_of(toma(w, NODE_S), GROUP));
	assert_int_equal(node(w, NODE_A)->picks, 0);
	assert_int_equal(stats_of(w, NODE_A).replacements, 0);
	assert_int_equal(stats_of(w, NODE_A).commits, 1);
	assert_int_equal(lease_status(w, NODE_A, 2, NULL), -EBUSY);
	for (uint32_t id = 1; id < NODES; id++)
		assert_true(timers_idle(w, id));
}

/* S answers @c proposed by the client with @status, and joins nothing. */
static void assert_join_refused(struct world *w, const struct mesh_group_config *c, int status)
{
	const struct mesh_msg *r;

	send_propose(w, NODE_S, CLIENT_BALLOT, c);
	r = answer_from(w, NODE_S, MESH_MSG_CONFIG_ACCEPT);
	assert_int_equal(r->u.config_accept.status, status);
	assert_null(mesh_toma_config_of(toma(w, NODE_S), GROUP));
	assert_int_equal(mesh_toma_group_count(toma(w, NODE_S)), 0);
	assert_int_equal(node(w, NODE_S)->seen_count, 0);
}

static void spare_joins_only_a_valid_configuration_naming_it(void **state)
{
	struct world *w = *state;
	struct mesh_group_config c = mirror2(GROUP_BYTES), named;
	const struct mesh_msg *r;

	/* Not named. */
	c.epoch = 2;
	c.members[0].state = MESH_MEMBER_STALE;
	assert_join_refused(w, &c, -ENOENT);

	/* Named, but no configuration a voter may hold. */
	named = c;
	named.epoch = 3;
	named.members[0] = w->spare;
	c = named;
	c.members[1].state = MESH_MEMBER_STALE; /* no active replica */
	assert_join_refused(w, &c, -ENOENT);
	c = named;
	c.members[2].state = MESH_MEMBER_STALE; /* a stale witness */
	assert_join_refused(w, &c, -ENOENT);
	c = named;
	c.members[1].node = NODE_S; /* S twice */
	assert_join_refused(w, &c, -ENOENT);
	c = named;
	c.epoch = 1; /* no epoch before it to have been replaced in */
	assert_join_refused(w, &c, -ENOENT);

	/* Nothing was kept for a restart to find either. */
	node_stop(w, NODE_S);
	node_start(w, NODE_S);
	assert_null(mesh_toma_config_of(toma(w, NODE_S), GROUP));

	/* The valid one is accepted, and S then votes. */
	send_propose(w, NODE_S, CLIENT_BALLOT, &named);
	r = answer_from(w, NODE_S, MESH_MSG_CONFIG_ACCEPT);
	assert_int_equal(r->u.config_accept.status, 0);
	assert_int_equal(r->u.config_accept.epoch, 3);
	assert_memory_equal(config_of(w, NODE_S), &named, sizeof(named));
	assert_int_equal(node(w, NODE_S)->seen_count, 1);
}

static void spare_that_cannot_store_the_group_leaves_no_trace(void **state)
{
	struct world *w = *state;
	struct fake_node *s = node(w, NODE_S);
	struct mesh_group_config c = mirror2(GROUP_BYTES);
	const struct mesh_msg *r;
	uint64_t junk = 1;

	/* Room for the joined list, none for the group's own record. */
	for (uint64_t key = 1000; key < 1000 + META_MAX - 1; key++)
		assert_int_equal(fake_meta_put(s, key, &junk, sizeof(junk)), 0);
	c.epoch = 3;
	c.members[0] = w->spare;
	send_propose(w, NODE_S, CLIENT_BALLOT, &c);
	r = answer_from(w, NODE_S, MESH_MSG_CONFIG_ACCEPT);
	assert_int_not_equal(r->u.config_accept.status, 0);
	assert_null(mesh_toma_config_of(toma(w, NODE_S), GROUP));
	assert_int_equal(mesh_toma_group_count(toma(w, NODE_S)), 0);
	assert_int_equal(s->seen_count, 0);

	/* A restart does not bring back what was never stored. */
	node_stop(w, NODE_S);
	node_start(w, NODE_S);
	assert_null(mesh_toma_config_of(toma(w, NODE_S), GROUP));
	assert_int_equal(mesh_toma_group_count(toma(w, NODE_S)), 0);

	/* With room, the same proposal joins. */
	for (uint64_t key = 1000; key < 1000 + META_MAX - 1; key++)
		meta_store_find(s->meta, key)->used = false;
	send_propose(w, NODE_S, CLIENT_BALLOT, &c);
	r = answer_from(w, NODE_S, MESH_MSG_CONFIG_ACCEPT);
	assert_int_equal(r->u.config_accept.status, 0);
	assert_memory_equal(config_of(w, NODE_S), &c, sizeof(c));
}

static void voter_that_missed_the_replacement_learns_it_from_the_new_voters(void **state)
{
	struct world *w = *state;
	uint64_t t0;

	/* W never hears A's proposals: both epochs commit without it. */
	w->drop[NODE_A][NODE_W] = MESH_MSG_CONFIG_PROPOSE;
	mesh_toma_drive_failed(toma(w, NODE_A), GROUP);
	assert_true(run_until_epoch(w, NODE_B, 3, 3 * ROUND_NS) != NEVER);
	settle(w);
	assert_a_replaced_by_s(config_of(w, NODE_S));
	/* Clients on epoch 3 tell B and S it committed, so they do not
	 * finish it themselves. */
	assert_int_equal(lease_status(w, NODE_B, 3, NULL), 0);
	assert_int_equal(lease_status(w, NODE_S, 3, NULL), 0);
	run_until(w, w->now_ns + 10 * ROUND_NS);
	assert_int_equal(epoch_of(w, NODE_W), 1);

	/* W asks its own voters (A, B, W); B does not answer, A shows it
	 * epoch 3, whose voters it must then ask: S. */
	w->drop[NODE_A][NODE_W] = 0;
	w->cut[NODE_W][NODE_B] = w->cut[NODE_B][NODE_W] = true;
	t0 = w->now_ns;
	mesh_toma_catch_up(toma(w, NODE_W), GROUP);
	assert_true(run_until_epoch(w, NODE_W, 3, t0 + 3 * ROUND_NS) != NEVER);
	assert_a_replaced_by_s(config_of(w, NODE_W));
	assert_false(mesh_toma_member_returning(toma(w, NODE_W), GROUP, NODE_S));
	assert_a_replaced_by_s(config_of(w, NODE_B));
}

/*
 * W misses the replacement and the epoch after it (S stale), which B and S
 * hold. Asking its own voters, W hears from A only, whose newest is epoch
 * 3: that is not yet a majority of epoch 3's voters, so it must ask S,
 * and so find epoch 4 rather than finish epoch 3 over it.
 */
static void voter_that_missed_two_epochs_learns_the_newest(void **state)
{
	struct world *w = *state;
	const struct mesh_group_config *c;
	uint64_t t0;

	for (uint32_t id = 1; id < NODES; id++)
		w->drop[id][NODE_W] = MESH_MSG_CONFIG_PROPOSE;
	mesh_toma_drive_failed(toma(w, NODE_A), GROUP);
	assert_true(run_until_epoch(w, NODE_B, 3, 3 * ROUND_NS) != NEVER);
	mesh_toma_on_peer_change(toma(w, NODE_B), NODE_S, false);
	assert_true(run_until_epoch(w, NODE_S, 4, w->now_ns + 3 * ROUND_NS) != NEVER);
	run_until(w, w->now_ns + 10 * ROUND_NS);
	c = config_of(w, NODE_B);
	assert_int_equal(c->epoch, 4);
	assert_int_equal(c->members[0].node, NODE_S);
	assert_int_equal(c->members[0].state, MESH_MEMBER_STALE);
	assert_memory_equal(config_of(w, NODE_S), c, sizeof(*c));
	assert_a_replaced_by_s(config_of(w, NODE_A));
	assert_int_equal(epoch_of(w, NODE_W), 1);

	for (uint32_t id = 1; id < NODES; id++)
		w->drop[id][NODE_W] = 0;
	w->cut[NODE_W][NODE_B] = w->cut[NODE_B][NODE_W] = true;
	t0 = w->now_ns;
	mesh_toma_catch_up(toma(w, NODE_W), GROUP);
	assert_true(run_until_epoch(w, NODE_W, 3, t0 + 3 * ROUND_NS) != NEVER);
	run_until(w, w->now_ns + 3 * ROUND_NS);
	assert_memory_equal(config_of(w, NODE_W), c, sizeof(*c));
	assert_memory_equal(config_of(w, NODE_S), c, sizeof(*c));
	assert_memory_equal(config_of(w, NODE_B), c, sizeof(*c));
}

/* B's heartbeat loses @who, then hears it again: @who goes stale, then
 * rebuilding (epochs @epoch and @epoch + 1). */
static void flap(struct world *w, uint32_t who, uint64_t epoch)
{
	uint64_t t0 = w->now_ns;
	const struct mesh_group_config *c;

	mesh_toma_on_peer_change(toma(w, NODE_B), who, false);
	assert_true(run_until_epoch(w, NODE_W, epoch, t0 + 3 * ROUND_NS) != NEVER);
	c = config_of(w, NODE_B);
	assert_int_equal(c->members[mesh_group_member_of(c, who)].state, MESH_MEMBER_STALE);
	t0 = w->now_ns;
	mesh_toma_on_peer_change(toma(w, NODE_B), who, true);
	assert_true(run_until_epoch(w, NODE_W, epoch + 1, t0 + 4 * ROUND_NS) != NEVER);
	settle(w);
	c = config_of(w, NODE_B);
	assert_int_equal(c->epoch, epoch + 1);
	assert_int_equal(c->members[0].node, who);
	assert_int_equal(c->members[0].state, MESH_MEMBER_REBUILDING);
	assert_memory_equal(config_of(w, NODE_W), c, sizeof(*c));
}

static void replica_that_was_active_is_returning_when_it_rebuilds(void **state)
{
	struct world *w = *state;

	flap(w, NODE_A, 2);
	assert_true(mesh_toma_member_returning(toma(w, NODE_B), GROUP, NODE_A));
	assert_true(mesh_toma_member_returning(toma(w, NODE_W), GROUP, NODE_A));
	assert_false(mesh_toma_member_returning(toma(w, NODE_B), GROUP, NODE_B));

	/* Lost again in the middle of catching up, it still lacks only
	 * what its peers marked dirty: still returning. */
	flap(w, NODE_A, 4);
	assert_true(mesh_toma_member_returning(toma(w, NODE_B), GROUP, NODE_A));
	assert_true(mesh_toma_member_returning(toma(w, NODE_W), GROUP, NODE_A));
}

static void spare_that_went_stale_mid_copy_is_not_returning(void **state)
{
	struct world *w = *state;

	replace_a(w);
	/* S goes stale in the middle of its whole-segment copy and comes
	 * back: it lacks more than the dirty regions, so it is no
	 * returning replica. */
	flap(w, NODE_S, 4);
	assert_false(mesh_toma_member_returning(toma(w, NODE_B), GROUP, NODE_S));
	assert_false(mesh_toma_member_returning(toma(w, NODE_W), GROUP, NODE_S));
	assert_false(mesh_toma_member_returning(toma(w, NODE_S), GROUP, NODE_S));
	assert_int_equal(mesh_toma_rebuild_epoch(toma(w, NODE_S), GROUP), 5);

	/* And it stays so for as many times as it is lost. */
	flap(w, NODE_S, 6);
	assert_false(mesh_toma_member_returning(toma(w, NODE_B), GROUP, NODE_S));
	assert_false(mesh_toma_member_returning(toma(w, NODE_W), GROUP, NODE_S));
}

/* The last active copy (S still rebuilding after A's replacement): a
 * failure of B's drive takes nothing out, since nothing could take over;
 * its errors go back to the client as a disk's would, and B goes on
 * serving under the same epoch. */
static void last_active_replica_is_not_taken_out(void **state)
{
	struct world *w = *state;
	uint64_t current = 0;

	replace_a(w);
	assert_int_equal(epoch_of(w, NODE_B), 3);
	assert_false(mesh_toma_drive_failed(toma(w, NODE_B), GROUP));
	run_until(w, w->now_ns + 10 * ROUND_NS);
	assert_int_equal(epoch_of(w, NODE_B), 3);
	assert_int_equal(mesh_toma_io_check(toma(w, NODE_B), GROUP, 3, MESH_MSG_IO_READ, &current, NULL),
			 0);
}

/* ---- bugs found by these tests, now fixed in core/toma.c ----
 *
 * 1. A proposer whose change is dropped because the newest configuration
 *    already holds it (accept_start: "change dropped") did not take that
 *    configuration; it proposed the same change again on every tick, and
 *    each prepare leaves the voters a fresh promise, so they refuse client
 *    leases (change_pending) for as long as it goes on. Reached when A's
 *    own vote for "A stale" came last or not at all, and by a restarted
 *    spare (three tests below).
 * 2. The spare is picked only once the prepare has promised: each retry
 *    while none can be had leaves the voters a fresh promise, with the
 *    same effect on leases.
 * 3. drive_lost outlived the replica it was about.
 *
 * Fixes: a dropped change whose newest configuration is ahead of the
 * node's becomes a completing round of it; the spare is picked before the
 * prepare; drive_lost ends when the node holds no replica at that place.
 */

/* A's lease outlasts B's and W's completions too. */
static void replica_whose_lease_ends_well_after_the_others_is_replaced(void **state)
{
	replace_after_a_late_lease(*state, 4 * ROUND_NS);
}

/*
 * While no spare can be had (placement cannot be asked, or the pool is
 * full), the group runs degraded on B: B must go on granting leases, or
 * clients lose the group whose last good replica is well.
 */
static void survivor_grants_leases_while_no_spare_is_found(void **state)
{
	struct world *w = *state;
	struct mesh_msg g;

	w->spare_rc = -EAGAIN;
	mesh_toma_drive_failed(toma(w, NODE_A), GROUP);
	assert_true(run_until_epoch(w, NODE_B, 2, 3 * ROUND_NS) != NEVER);
	run_until(w, w->now_ns + 3 * LEASE_NS);
	assert_a_stale_at_epoch_2(config_of(w, NODE_B));
	assert_true(node(w, NODE_A)->picks >= 2);
	for (uint32_t id = NODE_B; id <= NODE_W; id++) {
		assert_int_equal(lease_status(w, id, 2, &g), 0);
		assert_a_stale_at_epoch_2(&g.u.lease_grant.config);
	}
}

/*
 * A's drive fails while it still holds epoch 1, though B and W already
 * made it stale (A missed that epoch). Its own MARK_STALE is then
 * already done; it must go on to the replacement.
 */
static void replica_that_missed_its_stale_epoch_is_still_replaced(void **state)
{
	struct world *w = *state;
	uint64_t t0;

	w->drop[NODE_B][NODE_A] = w->drop[NODE_W][NODE_A] = MESH_MSG_CONFIG_PROPOSE;
	mesh_toma_on_peer_change(toma(w, NODE_B), NODE_A, false);
	assert_true(run_until_epoch(w, NODE_W, 2, 3 * ROUND_NS) != NEVER);
	run_until(w, w->now_ns + 10 * ROUND_NS);
	assert_a_stale_at_epoch_2(config_of(w, NODE_B));
	assert_int_equal(epoch_of(w, NODE_A), 1);

	w->drop[NODE_B][NODE_A] = w->drop[NODE_W][NODE_A] = 0;
	t0 = w->now_ns;
	mesh_toma_drive_failed(toma(w, NODE_A), GROUP);
	assert_true(run_until_epoch(w, NODE_B, 3, t0 + 5 * ROUND_NS) != NEVER);
	assert_a_replaced_by_s(config_of(w, NODE_B));
	assert_int_equal(stats_of(w, NODE_A).replacements, 1);
}

/*
 * The restarted spare's own vote for the epoch that makes it stale waits
 * out the leases it may have granted, so B and W commit that epoch
 * without it. Once its wait is over it must hold that epoch too, go
 * quiet, and leave B and W free to grant leases.
 */
static void restarted_spare_learns_the_epoch_that_made_it_stale(void **state)
{
	struct world *w = *state;
	struct mesh_msg g;
	uint64_t restart_ns, proposals;

	replace_a(w);
	node_stop(w, NODE_S);
	restart_ns = w->now_ns;
	node_start(w, NODE_S);
	assert_true(run_until_epoch(w, NODE_B, 4, restart_ns + 3 * ROUND_NS) != NEVER);
	run_until(w, restart_ns + LEASE_NS + 5 * ROUND_NS);
	assert_int_equal(epoch_of(w, NODE_B), 4);
	assert_int_equal(epoch_of(w, NODE_S), 4);
	assert_memory_equal(config_of(w, NODE_S), config_of(w, NODE_B),
			    sizeof(struct mesh_group_config));
	proposals = stats_of(w, NODE_S).proposals;
	run_until(w, w->now_ns + 3 * LEASE_NS);
	assert_int_equal(stats_of(w, NODE_S).proposals, proposals);
	assert_int_equal(lease_status(w, NODE_B, 4, &g), 0);
	assert_int_equal(g.u.lease_grant.config.epoch, 4);
}

/*
 * A node whose replica was replaced may later be picked as a spare for
 * the same group on another drive (placement only avoids targets that
 * hold a member, and its failed drive). Its new replica is on a good
 * drive: it must serve it.
 */
static void replaced_node_picked_again_as_spare_serves_its_new_replica(void **state)
{
	struct world *w = *state;
	const struct mesh_group_config *c;
	uint64_t current = 0;

	replace_a(w);
	/* S's copy is done; then B's drive fails, and A, on drive 1, is
	 * the spare. */
	assert_int_equal(mesh_toma_request(toma(w, NODE_S), GROUP, MESH_GROUP_MARK_ACTIVE, NODE_S,
					   3), 0);
	assert_true(run_until_epoch(w, NODE_W, 4, w->now_ns + 3 * ROUND_NS) != NEVER);
	assert_int_equal(config_of(w, NODE_W)->members[0].state, MESH_MEMBER_ACTIVE);
	w->spare = (struct mesh_group_member){
		.node = NODE_A, .drive = 1, .role = MESH_MEMBER_REPLICA,
		.state = MESH_MEMBER_REBUILDING, .offset = 0,
	};
	mesh_toma_drive_failed(toma(w, NODE_B), GROUP);
	assert_true(run_until_epoch(w, NODE_A, 6, w->now_ns + 3 * ROUND_NS) != NEVER);
	settle(w);
	c = config_of(w, NODE_S);
	assert_int_equal(c->epoch, 6);
	assert_int_equal(c->members[0].node, NODE_A);
	assert_int_equal(c->members[0].drive, 1);
	assert_int_equal(c->members[0].state, MESH_MEMBER_REBUILDING);
	assert_memory_equal(config_of(w, NODE_A), c, sizeof(*c));
	assert_int_equal(stats_of(w, NODE_B).replacements, 1);
	assert_int_equal(mesh_toma_rebuild_epoch(toma(w, NODE_A), GROUP), 6);

	/* The failure was of drive 0, which holds nothing of the group now. */
	assert_int_equal(mesh_toma_io_check(toma(w, NODE_A), GROUP, 6, MESH_MSG_IO_WRITE,
					    &current, NULL), 0);
	assert_int_equal(lease_status(w, NODE_A, 6, NULL), 0);
	run_until(w, w->now_ns + 20 * ROUND_NS);
	c = config_of(w, NODE_S);
	assert_int_equal(c->epoch, 6);
	assert_int_equal(c->members[0].node, NODE_A);
	assert_int_equal(c->members[0].state, MESH_MEMBER_REBUILDING);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, world_setup, world_teardown)
	const struct CMUnitTest tests[] = {
		T(drive_failure_replaces_the_replica_with_a_spare),
		T(replica_on_a_lost_drive_serves_nothing),
		T(replica_waits_for_a_spare_and_then_is_replaced),
		T(replaced_replica_refuses_leases_and_members_grant_the_new_one),
		T(replica_whose_lease_ends_a_little_last_is_replaced),
		T(drive_failure_of_a_witness_or_a_stranger_changes_nothing),
		T(spare_votes_again_after_a_restart),
		cmocka_unit_test_setup_teardown(without_a_spare_picker_the_replica_is_only_marked_stale,
						world_setup_no_picker, world_teardown),
		T(spare_joins_only_a_valid_configuration_naming_it),
		T(spare_that_cannot_store_the_group_leaves_no_trace),
		T(voter_that_missed_the_replacement_learns_it_from_the_new_voters),
		T(voter_that_missed_two_epochs_learns_the_newest),
		T(replica_that_was_active_is_returning_when_it_rebuilds),
		T(spare_that_went_stale_mid_copy_is_not_returning),
		T(last_active_replica_is_not_taken_out),
		/* Bugs found (see above main). */
		T(replica_whose_lease_ends_well_after_the_others_is_replaced),
		T(survivor_grants_leases_while_no_spare_is_found),
		T(replica_that_missed_its_stale_epoch_is_still_replaced),
		T(restarted_spare_learns_the_epoch_that_made_it_stale),
		T(replaced_node_picked_again_as_spare_serves_its_new_replica),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
