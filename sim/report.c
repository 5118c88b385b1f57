/*
 * sim/report.c: see report.h.
 */
#include "sim/report.h"

#include <errno.h>
#include <inttypes.h>

bool mesh_report_passed(const struct mesh_sim_result *r)
{
	if (r->checked_linearizable && (r->linearizable.violations || r->linearizable.undecided))
		return false;
	if (r->checked_redundancy && r->members_not_active)
		return false;
	return !(r->checked_durability && r->durability.violations);
}

static double per_s(uint64_t n, double s)
{
	return s > 0 ? (double)n / s : 0;
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void json_check(FILE *f, const char *name, bool ran, const struct mesh_check_report *c)
{
	fprintf(f, "    \"%s\": {\"ran\": %s, \"blocks\": %" PRIu64 ", \"ops\": %" PRIu64
		   ", \"violations\": %" PRIu64 ", \"undecided\": %" PRIu64 ", \"first\": ",
		name, ran ? "true" : "false", c->blocks_checked, c->ops_checked, c->violations,
		c->undecided);
	if (c->has_violation) {
		json_string(f, c->first_detail);
		fprintf(f, ", \"first_volume\": %u, \"first_block\": %" PRIu64, c->first_block.volume,
			c->first_block.block);
	} else {
		fputs("null", f);
	}
	fputs("}", f);
}

static void json_latency(FILE *f, const char *name, const struct mesh_sim_latency *l)
{
	fprintf(f, "    \"%s\": {\"count\": %" PRIu64 ", \"p50_ns\": %" PRIu64 ", \"p99_ns\": %" PRIu64
		   "}", name, l->count, mesh_sim_latency_percentile(l, 0.5),
		mesh_sim_latency_percentile(l, 0.99));
}

int mesh_report_json(FILE *f, const struct mesh_scenario *s, const struct mesh_sim_result *r,
		     const char *command)
{
	fputs("{\n  \"scenario\": ", f);
	json_string(f, s->name);
	fputs(",\n  \"path\": ", f);
	json_string(f, s->path);
	fputs(",\n  \"command\": ", f);
	json_string(f, command);
	fprintf(f, ",\n  \"seed\": %" PRIu64 ",\n  \"passed\": %s,\n", r->seed,
		mesh_report_passed(r) ? "true" : "false");
	fprintf(f, "  \"trace_hash\": \"%016" PRIx64 "\",\n", r->trace_hash);
	fprintf(f, "  \"topology\": {\"nodes\": %u, \"targets\": %u, \"clients\": %u, "
		   "\"volumes\": %u},\n", r->nodes, r->targets, r->clients, r->volumes);
	fprintf(f, "  \"time\": {\"simulated_s\": %.6f, \"wall_s\": %.3f, \"setup_s\": %.3f, "
		   "\"peak_rss_bytes\": %" PRIu64 "},\n", r->sim_seconds, r->wall_seconds,
		r->setup_seconds, r->peak_rss_bytes);
	fprintf(f, "  \"rates\": {\"events\": %" PRIu64 ", \"events_per_wall_s\": %.0f, "
		   "\"messages_per_wall_s\": %.0f},\n", r->events, per_s(r->events, r->wall_seconds),
		per_s(r->messages_sent, r->wall_seconds));
	fprintf(f, "  \"messages\": {\"sent\": %" PRIu64 ", \"delivered\": %" PRIu64
		   ", \"bytes\": %" PRIu64 ", \"dropped_partition\": %" PRIu64
		   ", \"dropped_loss\": %" PRIu64 ", \"dropped_node_down\": %" PRIu64
		   ", \"duplicated\": %" PRIu64 ", \"delayed\": %" PRIu64 "},\n",
		r->messages_sent, r->messages_delivered, r->message_bytes, r->dropped_cut,
		r->dropped_loss, r->dropped_down, r->duplicated, r->delayed);
	fprintf(f, "  \"heartbeats\": {\"sent\": %" PRIu64 ", \"per_target_per_s\": %.3f, "
		   "\"peers_max\": %u, \"peers_mean\": %.2f, \"suspicions\": %" PRIu64 "},\n",
		r->heartbeats_sent, r->heartbeats_per_target_s, r->heartbeat_peers_max,
		r->heartbeat_peers_mean, r->suspicions);
	fprintf(f, "  \"topology_manager\": {\"epochs_committed\": %" PRIu64
		   ", \"io_fenced\": %" PRIu64 ", \"leases_granted\": %" PRIu64
		   ", \"members_not_active_at_end\": %u, \"replacements\": %" PRIu64
		   ", \"reads_ahead_of_tail\": %" PRIu64 ", \"reads_sent_to_tail\": %" PRIu64 "},\n",
		r->epochs_committed, r->io_fenced, r->leases_granted, r->members_not_active,
		r->replacements, r->reads_ahead, r->reads_to_tail);
	fprintf(f, "  \"failover\": {\"crashes_measured\": %" PRIu64 ", \"max_ns\": %" PRIu64
		   ", \"mean_ns\": %" PRIu64 "},\n", r->failovers, r->failover_max_ns,
		r->failovers ? r->failover_sum_ns / r->failovers : 0);
	fprintf(f, "  \"resync\": {\"copies_done\": %" PRIu64 ", \"full_copies\": %" PRIu64
		   ", \"aborted\": %" PRIu64 ", \"bytes_copied\": %" PRIu64
		   ", \"bytes_kept_fresh\": %" PRIu64 ", \"bytes_written_during_outage\": %" PRIu64
		   "},\n",
		r->resync_copies, r->resync_full_copies, r->resync_aborted, r->resync_bytes,
		r->resync_bytes_kept, r->outage_bytes_written);
	fprintf(f, "  \"io\": {\"reads_ok\": %" PRIu64 ", \"writes_ok\": %" PRIu64
		   ", \"reads_failed\": %" PRIu64 ", \"writes_failed\": %" PRIu64
		   ", \"pending_at_end\": %" PRIu64 ", \"bytes_read\": %" PRIu64
		   ", \"bytes_written\": %" PRIu64 ", \"verify_reads\": %" PRIu64
		   ", \"verify_unread\": %" PRIu64 ",\n", r->reads_ok, r->writes_ok, r->reads_failed,
		r->writes_failed, r->ios_pending, r->bytes_read, r->bytes_written, r->verify_reads,
		r->verify_unread);
	json_latency(f, "read_latency", &r->read_latency);
	fputs(",\n", f);
	json_latency(f, "write_latency", &r->write_latency);
	fprintf(f, "},\n  \"history\": {\"ops\": %" PRIu64 ", \"blocks\": %" PRIu64 "},\n",
		r->history_ops, r->history_blocks);
	fputs("  \"checks\": {\n", f);
	json_check(f, "linearizable", r->checked_linearizable, &r->linearizable);
	fputs(",\n", f);
	json_check(f, "durability", r->checked_durability, &r->durability);
	fprintf(f, ",\n    \"redundancy\": {\"checked\": %s, \"replicas_not_active\": %u}",
		r->checked_redundancy ? "true" : "false", r->members_not_active);
	fputs("\n  }\n}\n", f);
	return ferror(f) ? -EIO : 0;
}

static const char *verdict(bool ran, const struct mesh_check_report *c)
{
	if (!ran)
		return "not run";
	if (c->violations)
		return "VIOLATED";
	return c->undecided ? "undecided" : "passed";
}

int mesh_report_markdown(FILE *f, const struct mesh_scenario *s, const struct mesh_sim_result *r,
			 const char *command)
{
	fprintf(f, "# %s, seed %" PRIu64 ": %s\n\n", s->name, r->seed,
		mesh_report_passed(r) ? "passed" : "FAILED");
	if (s->description[0])
		fprintf(f, "%s\n\n", s->description);
	fprintf(f, "Command: `%s`\n\n", command);
	fprintf(f, "| | |\n|---|---|\n");
	fprintf(f, "| nodes (targets, clients) | %u (%u, %u) |\n", r->nodes, r->targets, r->clients);
	fprintf(f, "| volumes | %u |\n", r->volumes);
	fprintf(f, "| simulated time | %.3f s |\n", r->sim_seconds);
	fprintf(f, "| wall time (run; set-up) | %.2f s; %.2f s |\n", r->wall_seconds,
		r->setup_seconds);
	fprintf(f, "| peak RSS | %.1f MiB |\n", (double)r->peak_rss_bytes / 1048576.0);
	fprintf(f, "| events (per wall second) | %" PRIu64 " (%.0f) |\n", r->events,
		per_s(r->events, r->wall_seconds));
	fprintf(f, "| messages sent (per wall second) | %" PRIu64 " (%.0f) |\n", r->messages_sent,
		per_s(r->messages_sent, r->wall_seconds));
	fprintf(f, "| dropped: partition, loss, node down | %" PRIu64 ", %" PRIu64 ", %" PRIu64 " |\n",
		r->dropped_cut, r->dropped_loss, r->dropped_down);
	fprintf(f, "| heartbeats per target per second | %.2f (peers: mean %.2f, max %u) |\n",
		r->heartbeats_per_target_s, r->heartbeat_peers_mean, r->heartbeat_peers_max);
	fprintf(f, "| epochs committed; I/O fenced | %" PRIu64 "; %" PRIu64 " |\n",
		r->epochs_committed, r->io_fenced);
	fprintf(f, "| reads answered ahead of the tail; sent on to the tail | %" PRIu64 "; %" PRIu64
		   " |\n", r->reads_ahead, r->reads_to_tail);
	fprintf(f, "| rebuilds done (whole segment; aborted) | %" PRIu64 " (%" PRIu64 "; %" PRIu64
		   ") |\n", r->resync_copies, r->resync_full_copies, r->resync_aborted);
	fprintf(f, "| resync bytes copied; written by clients during outages | %" PRIu64
		   "; %" PRIu64 " |\n", r->resync_bytes, r->outage_bytes_written);
	fprintf(f, "| replicas moved to spares; not active at the end | %" PRIu64 "; %u |\n",
		r->replacements, r->members_not_active);
	if (r->failovers)
		fprintf(f, "| failover: crash to first new write done (max; mean of %" PRIu64
			   ") | %.1f ms; %.1f ms |\n", r->failovers, r->failover_max_ns / 1e6,
			(double)r->failover_sum_ns / r->failovers / 1e6);
	fprintf(f, "| reads ok / failed | %" PRIu64 " / %" PRIu64 " |\n", r->reads_ok,
		r->reads_failed);
	fprintf(f, "| writes ok / failed | %" PRIu64 " / %" PRIu64 " |\n", r->writes_ok,
		r->writes_failed);
	fprintf(f, "| read latency p50 / p99 | ≤ %.1f / ≤ %.1f µs |\n",
		mesh_sim_latency_percentile(&r->read_latency, 0.5) / 1e3,
		mesh_sim_latency_percentile(&r->read_latency, 0.99) / 1e3);
	fprintf(f, "| write latency p50 / p99 | ≤ %.1f / ≤ %.1f µs |\n",
		mesh_sim_latency_percentile(&r->write_latency, 0.5) / 1e3,
		mesh_sim_latency_percentile(&r->write_latency, 0.99) / 1e3);
	fprintf(f, "| blocks read back (unread) | %" PRIu64 " (%" PRIu64 ") |\n", r->verify_reads,
		r->verify_unread);
	fprintf(f, "| linearizability | %s (%" PRIu64 " blocks, %" PRIu64 " ops) |\n",
		verdict(r->checked_linearizable, &r->linearizable), r->linearizable.blocks_checked,
		r->linearizable.ops_checked);
	fprintf(f, "| durability | %s (%" PRIu64 " blocks) |\n",
		verdict(r->checked_durability, &r->durability), r->durability.blocks_checked);
	if (r->checked_redundancy)
		fprintf(f, "| redundancy | %s (%u replicas not active at the end) |\n",
			r->members_not_active ? "**FAILED**" : "passed", r->members_not_active);
	fprintf(f, "| trace hash | `%016" PRIx64 "` |\n", r->trace_hash);
	if (r->linearizable.has_violation)
		fprintf(f, "\nFirst linearizability violation (volume %u, block %" PRIu64 "): %s\n",
			r->linearizable.first_block.volume, r->linearizable.first_block.block,
			r->linearizable.first_detail);
	if (r->durability.has_violation)
		fprintf(f, "\nFirst durability violation (volume %u, block %" PRIu64 "): %s\n",
			r->durability.first_block.volume, r->durability.first_block.block,
			r->durability.first_detail);
	fputs("\nLatencies are power-of-two bucket bounds.\n", f);
	return ferror(f) ? -EIO : 0;
}
