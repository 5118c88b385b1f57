/*
 * tests/test_evloop.c: the real runtime's event loop (runtime/evloop.h)
 * and metadata store (runtime/metastore.h), on the real clock and file
 * system: timers fire once, in deadline order and never early; moved and
 * cancelled timers do not fire; the table's limit is enforced; watched
 * descriptors call back while ready and not after unwatch, even from
 * inside the same batch; records survive a reopen, replace whole, and
 * bad sizes get their errno.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <cmocka.h>

#include "runtime/evloop.h"
#include "runtime/metastore.h"

#define MS 1000000ull
#define FIRED_MAX 128

struct fired {
	struct mesh_evloop *l;
	uint32_t ids[FIRED_MAX];
	uint64_t at_ns[FIRED_MAX];
	unsigned count;
	uint32_t rearm_id;          /* re-armed once from its own callback */
	uint64_t rearm_delay_ns;
};

static void on_timer(void *arg, uint32_t id)
{
	struct fired *f = arg;

	assert_true(f->count < FIRED_MAX);
	f->ids[f->count] = id;
	f->at_ns[f->count++] = mesh_evloop_now_ns();
	if (id == f->rearm_id && f->rearm_delay_ns) {
		assert_int_equal(mesh_evloop_timer_arm(f->l, id, mesh_evloop_now_ns() +
						       f->rearm_delay_ns), 0);
		f->rearm_delay_ns = 0;
	}
}

static struct mesh_evloop *loop_new(struct fired *f)
{
	memset(f, 0, sizeof(*f));
	assert_int_equal(mesh_evloop_create(on_timer, f, &f->l), 0);
	return f->l;
}

/* Run the loop until @count timers fired or @limit_ns passed. */
static void run_for(struct mesh_evloop *l, struct fired *f, unsigned count, uint64_t limit_ns)
{
	uint64_t end = mesh_evloop_now_ns() + limit_ns;

	while (f->count < count && mesh_evloop_now_ns() < end)
		assert_true(mesh_evloop_run_once(l, 10 * MS) >= 0);
}

/* Timers due together fire earliest first: a loop that wakes late must
 * not reorder them. */
static void late_loop_fires_due_timers_in_deadline_order(void **state)
{
	struct fired f;
	struct mesh_evloop *l = loop_new(&f);
	uint64_t t0 = mesh_evloop_now_ns();

	(void)state;
	/* Armed in table order 0, 1, 2, 3 with deadlines out of order. */
	assert_int_equal(mesh_evloop_timer_arm(l, 30, t0 + 3 * MS), 0);
	assert_int_equal(mesh_evloop_timer_arm(l, 10, t0 + 1 * MS), 0);
	assert_int_equal(mesh_evloop_timer_arm(l, 40, t0 + 4 * MS), 0);
	assert_int_equal(mesh_evloop_timer_arm(l, 20, t0 + 2 * MS), 0);
	while (mesh_evloop_now_ns() < t0 + 6 * MS)
		; /* the loop is late: all four are due by its next turn */
	assert_int_equal(mesh_evloop_run_once(l, 0), 4);
	assert_int_equal(f.ids[0], 10);
	assert_int_equal(f.ids[1], 20);
	assert_int_equal(f.ids[2], 30);
	assert_int_equal(f.ids[3], 40);
	mesh_evloop_destroy(l);
}

static void timers_fire_in_deadline_order_and_never_early(void **state)
{
	struct fired f;
	struct mesh_evloop *l = loop_new(&f);
	uint64_t t0 = mesh_evloop_now_ns();
	uint64_t deadline[3] = { t0 + 30 * MS, t0 + 10 * MS, t0 + 20 * MS };

	(void)state;
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(mesh_evloop_timer_arm(l, 100 + i, deadline[i]), 0);
	run_for(l, &f, 3, 2000 * MS);
	assert_int_equal(f.count, 3);
	assert_int_equal(f.ids[0], 101);
	assert_int_equal(f.ids[1], 102);
	assert_int_equal(f.ids[2], 100);
	for (unsigned i = 0; i < 3; i++)
		assert_true(f.at_ns[i] >= deadline[f.ids[i] - 100]);
	/* Each fired once: nothing more comes. */
	run_for(l, &f, 4, 50 * MS);
	assert_int_equal(f.count, 3);
	mesh_evloop_destroy(l);
}

