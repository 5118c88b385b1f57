/*
 * sim/report.h: a simulated run's result as JSON and as a Markdown summary.
 */
#ifndef MESH_SIM_REPORT_H
#define MESH_SIM_REPORT_H

#include <stdio.h>

#include "sim/scenario.h"
#include "sim/sim.h"

/** Whether the run passed every check it ran. */
bool mesh_report_passed(const struct mesh_sim_result *r);

/** Write @r as one JSON object; @command is the command line that made it. Returns 0 or -EIO. */
int mesh_report_json(FILE *f, const struct mesh_scenario *s, const struct mesh_sim_result *r,
		     const char *command);

/** Write @r as a Markdown summary. Returns 0 or -EIO. */
int mesh_report_markdown(FILE *f, const struct mesh_scenario *s, const struct mesh_sim_result *r,
			 const char *command);

#endif
