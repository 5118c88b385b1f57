/*
 * runtime/evloop.h: the real runtime's event loop. One thread; epoll for
 * file descriptors (sockets, a transport's wait fd, io_uring's eventfd, a
 * signalfd) and one timerfd behind a small fixed table of timers, on
 * CLOCK_MONOTONIC. Nothing is delivered from inside a call: watchers and
 * timers run from mesh_evloop_run_once() only, so a callback may arm,
 * cancel, watch and unwatch freely.
 */
#ifndef MESH_RUNTIME_EVLOOP_H
#define MESH_RUNTIME_EVLOOP_H

#include <stdint.h>

#define MESH_EVLOOP_TIMERS_MAX 64u   /* core roles use a few each */
#define MESH_EVLOOP_WATCHES_MAX 1024u
#define MESH_EVLOOP_FOREVER UINT64_MAX

struct mesh_evloop;

/* @events: the EPOLL* bits that are ready. */
typedef void (*mesh_evloop_fd_cb)(void *arg, uint32_t events);
typedef void (*mesh_evloop_timer_cb)(void *arg, uint32_t timer_id);

/** Monotonic time in nanoseconds (CLOCK_MONOTONIC). */
uint64_t mesh_evloop_now_ns(void);

/** Make a loop whose timers fire @on_timer(@arg, id). Returns 0 or -errno. */
int mesh_evloop_create(mesh_evloop_timer_cb on_timer, void *arg, struct mesh_evloop **out);

/** Free the loop. Watched descriptors are not closed: they are the caller's. */
void mesh_evloop_destroy(struct mesh_evloop *l);

/**
 * Call @cb(@arg, ready events) whenever @fd has any of @events (EPOLLIN,
 * EPOLLOUT; level-triggered). Returns 0, -EEXIST (watched already),
 * -ENOSPC (MESH_EVLOOP_WATCHES_MAX) or epoll's errno.
 */
int mesh_evloop_watch(struct mesh_evloop *l, int fd, uint32_t events, mesh_evloop_fd_cb cb,
		      void *arg);

/** Change the events @fd is watched for. Returns 0, -ENOENT or -errno. */
int mesh_evloop_rewatch(struct mesh_evloop *l, int fd, uint32_t events);

/** Stop watching @fd (before closing it). No-op for an unwatched fd. */
void mesh_evloop_unwatch(struct mesh_evloop *l, int fd);

/**
 * Fire timer @id once at @deadline_ns (a mesh_evloop_now_ns() value);
 * arming an armed timer moves it. Returns 0 or -ENOSPC when
 * MESH_EVLOOP_TIMERS_MAX timers are armed.
 */
int mesh_evloop_timer_arm(struct mesh_evloop *l, uint32_t id, uint64_t deadline_ns);

/** Disarm timer @id; no-op when it is not armed. */
void mesh_evloop_timer_cancel(struct mesh_evloop *l, uint32_t id);

/**
 * Wait until a watched descriptor is ready, a timer is due, or
 * @timeout_ns passed (0: do not block; MESH_EVLOOP_FOREVER), then run
 * the callbacks of what is ready and of every timer due. Returns how many
 * callbacks ran, or a negative errno when waiting failed (-EINTR is
 * returned as 0).
 */
int mesh_evloop_run_once(struct mesh_evloop *l, uint64_t timeout_ns);

#endif