static void moved_and_cancelled_timers(void **state)
{
	struct fired f;
	struct mesh_evloop *l = loop_new(&f);
	uint64_t t0 = mesh_evloop_now_ns();

	(void)state;
	assert_int_equal(mesh_evloop_timer_arm(l, 1, t0 + 5 * MS), 0);
	assert_int_equal(mesh_evloop_timer_arm(l, 2, t0 + 5 * MS), 0);
	assert_int_equal(mesh_evloop_timer_arm(l, 1, t0 + 40 * MS), 0); /* moved later */
	mesh_evloop_timer_cancel(l, 2);
	mesh_evloop_timer_cancel(l, 77); /* never armed: no-op */
	run_for(l, &f, 1, 2000 * MS);
	assert_int_equal(f.count, 1);
	assert_int_equal(f.ids[0], 1);
	assert_true(f.at_ns[0] >= t0 + 40 * MS);
	run_for(l, &f, 2, 30 * MS);
	assert_int_equal(f.count, 1);
	mesh_evloop_destroy(l);
}

static void a_timer_rearmed_from_its_callback_fires_again(void **state)
{
	struct fired f;
	struct mesh_evloop *l = loop_new(&f);

	(void)state;
	f.rearm_id = 9;
	f.rearm_delay_ns = 5 * MS;
	assert_int_equal(mesh_evloop_timer_arm(l, 9, mesh_evloop_now_ns()), 0);
	run_for(l, &f, 2, 2000 * MS);
	assert_int_equal(f.count, 2);
	assert_true(f.at_ns[1] - f.at_ns[0] >= 5 * MS);
	mesh_evloop_destroy(l);
}

static void timer_table_limit(void **state)
{
	struct fired f;
	struct mesh_evloop *l = loop_new(&f);
	uint64_t later = mesh_evloop_now_ns() + 1000 * MS;

	(void)state;
	for (uint32_t i = 0; i < MESH_EVLOOP_TIMERS_MAX; i++)
		assert_int_equal(mesh_evloop_timer_arm(l, i, later), 0);
	assert_int_equal(mesh_evloop_timer_arm(l, 999, later), -ENOSPC);
	assert_int_equal(mesh_evloop_timer_arm(l, 3, later + 1), 0); /* moving still works */
	mesh_evloop_timer_cancel(l, 5);
	assert_int_equal(mesh_evloop_timer_arm(l, 999, later), 0);
	mesh_evloop_destroy(l);
}

struct reader {
	struct mesh_evloop *l;
	int fd, other_fd;
	unsigned calls;
	uint32_t events;
	int unwatch_other;          /* unwatch other_fd from the callback */
};

static void on_readable(void *arg, uint32_t events)
{
	struct reader *r = arg;
	char c;

	r->calls++;
	r->events |= events;
	assert_int_equal(read(r->fd, &c, 1), 1);
	if (r->unwatch_other)
		mesh_evloop_unwatch(r->l, r->other_fd);
}

static void watched_descriptors_call_back_while_ready(void **state)
{
	struct fired f;
	struct mesh_evloop *l = loop_new(&f);
	int p[2];
	struct reader r = { .l = l };

	(void)state;
	assert_int_equal(pipe(p), 0);
	r.fd = p[0];
	assert_int_equal(mesh_evloop_watch(l, p[0], EPOLLIN, on_readable, &r), 0);
	assert_int_equal(mesh_evloop_watch(l, p[0], EPOLLIN, on_readable, &r), -EEXIST);
	assert_int_equal(mesh_evloop_run_once(l, 0), 0); /* nothing ready */
	assert_int_equal(write(p[1], "ab", 2), 2);
	/* Level-triggered: one byte per call, two calls. */
	assert_int_equal(mesh_evloop_run_once(l, 100 * MS), 1);
	assert_int_equal(mesh_evloop_run_once(l, 100 * MS), 1);
	assert_int_equal(r.calls, 2);
	assert_true(r.events & EPOLLIN);
	assert_int_equal(mesh_evloop_run_once(l, 0), 0);
	mesh_evloop_unwatch(l, p[0]);
	assert_int_equal(write(p[1], "c", 1), 1);
	assert_int_equal(mesh_evloop_run_once(l, 20 * MS), 0);
	assert_int_equal(r.calls, 2);
	assert_int_equal(mesh_evloop_rewatch(l, p[0], EPOLLIN), -ENOENT);
	close(p[0]);
	close(p[1]);
	mesh_evloop_destroy(l);
}

