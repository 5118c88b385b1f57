/*
 * sim/agenda.h: one simulated node's pending events, earliest first.
 *
 * Timers, drive completions, held-back messages, workload ticks and node
 * faults all wait here until their simulated time. Entries with equal times
 * leave in the order they were added, so a run is a pure function of its
 * seed. The heap grows as needed: the simulator may allocate, the core may
 * not.
 */
#ifndef MESH_SIM_AGENDA_H
#define MESH_SIM_AGENDA_H

#include <stdbool.h>
#include <stdint.h>

enum mesh_agenda_kind {
	MESH_AGENDA_TIMER = 1,      /* a: timer slot, b: its generation */
	MESH_AGENDA_DRIVE_DONE,     /* ptr: the drive request */
	MESH_AGENDA_DELIVER,        /* ptr: a held-back message */
	MESH_AGENDA_WORKLOAD,       /* a: workload index */
	MESH_AGENDA_FAULT,          /* a: fault index in the scenario */
	MESH_AGENDA_VERIFY,         /* start reading back what was written */
};

struct mesh_agenda_entry {
	uint64_t at_ns;             /* simulated time */
	uint64_t seq;               /* insertion order, breaks ties */
	enum mesh_agenda_kind kind;
	uint32_t a;
	uint64_t b;
	void *ptr;
};

struct mesh_agenda {
	struct mesh_agenda_entry *heap;
	uint32_t count, capacity;
	uint64_t next_seq;
};

/** Add an event. Returns 0 or -ENOMEM. */
int mesh_agenda_push(struct mesh_agenda *ag, uint64_t at_ns, enum mesh_agenda_kind kind,
		     uint32_t a, uint64_t b, void *ptr);

/** The earliest event's time, or UINT64_MAX when there is none. */
uint64_t mesh_agenda_next_ns(const struct mesh_agenda *ag);

/** Take the earliest event if it is due at @now_ns. */
bool mesh_agenda_pop_due(struct mesh_agenda *ag, uint64_t now_ns, struct mesh_agenda_entry *out);

/** Take the earliest event whatever its time. */
bool mesh_agenda_pop(struct mesh_agenda *ag, struct mesh_agenda_entry *out);

void mesh_agenda_free(struct mesh_agenda *ag);

#endif
