/*
 * sim/sg_wait.h: wait for one SimGrid comm with a timeout, keeping it.
 *
 * SimGrid 3.32's C sg_comm_wait_for() turns a timeout into a failed comm
 * (a message in flight at that instant is lost), and its
 * sg_comm_wait_any_for() drops the caller's reference on timeout. A node
 * must wait for "the next message or the next timer, whichever comes
 * first" without losing either, so this one wrapper uses the C++ API.
 */
#ifndef MESH_SIM_SG_WAIT_H
#define MESH_SIM_SG_WAIT_H

#include <simgrid/forward.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Wait up to @timeout_s simulated seconds (negative: forever) for @comm.
 * Returns 1 when it finished (the reference is released), 0 on timeout
 * (@comm stays valid and pending), or a negative errno when it failed
 * (-ENETDOWN: a host died; -ECANCELED; the reference is released).
 */
int mesh_sg_comm_wait(sg_comm_t comm, double timeout_s);

#ifdef __cplusplus
}
#endif

#endif
