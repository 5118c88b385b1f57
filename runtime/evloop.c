/*
 * runtime/evloop.c: epoll plus one timerfd (see evloop.h).
 *
 * Watches live in a table; epoll carries the slot index, and a slot
 * freed while events for it are still in the batch being delivered is
 * recognised by its generation. Timers are a table scanned linearly: the
 * core arms a handful per node. The timerfd is set to the earliest
 * deadline (absolute) whenever that may have changed.
 */
#define _GNU_SOURCE
#include "runtime/evloop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define EVENTS_PER_WAIT 64
#define TIMER_SLOT UINT32_MAX

struct watch {
	bool used;
	int fd;
	uint32_t gen;
	mesh_evloop_fd_cb cb;
	void *arg;
};

struct timer {
	bool armed;
	uint32_t id;
	uint64_t deadline_ns;
};

struct mesh_evloop {
	int epfd, tfd;
	uint64_t tfd_deadline_ns;       /* what the timerfd is set to; MAX = unset */
	mesh_evloop_timer_cb on_timer;
	void *arg;
	struct watch watches[MESH_EVLOOP_WATCHES_MAX];
	struct timer timers[MESH_EVLOOP_TIMERS_MAX];
};

uint64_t mesh_evloop_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int mesh_evloop_create(mesh_evloop_timer_cb on_timer, void *arg, struct mesh_evloop **out)
{
	struct mesh_evloop *l = calloc(1, sizeof(*l));
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TIMER_SLOT };
	int rc;

	if (!l)
		return -ENOMEM;
	l->on_timer = on_timer;
	l->arg = arg;
	l->tfd_deadline_ns = UINT64_MAX;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (l->epfd < 0 || l->tfd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->tfd, &ev)) {
		rc = -errno;
		if (l->epfd >= 0)
			close(l->epfd);
		if (l->tfd >= 0)
			close(l->tfd);
		free(l);
		return rc;
	}
	*out = l;
	return 0;
}

void mesh_evloop_destroy(struct mesh_evloop *l)
{
	if (!l)
		return;
	close(l->tfd);
	close(l->epfd);
	free(l);
}

static struct watch *watch_of(struct mesh_evloop *l, int fd)
{
	for (uint32_t i = 0; i < MESH_EVLOOP_WATCHES_MAX; i++) {
		if (l->watches[i].used && l->watches[i].fd == fd)
			return &l->watches[i];
	}
	return NULL;
}

static uint64_t slot_data(const struct mesh_evloop *l, const struct watch *w)
{
	return ((uint64_t)w->gen << 32) | (uint32_t)(w - l->watches);
}

int mesh_evloop_watch(struct mesh_evloop *l, int fd, uint32_t events, mesh_evloop_fd_cb cb,
		      void *arg)
{
	struct watch *w = NULL;
	struct epoll_event ev = { .events = events };

	if (watch_of(l, fd))
		return -EEXIST;
	for (uint32_t i = 0; i < MESH_EVLOOP_WATCHES_MAX && !w; i++) {
		if (!l->watches[i].used)
			w = &l->watches[i];
	}
	if (!w)
		return -ENOSPC;
	w->gen++;
	ev.data.u64 = slot_data(l, w);
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev))
		return -errno;
	w->used = true;
	w->fd = fd;
	w->cb = cb;
	w->arg = arg;
	return 0;
}

int mesh_evloop_rewatch(struct mesh_evloop *l, int fd, uint32_t events)
{
	struct watch *w = watch_of(l, fd);
	struct epoll_event ev = { .events = events };

	if (!w)
		return -ENOENT;
	ev.data.u64 = slot_data(l, w);
	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) ? -errno : 0;
}

void mesh_evloop_unwatch(struct mesh_evloop *l, int fd)
{
	struct watch *w = watch_of(l, fd);

	if (!w)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	w->used = false;
	w->gen++; /* events already fetched for it are dropped */
}

static struct timer *timer_of(struct mesh_evloop *l, uint32_t id)
{
	for (uint32_t i = 0; i < MESH_EVLOOP_TIMERS_MAX; i++) {
		if (l->timers[i].armed && l->timers[i].id == id)
			return &l->timers[i];
	}
	return NULL;
}

