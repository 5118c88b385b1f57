/*
 * sim/agenda.c: a binary min-heap on (time, insertion order).
 */
#include "sim/agenda.h"

#include <errno.h>
#include <stdlib.h>

#define AGENDA_INITIAL 8u

static bool earlier(const struct mesh_agenda_entry *x, const struct mesh_agenda_entry *y)
{
	return x->at_ns < y->at_ns || (x->at_ns == y->at_ns && x->seq < y->seq);
}

static void swap(struct mesh_agenda_entry *x, struct mesh_agenda_entry *y)
{
	struct mesh_agenda_entry t = *x;

	*x = *y;
	*y = t;
}

int mesh_agenda_push(struct mesh_agenda *ag, uint64_t at_ns, enum mesh_agenda_kind kind,
		     uint32_t a, uint64_t b, void *ptr)
{
	if (ag->count == ag->capacity) {
		uint32_t cap = ag->capacity ? ag->capacity * 2 : AGENDA_INITIAL;
		struct mesh_agenda_entry *h = realloc(ag->heap, (size_t)cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		ag->heap = h;
		ag->capacity = cap;
	}
	uint32_t i = ag->count++;

	ag->heap[i] = (struct mesh_agenda_entry){
		.at_ns = at_ns, .seq = ag->next_seq++, .kind = kind, .a = a, .b = b, .ptr = ptr,
	};
	while (i > 0 && earlier(&ag->heap[i], &ag->heap[(i - 1) / 2])) {
		swap(&ag->heap[i], &ag->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	return 0;
}

uint64_t mesh_agenda_next_ns(const struct mesh_agenda *ag)
{
	return ag->count ? ag->heap[0].at_ns : UINT64_MAX;
}

bool mesh_agenda_pop(struct mesh_agenda *ag, struct mesh_agenda_entry *out)
{
	if (!ag->count)
		return false;
	*out = ag->heap[0];
	ag->heap[0] = ag->heap[--ag->count];
	for (uint32_t i = 0;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < ag->count && earlier(&ag->heap[l], &ag->heap[m]))
			m = l;
		if (r < ag->count && earlier(&ag->heap[r], &ag->heap[m]))
			m = r;
		if (m == i)
			break;
		swap(&ag->heap[i], &ag->heap[m]);
		i = m;
	}
	return true;
}

bool mesh_agenda_pop_due(struct mesh_agenda *ag, uint64_t now_ns, struct mesh_agenda_entry *out)
{
	if (!ag->count || ag->heap[0].at_ns > now_ns)
		return false;
	return mesh_agenda_pop(ag, out);
}

void mesh_agenda_free(struct mesh_agenda *ag)
{
	free(ag->heap);
	*ag = (struct mesh_agenda){ 0 };
}
