/*
 * sim/sg_wait.cpp: see sg_wait.h. The only C++ in mesh.
 */
#include "sim/sg_wait.h"

#include <cerrno>
#include <vector>

#include <simgrid/Exception.hpp>
#include <simgrid/s4u/Comm.hpp>

int mesh_sg_comm_wait(sg_comm_t comm, double timeout_s)
{
	/* The vector holds a reference of its own, so a timeout leaves the
	 * caller's reference, and the comm, untouched. */
	std::vector<simgrid::s4u::CommPtr> one{ simgrid::s4u::CommPtr(comm) };
	int rc = 1;

	try {
		if (simgrid::s4u::Comm::wait_any_for(one, timeout_s) < 0)
			return 0;
	} catch (const simgrid::NetworkFailureException &) {
		rc = -ENETDOWN;
	} catch (const simgrid::CancelException &) {
		rc = -ECANCELED;
	}
	comm->unref();
	return rc;
}
