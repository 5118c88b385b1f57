/*
 * transports/log.h: the one way the socket-like transports (tcp, fabric,
 * verbs) emit a log line: to the owner's callback when it set one, else,
 * for failures the owner must hear about, to a fallback (stderr).
 *
 * Internal to transports/: not part of the transport.h contract.
 */
#ifndef MESH_TRANSPORTS_LOG_H
#define MESH_TRANSPORTS_LOG_H

#include <stddef.h>

/* The longest line any transport asks for, with its NUL. */
#define MESH_TP_LOG_LINE_MAX 512u

/* The callback type of every transport's options .log. */
typedef void (*mesh_tp_log_fn)(void *ctx, const char *line);

/**
 * Format @fmt into a line of at most @line_max bytes with its NUL (at most
 * MESH_TP_LOG_LINE_MAX; longer is truncated) and pass it to @log with
 * @log_ctx; when @log is NULL, to @fallback with a NULL ctx; when both are
 * NULL, do nothing (and do not format). No allocation: the line is on the
 * stack.
 */
void mesh_tp_log(mesh_tp_log_fn log, void *log_ctx, mesh_tp_log_fn fallback, size_t line_max,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
