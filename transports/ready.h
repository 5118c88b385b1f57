/*
 * transports/ready.h: the intrusive ready list the socket-like transports
 * (tcp, fabric, verbs) serve their connections from, and the wake-up
 * eventfd that is readable exactly while that list (or other work) waits.
 *
 * Internal to transports/: not part of the transport.h contract.
 *
 * A connection embeds one struct mesh_ready_link and is on at most one
 * list. Push, remove and add are O(1); nothing allocates. The list does not
 * own its members: freeing a listed connection is a programmer error, so a
 * transport removes it first.
 */
#ifndef MESH_TRANSPORTS_READY_H
#define MESH_TRANSPORTS_READY_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

struct mesh_ready_link {
	struct mesh_ready_link *prev;
	struct mesh_ready_link *next;
	bool on; /* on a list: prev/next are meaningful */
};

struct mesh_ready_list {
	struct mesh_ready_link *head;
	struct mesh_ready_link *tail;
	unsigned count;
};

/* The struct of @type whose member @field is the link @l. */
#define MESH_READY_ENTRY(l, type, field) ((type *)(void *)((char *)(l) - offsetof(type, field)))

/** Append @l, which must not be listed, at the tail of @list. */
static inline void mesh_ready_push(struct mesh_ready_list *list, struct mesh_ready_link *l)
{
	assert(!l->on);
	l->on = true;
	l->next = NULL;
	l->prev = list->tail;
	if (list->tail)
		list->tail->next = l;
	else
		list->head = l;
	list->tail = l;
	list->count++;
}

/** Take @l off @list; a no-op when it is not listed. */
static inline void mesh_ready_remove(struct mesh_ready_list *list, struct mesh_ready_link *l)
{
	if (!l->on)
		return;
	if (l->prev)
		l->prev->next = l->next;
	else
		list->head = l->next;
	if (l->next)
		l->next->prev = l->prev;
	else
		list->tail = l->prev;
	l->on = false;
	assert(list->count > 0);
	list->count--;
}

/** Append @l unless it is already listed (then its place is kept). */
static inline void mesh_ready_add(struct mesh_ready_list *list, struct mesh_ready_link *l)
{
	if (!l->on)
		mesh_ready_push(list, l);
}

/*
 * The wake-up eventfd: a sleeper polls fd; the transport makes it readable
 * while it has work that poll() would return without waiting.
 */
struct mesh_kick {
	int fd; /* eventfd (EFD_NONBLOCK), or -1 before it is made */
	bool kicked; /* fd holds a count: readable */
};

/**
 * Make @k readable exactly when @want. A syscall only on change, so calling
 * it after every poll() costs nothing while the answer stays the same.
 */
static inline void mesh_kick_set(struct mesh_kick *k, bool want)
{
	uint64_t v = 1;

	if (want == k->kicked)
		return;
	ssize_t r = want ? write(k->fd, &v, sizeof(v)) : read(k->fd, &v, sizeof(v));
	assert(r == (ssize_t)sizeof(v));
	(void)r;
	k->kicked = want;
}

#endif
