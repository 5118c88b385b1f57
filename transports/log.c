/*
 * transports/log.c: log lines of the socket-like transports (see log.h).
 */
#include "transports/log.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>

void mesh_tp_log(mesh_tp_log_fn log, void *log_ctx, mesh_tp_log_fn fallback, size_t line_max,
		 const char *fmt, ...)
{
	char line[MESH_TP_LOG_LINE_MAX];
	va_list ap;

	assert(line_max > 0 && line_max <= sizeof(line) && fmt);
	if (!log && !fallback)
		return;
	va_start(ap, fmt);
	vsnprintf(line, line_max, fmt, ap);
	va_end(ap);
	if (log)
		log(log_ctx, line);
	else
		fallback(NULL, line);
}
