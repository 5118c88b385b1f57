/*
 * runtime/transport_choice.c: transport names to endpoints (see
 * transport_choice.h).
 */
#include "runtime/transport_choice.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transports/addr.h"
#include "transports/tcp.h"
#ifdef MESH_HAVE_FABRIC
#include "transports/fabric.h"
#endif
#ifdef MESH_HAVE_VERBS
#include "transports/verbs.h"
#endif

int mesh_transport_choose(const char *name, struct mesh_transport_choice *out, char *err,
			  size_t err_size)
{
	const char *colon;
	size_t base;

	if (!name || !*name)
		name = "tcp";
	*out = (struct mesh_transport_choice){ 0 };
	if (strlen(name) > MESH_TRANSPORT_NAME_MAX) {
		snprintf(err, err_size, "transport name longer than %u bytes", MESH_TRANSPORT_NAME_MAX);
		return -EINVAL;
	}
	strcpy(out->name, name);
	colon = strchr(name, ':');
	base = colon ? (size_t)(colon - name) : strlen(name);
	if (colon) {
		if (!colon[1]) {
			snprintf(err, err_size, "transport \"%s\": nothing after ':'", name);
			return -EINVAL;
		}
		strcpy(out->detail, colon + 1);
	}
	if (base == 3 && !strncmp(name, "tcp", 3) && !colon) {
		out->kind = MESH_TRANSPORT_TCP;
		out->ops = &mesh_transport_tcp;
		return 0;
	}
	if (base == 6 && !strncmp(name, "fabric", 6)) {
		out->kind = MESH_TRANSPORT_FABRIC;
#ifdef MESH_HAVE_FABRIC
		if (strlen(out->detail) > MESH_FABRIC_PROVIDER_MAX) {
			snprintf(err, err_size, "transport \"%s\": provider name longer than %u bytes",
				 name, MESH_FABRIC_PROVIDER_MAX);
			return -EINVAL;
		}
		out->ops = &mesh_transport_fabric;
		return 0;
#else
		snprintf(err, err_size, "transport \"%s\": this build has no libfabric "
					"(install libfabric-dev and build again)", name);
		return -EPROTONOSUPPORT;
#endif
	}
	if (base == 5 && !strncmp(name, "verbs", 5)) {
		out->kind = MESH_TRANSPORT_VERBS;
#ifdef MESH_HAVE_VERBS
		out->ops = &mesh_transport_verbs;
		return 0;
#else
		snprintf(err, err_size, "transport \"%s\": this build has no rdma-core "
					"(install libibverbs-dev and librdmacm-dev and build again)", name);
		return -EPROTONOSUPPORT;
#endif
	}
	snprintf(err, err_size, "transport \"%s\": expected tcp, fabric, fabric:PROVIDER, verbs "
				"or verbs:DEVICE", name);
	return -EPROTONOSUPPORT;
}

/* The host part of "host:port" into @buf as a dotted quad, or "" when
 * @addr does not parse. */
static void addr_host(const char *addr, char *buf, size_t size)
{
	struct sockaddr_in sa;

	buf[0] = '\0';
	if (addr && mesh_addr_parse(addr, &sa) == 0)
		inet_ntop(AF_INET, &sa.sin_addr, buf, (socklen_t)size);
}

/* The local address the kernel would send from to reach @addr (a UDP
 * socket's connect picks the route and sends nothing), or "". */
static void addr_toward(const char *addr, char *buf, size_t size)
{
	struct sockaddr_in sa, local;
	socklen_t len = sizeof(local);
	int fd;

	buf[0] = '\0';
	if (!addr || mesh_addr_parse_peer(addr, &sa))
		return;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&local, &len) == 0)
		inet_ntop(AF_INET, &local.sin_addr, buf, (socklen_t)size);
	close(fd);
}

int mesh_transport_choice_create(const struct mesh_transport_choice *c,
				 const struct mesh_transport_start *s, struct mesh_transport **out)
{
	struct mesh_transport_params params = { .msg_bytes_max = s->msg_bytes_max };

	switch (c->kind) {
	case MESH_TRANSPORT_TCP: {
		struct mesh_tcp_options o = { .log = s->log, .log_ctx = s->log_ctx };

		params.fabric = &o;
		return c->ops->create(&params, out);
	}
#ifdef MESH_HAVE_FABRIC
	case MESH_TRANSPORT_FABRIC: {
		char node[INET_ADDRSTRLEN];
		struct mesh_fabric_options o = {
			.provider = c->detail[0] ? c->detail : NULL,
			.log = s->log,
			.log_ctx = s->log_ctx,
		};

		/* The endpoint must be reachable where the control socket is:
		 * a listener binds next to it, a client next to its route
		 * (providers that are not IP, shm, ignore it). */
		if (s->listen_addr)
			addr_host(s->listen_addr, node, sizeof(node));
		else
			addr_toward(s->peer_addr, node, sizeof(node));
		if (node[0] && strcmp(node, "0.0.0.0") != 0)
			o.node = node;
		params.fabric = &o;
		return c->ops->create(&params, out);
	}
#endif
#ifdef MESH_HAVE_VERBS
	case MESH_TRANSPORT_VERBS: {
		struct mesh_verbs_options o = {
			.device = c->detail[0] ? c->detail : NULL,
			.log = s->log,
			.log_ctx = s->log_ctx,
		};

		params.fabric = &o;
		return c->ops->create(&params, out);
	}
#endif
	default:
		return -EPROTONOSUPPORT;
	}
}

int mesh_transport_choice_port(const struct mesh_transport_choice *c,
			       const struct mesh_transport *t)
{
	switch (c->kind) {
	case MESH_TRANSPORT_TCP:
		return mesh_tcp_bound_port(t);
#ifdef MESH_HAVE_FABRIC
	case MESH_TRANSPORT_FABRIC:
		return mesh_fabric_bound_port(t);
#endif
#ifdef MESH_HAVE_VERBS
	case MESH_TRANSPORT_VERBS:
		return mesh_verbs_bound_port(t);
#endif
	default:
		return -EINVAL;
	}
}

bool mesh_transport_choice_sends_after_up(const struct mesh_transport_choice *c)
{
	return c->kind != MESH_TRANSPORT_TCP;
}