/* Point the timerfd at the earliest armed deadline, if that changed. */
static void timerfd_update(struct mesh_evloop *l)
{
	uint64_t earliest = UINT64_MAX;
	struct itimerspec its = { 0 };

	for (uint32_t i = 0; i < MESH_EVLOOP_TIMERS_MAX; i++) {
		const struct timer *t = &l->timers[i];

		if (t->armed && t->deadline_ns < earliest)
			earliest = t->deadline_ns;
	}
	if (earliest == l->tfd_deadline_ns)
		return;
	l->tfd_deadline_ns = earliest;
	if (earliest != UINT64_MAX) {
		/* 0 would disarm the timerfd: a deadline at 0 is long past. */
		its.it_value.tv_sec = (time_t)(earliest / 1000000000ull);
		its.it_value.tv_nsec = (long)(earliest % 1000000000ull);
		if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
			its.it_value.tv_nsec = 1;
	}
	timerfd_settime(l->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

int mesh_evloop_timer_arm(struct mesh_evloop *l, uint32_t id, uint64_t deadline_ns)
{
	struct timer *t = timer_of(l, id);

	for (uint32_t i = 0; i < MESH_EVLOOP_TIMERS_MAX && !t; i++) {
		if (!l->timers[i].armed)
			t = &l->timers[i];
	}
	if (!t)
		return -ENOSPC;
	*t = (struct timer){ .armed = true, .id = id, .deadline_ns = deadline_ns };
	timerfd_update(l);
	return 0;
}

void mesh_evloop_timer_cancel(struct mesh_evloop *l, uint32_t id)
{
	struct timer *t = timer_of(l, id);

	if (t) {
		t->armed = false;
		timerfd_update(l);
	}
}

/* Fire every timer due by now, earliest deadline first (a loop that was
 * late finds several due at once). They are collected first: a callback
 * may arm the same or other timers, which then wait for the next round. */
static int fire_timers(struct mesh_evloop *l)
{
	uint64_t now = mesh_evloop_now_ns(), expirations;
	struct timer due[MESH_EVLOOP_TIMERS_MAX];
	unsigned count = 0;

	while (read(l->tfd, &expirations, sizeof(expirations)) > 0)
		; /* drain: the table, not the count, says what is due */
	for (uint32_t i = 0; i < MESH_EVLOOP_TIMERS_MAX; i++) {
		struct timer *t = &l->timers[i];
		unsigned at = count++;

		if (!t->armed || t->deadline_ns > now) {
			count--;
			continue;
		}
		t->armed = false;
		/* Insertion by deadline: a handful are due at once. */
		while (at > 0 && due[at - 1].deadline_ns > t->deadline_ns) {
			due[at] = due[at - 1];
			at--;
		}
		due[at] = *t;
	}
	l->tfd_deadline_ns = 0; /* the timerfd fired: set it again */
	timerfd_update(l);
	for (unsigned i = 0; i < count; i++)
		l->on_timer(l->arg, due[i].id);
	return (int)count;
}

static int wait_ms(uint64_t timeout_ns)
{
	if (timeout_ns == MESH_EVLOOP_FOREVER)
		return -1;
	/* Round up: waking before a deadline costs a second wait. */
	uint64_t ms = (timeout_ns + 999999) / 1000000;

	return ms > 86400000 ? 86400000 : (int)ms;
}

int mesh_evloop_run_once(struct mesh_evloop *l, uint64_t timeout_ns)
{
	struct epoll_event events[EVENTS_PER_WAIT];
	int n = epoll_wait(l->epfd, events, EVENTS_PER_WAIT, wait_ms(timeout_ns));
	int ran = 0;

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		uint64_t data = events[i].data.u64;
		struct watch *w;

		if (data == TIMER_SLOT)
			continue; /* timers are checked below in any case */
		w = &l->watches[(uint32_t)data];
		if (!w->used || w->gen != (uint32_t)(data >> 32))
			continue; /* unwatched by an earlier callback of this batch */
		w->cb(w->arg, events[i].events);
		ran++;
	}
	return ran + fire_timers(l);
}