static void unwatched_in_the_same_batch_is_not_called(void **state)
{
	struct fired f;
	struct mesh_evloop *l = loop_new(&f);
	int a[2], b[2];
	struct reader ra = { .l = l }, rb = { .l = l };

	(void)state;
	assert_int_equal(pipe(a), 0);
	assert_int_equal(pipe(b), 0);
	ra.fd = a[0], ra.other_fd = b[0], ra.unwatch_other = 1;
	rb.fd = b[0], rb.other_fd = a[0], rb.unwatch_other = 1;
	assert_int_equal(mesh_evloop_watch(l, a[0], EPOLLIN, on_readable, &ra), 0);
	assert_int_equal(mesh_evloop_watch(l, b[0], EPOLLIN, on_readable, &rb), 0);
	assert_int_equal(write(a[1], "x", 1), 1);
	assert_int_equal(write(b[1], "y", 1), 1);
	/* Both are ready in one epoll batch; whichever runs first unwatches
	 * the other, which must then not be called. */
	assert_int_equal(mesh_evloop_run_once(l, 100 * MS), 1);
	assert_int_equal(ra.calls + rb.calls, 1);
	for (int i = 0; i < 2; i++) {
		close(a[i]);
		close(b[i]);
	}
	mesh_evloop_destroy(l);
}

/* ---- the metadata store ---- */

static char *temp_dir(void)
{
	char tmpl[] = "/tmp/mesh-metastore-XXXXXX";
	char *dir = mkdtemp(tmpl);

	assert_non_null(dir);
	return strdup(dir);
}

static void remove_dir(const char *dir)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void records_survive_a_reopen_and_replace_whole(void **state)
{
	char *dir = temp_dir();
	struct mesh_metastore *m;
	char buf[64];

	(void)state;
	assert_int_equal(mesh_metastore_open(dir, &m), 0);
	assert_int_equal(mesh_metastore_get(m, 7, buf, sizeof(buf)), -ENOENT);
	assert_int_equal(mesh_metastore_put(m, 7, "first record", 12), 0);
	assert_int_equal(mesh_metastore_put(m, 8, "other", 5), 0);
	assert_int_equal(mesh_metastore_put(m, 7, "second", 6), 0);
	mesh_metastore_close(m);

	assert_int_equal(mesh_metastore_open(dir, &m), 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(mesh_metastore_get(m, 7, buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "second", 6);
	assert_int_equal(mesh_metastore_get(m, 8, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "other", 5);
	assert_int_equal(mesh_metastore_get(m, 8, buf, 4), -ENOSPC);
	assert_int_equal(mesh_metastore_put(m, 9, "", 0), 0);
	assert_int_equal(mesh_metastore_get(m, 9, buf, sizeof(buf)), 0);
	assert_int_equal(mesh_metastore_put(m, 1, buf, MESH_METASTORE_RECORD_MAX + 1), -EMSGSIZE);
	mesh_metastore_close(m);
	remove_dir(dir);
	free(dir);
}

static void a_store_that_cannot_be_made_says_why(void **state)
{
	struct mesh_metastore *m;

	(void)state;
	assert_int_equal(mesh_metastore_open("/proc/mesh-no-such-dir/meta", &m), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(timers_fire_in_deadline_order_and_never_early),
		cmocka_unit_test(late_loop_fires_due_timers_in_deadline_order),
		cmocka_unit_test(moved_and_cancelled_timers),
		cmocka_unit_test(a_timer_rearmed_from_its_callback_fires_again),
		cmocka_unit_test(timer_table_limit),
		cmocka_unit_test(watched_descriptors_call_back_while_ready),
		cmocka_unit_test(unwatched_in_the_same_batch_is_not_called),
		cmocka_unit_test(records_survive_a_reopen_and_replace_whole),
		cmocka_unit_test(a_store_that_cannot_be_made_says_why),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
