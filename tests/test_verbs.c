/*
 * tests/test_verbs.c: the verbs transport. Most machines running this have
 * no RDMA device, so the tests check what does not need one: that create()
 * fails with -ENODEV and says what is missing, that bad parameters are
 * -EINVAL before any device is looked at, and the pure pieces (parameter
 * limits, device choice, addresses, completion and rdmacm status mapping,
 * keys, the region table, slot pools). The loopback test runs only where a
 * device exists and MESH_VERBS_TEST_ADDR names an IPv4 address on it;
 * otherwise it is skipped with the reason printed.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <infiniband/verbs.h>
#include <poll.h>
#include <rdma/rdma_cma.h>
#include <time.h>
#include <unistd.h>

#include "core/proto.h"
#include "transports/addr.h"
#include "transports/verbs.h"
#include "transports/verbs_internal.h"

static const struct mesh_transport_ops *ops = &mesh_transport_verbs;

/* ---- log capture ---- */

static unsigned log_count;
static char log_last[1024];

static void log_capture(void *ctx, const char *line)
{
	(void)ctx;
	log_count++;
	snprintf(log_last, sizeof(log_last), "%s", line);
}

static void log_reset(void)
{
	log_count = 0;
	log_last[0] = '\0';
}

/* How many RDMA devices this machine has (the hardware tests need one). */
static int device_count(void)
{
	int n = 0;
	struct ibv_device **list = ibv_get_device_list(&n);
	if (!list)
		return 0;
	ibv_free_device_list(list);
	return n;
}

/* create() with @o (log captured unless @o says otherwise); returns its rc. */
static int try_create(const struct mesh_transport_params *p)
{
	struct mesh_transport *t = NULL;
	int rc = ops->create(p, &t);
	if (rc == 0)
		ops->destroy(t);
	else
		assert_null(t);
	return rc;
}

/* ---- create without hardware ---- */

static void create_without_a_device_is_enodev_and_names_what_is_missing(void **state)
{
	(void)state;
	if (device_count() > 0) {
		print_message("skipped: this machine has an RDMA device\n");
		skip();
	}
	struct mesh_verbs_options o = { .log = log_capture };
	struct mesh_transport_params p = { .fabric = &o };
	log_reset();
	assert_int_equal(try_create(&p), -ENODEV);
	assert_int_equal(log_count, 1);
	assert_non_null(strstr(log_last, "no RDMA device found"));
	assert_non_null(strstr(log_last, "ibv_get_device_list returned 0 devices"));
	assert_non_null(strstr(log_last, "rxe"));
	assert_non_null(strstr(log_last, "tcp or fabric transport"));
	/* NULL options too: the defaults look for a device the same way. */
	struct mesh_transport_params dflt = { 0 };
	assert_int_equal(try_create(&dflt), -ENODEV);
}

/* With no log callback, the create() failure still reaches stderr. */
static void create_failure_without_a_log_callback_goes_to_stderr(void **state)
{
	(void)state;
	if (device_count() > 0) {
		print_message("skipped: this machine has an RDMA device\n");
		skip();
	}
	FILE *cap = tmpfile();
	assert_non_null(cap);
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(cap), STDERR_FILENO) >= 0);

	struct mesh_transport_params p = { .msg_bytes_max = 4096 };
	int rc = try_create(&p);

	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	char text[2048] = { 0 };
	rewind(cap);
	size_t got = fread(text, 1, sizeof(text) - 1, cap);
	fclose(cap);
	assert_int_equal(rc, -ENODEV);
	assert_true(got > 0);
	assert_non_null(strstr(text, "mesh verbs: create: no RDMA device found"));
}

static void create_with_a_named_device_that_does_not_exist_names_it(void **state)
{
	(void)state;
	struct mesh_verbs_options o = { .device = "mlx5_nosuch7", .log = log_capture };
	struct mesh_transport_params p = { .fabric = &o };
	log_reset();
	assert_int_equal(try_create(&p), -ENODEV);
	assert_int_equal(log_count, 1);
	assert_non_null(strstr(log_last, "\"mlx5_nosuch7\" not found"));
	assert_non_null(strstr(log_last, "ibv_get_device_list returned"));
}

static void create_rejects_bad_params_with_einval_naming_the_value(void **state)
{
	(void)state;
	struct {
		struct mesh_transport_params p;
		struct mesh_verbs_options o;
		const char *says;
	} bad[] = {
		{ .p.msg_bytes_max = (size_t)MESH_VERBS_MSG_BYTES_MAX + 1, .says = "msg_bytes_max" },
		{ .p = { .msg_bytes_max = 4096, .rx_bytes = 4095 }, .says = "rx_bytes 4095" },
		{ .p = { .msg_bytes_max = 16, .rx_bytes = 16u * (MESH_VERBS_RECV_DEPTH_MAX + 1) },
		  .says = "1025 receive buffers" },
		{ .o.send_depth = MESH_VERBS_SEND_DEPTH_MAX + 1, .says = "send_depth 1025" },
		{ .o.rma_depth = MESH_VERBS_RMA_DEPTH_MAX + 1, .says = "rma_depth 1025" },
		{ .o.rma_bounce_bytes = (size_t)MESH_VERBS_BOUNCE_BYTES_MAX + 1,
		  .says = "rma_bounce_bytes" },
		{ .o.conn_max = MESH_VERBS_CONN_MAX + 1, .says = "conn_max 1025" },
		{ .o.resolve_ms = MESH_VERBS_RESOLVE_MS_MAX + 1, .says = "resolve_ms 60001" },
		{ .o.device = "", .says = "device name is empty" },
		{ .o.device = "a-device-name-that-is-much-longer-than-sixty-three-bytes-xxxxxxxxx",
		  .says = "longer than 63" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bad[i].o.log = log_capture;
		bad[i].p.fabric = &bad[i].o;
		log_reset();
		assert_int_equal(try_create(&bad[i].p), -EINVAL);
		assert_int_equal(log_count, 1);
		if (!strstr(log_last, bad[i].says))
			fail_msg("case %zu logged \"%s\", wanted \"%s\"", i, log_last, bad[i].says);
	}
	/* No params at all: stderr gets the line (no options to ask). */
	struct mesh_transport *t = NULL;
	FILE *cap = tmpfile();
	assert_non_null(cap);
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	dup2(fileno(cap), STDERR_FILENO);
	int rc = ops->create(NULL, &t);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	fclose(cap);
	assert_int_equal(rc, -EINVAL);
	assert_null(t);
}

static void ops_table_is_verbs_with_every_rma_slot(void **state)
{
	(void)state;
	assert_string_equal(ops->name, "verbs");
	assert_non_null(ops->create);
	assert_non_null(ops->destroy);
	assert_non_null(ops->listen);
	assert_non_null(ops->connect);
	assert_non_null(ops->disconnect);
	assert_non_null(ops->send);
	assert_non_null(ops->poll);
	assert_non_null(ops->wait_fd);
	assert_non_null(ops->mr_expose);
	assert_non_null(ops->mr_revoke);
	assert_non_null(ops->rma_read);
	assert_non_null(ops->rma_write);
	/* destroy(NULL) is a no-op. */
	ops->destroy(NULL);
}

/* ---- configuration ---- */

static void config_fills_defaults_and_accepts_every_limit_exactly(void **state)
{
	(void)state;
	struct mesh_verbs_config cfg;
	char msg[256];
	struct mesh_transport_params p = { 0 };

	assert_int_equal(mesh_verbs_config_make(&p, NULL, &cfg, msg, sizeof(msg)), 0);
	assert_int_equal(cfg.msg_bytes_max, MESH_PROTO_MSG_MAX);
	assert_int_equal(cfg.recv_depth, MESH_VERBS_RECV_DEPTH_DEFAULT);
	assert_int_equal(cfg.send_depth, MESH_VERBS_SEND_DEPTH_DEFAULT);
	assert_int_equal(cfg.rma_depth, MESH_VERBS_RMA_DEPTH_DEFAULT);
	assert_int_equal(cfg.bounce_bytes, MESH_VERBS_BOUNCE_BYTES_DEFAULT);
	assert_int_equal(cfg.conn_max, MESH_VERBS_CONN_MAX);
	assert_int_equal(cfg.resolve_ms, MESH_VERBS_RESOLVE_MS_DEFAULT);

	/* rx_bytes buys whole receive buffers; the remainder is unused. */
	p = (struct mesh_transport_params){ .msg_bytes_max = 1000, .rx_bytes = 7999 };
	assert_int_equal(mesh_verbs_config_make(&p, NULL, &cfg, msg, sizeof(msg)), 0);
	assert_int_equal(cfg.recv_depth, 7);
	p.rx_bytes = 1000;
	assert_int_equal(mesh_verbs_config_make(&p, NULL, &cfg, msg, sizeof(msg)), 0);
	assert_int_equal(cfg.recv_depth, 1);

	struct mesh_verbs_options o = {
		.device = "rxe0",
		.send_depth = MESH_VERBS_SEND_DEPTH_MAX,
		.rma_depth = MESH_VERBS_RMA_DEPTH_MAX,
		.rma_bounce_bytes = MESH_VERBS_BOUNCE_BYTES_MAX,
		.conn_max = MESH_VERBS_CONN_MAX,
		.resolve_ms = MESH_VERBS_RESOLVE_MS_MAX,
	};
	p = (struct mesh_transport_params){
		.msg_bytes_max = MESH_VERBS_MSG_BYTES_MAX,
		.rx_bytes = (size_t)MESH_VERBS_MSG_BYTES_MAX * MESH_VERBS_RECV_DEPTH_MAX,
	};
	assert_int_equal(mesh_verbs_config_make(&p, &o, &cfg, msg, sizeof(msg)), 0);
	assert_int_equal(cfg.recv_depth, MESH_VERBS_RECV_DEPTH_MAX);
	assert_int_equal(cfg.send_depth, MESH_VERBS_SEND_DEPTH_MAX);
	assert_int_equal(cfg.rma_depth, MESH_VERBS_RMA_DEPTH_MAX);
	assert_int_equal(cfg.bounce_bytes, MESH_VERBS_BOUNCE_BYTES_MAX);
	assert_int_equal(cfg.resolve_ms, MESH_VERBS_RESOLVE_MS_MAX);
	assert_string_equal(msg, "");

	assert_int_equal(mesh_verbs_config_make(NULL, &o, &cfg, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "params"));
	/* A tiny message buffer truncates the line but still fails cleanly. */
	p.msg_bytes_max = (size_t)MESH_VERBS_MSG_BYTES_MAX + 1;
	char tiny[8];
	assert_int_equal(mesh_verbs_config_make(&p, &o, &cfg, tiny, sizeof(tiny)), -EINVAL);
	assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
}

/* ---- device choice ---- */

static void device_pick_takes_the_first_or_the_named_and_names_what_is_missing(void **state)
{
	(void)state;
	const char *names[] = { "mlx5_0", "mlx5_1", "rxe0" };
	char msg[256];

	assert_int_equal(mesh_verbs_device_pick(names, 3, NULL, msg, sizeof(msg)), 0);
	assert_int_equal(mesh_verbs_device_pick(names, 3, "rxe0", msg, sizeof(msg)), 2);
	assert_int_equal(mesh_verbs_device_pick(names, 3, "mlx5_1", msg, sizeof(msg)), 1);

	assert_int_equal(mesh_verbs_device_pick(names, 3, "siw0", msg, sizeof(msg)), -ENODEV);
	assert_non_null(strstr(msg, "\"siw0\" not found"));
	assert_non_null(strstr(msg, "returned 3: mlx5_0, mlx5_1, rxe0"));
	/* A prefix is not a match. */
	assert_int_equal(mesh_verbs_device_pick(names, 3, "mlx5", msg, sizeof(msg)), -ENODEV);

	assert_int_equal(mesh_verbs_device_pick(NULL, 0, NULL, msg, sizeof(msg)), -ENODEV);
	assert_non_null(strstr(msg, "no RDMA device found (ibv_get_device_list returned 0"));
	assert_int_equal(mesh_verbs_device_pick(NULL, 0, "rxe0", msg, sizeof(msg)), -ENODEV);
	assert_non_null(strstr(msg, "\"rxe0\" not found"));
	assert_non_null(strstr(msg, "returned 0 devices"));

	/* A message buffer too small for the list is cut, not overrun. */
	char small[24];
	assert_int_equal(mesh_verbs_device_pick(names, 3, "siw0", small, sizeof(small)), -ENODEV);
	assert_int_equal(strlen(small), sizeof(small) - 1);
}

/* ---- addresses ---- */

static void addresses_parse_host_port_and_bad_ones_are_einval(void **state)
{
	(void)state;
	struct sockaddr_in sa;

	assert_int_equal(mesh_addr_parse("192.168.7.9:4791", &sa), 0);
	assert_int_equal(sa.sin_family, AF_INET);
	assert_int_equal(ntohs(sa.sin_port), 4791);
	assert_int_equal(ntohl(sa.sin_addr.s_addr), 0xc0a80709u);
	assert_int_equal(mesh_addr_parse("localhost:0", &sa), 0);
	assert_int_equal(ntohl(sa.sin_addr.s_addr), INADDR_LOOPBACK);
	assert_int_equal(ntohs(sa.sin_port), 0);
	assert_int_equal(mesh_addr_parse("0.0.0.0:65535", &sa), 0);
	assert_int_equal(ntohs(sa.sin_port), 65535);

	const char *bad[] = {
		"", "127.0.0.1", "127.0.0.1:", ":80", "1.2.3:80", "1.2.3.4.5:80", "node7:80",
		"127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:80x", "127.0.0.1: 80", "::1:80",
		"127.000000000000000000000000000000000000000000000000000000000000.0.1:80",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (mesh_addr_parse(bad[i], &sa) != -EINVAL)
			fail_msg("\"%s\" was accepted", bad[i]);
	assert_int_equal(mesh_addr_parse(NULL, &sa), -EINVAL);
	/* Exactly MESH_VERBS_ADDR_MAX bytes parses as far as length goes. */
	char edge[MESH_VERBS_ADDR_MAX + 2];
	memset(edge, '0', sizeof(edge));
	edge[MESH_VERBS_ADDR_MAX + 1] = '\0';
	memcpy(edge, "1.2.3.4:", 8);
	assert_int_equal(mesh_addr_parse(edge, &sa), -EINVAL); /* 65 bytes */
	edge[MESH_VERBS_ADDR_MAX] = '\0';
	assert_int_equal(mesh_addr_parse(edge, &sa), 0); /* 64 bytes, port 0 */
}

/* ---- status mapping ---- */

static void wc_status_maps_remote_access_to_eacces_and_every_failure_to_an_errno(void **state)
{
	(void)state;
	assert_int_equal(mesh_verbs_wc_status(IBV_WC_SUCCESS), 0);
	assert_int_equal(mesh_verbs_wc_status(IBV_WC_REM_ACCESS_ERR), -EACCES);
	assert_int_equal(mesh_verbs_wc_status(IBV_WC_WR_FLUSH_ERR), -ECONNABORTED);
	assert_int_equal(mesh_verbs_wc_status(IBV_WC_LOC_LEN_ERR), -EMSGSIZE);
	assert_int_equal(mesh_verbs_wc_status(IBV_WC_LOC_PROT_ERR), -EFAULT);
	assert_int_equal(mesh_verbs_wc_status(IBV_WC_RETRY_EXC_ERR), -ETIMEDOUT);
	assert_int_equal(mesh_verbs_wc_status(IBV_WC_RNR_RETRY_EXC_ERR), -ENOBUFS);
	assert_int_equal(mesh_verbs_wc_status(IBV_WC_REM_OP_ERR), -EREMOTEIO);
	assert_int_equal(mesh_verbs_wc_status(IBV_WC_REM_INV_REQ_ERR), -EPROTO);
	assert_int_equal(mesh_verbs_wc_status(IBV_WC_FATAL_ERR), -EIO);
	/* Every failure, known or not, is a negative errno: never mistaken for 0. */
	for (int s = IBV_WC_SUCCESS + 1; s <= IBV_WC_TM_RNDV_INCOMPLETE + 5; s++) {
		int e = mesh_verbs_wc_status(s);
		if (e >= 0 || e < -4095)
			fail_msg("status %d mapped to %d", s, e);
	}
	assert_int_equal(mesh_verbs_wc_status(-1), -EIO);
}

static void cm_status_maps_how_a_connection_ended(void **state)
{
	(void)state;
	assert_int_equal(mesh_verbs_cm_status(RDMA_CM_EVENT_DISCONNECTED, 0), 0);
	/* REJECTED carries a positive IB reject reason; nobody listening is one. */
	assert_int_equal(mesh_verbs_cm_status(RDMA_CM_EVENT_REJECTED, 28), -ECONNREFUSED);
	assert_int_equal(mesh_verbs_cm_status(RDMA_CM_EVENT_UNREACHABLE, -ETIMEDOUT), -ETIMEDOUT);
	assert_int_equal(mesh_verbs_cm_status(RDMA_CM_EVENT_UNREACHABLE, 7), -EHOSTUNREACH);
	assert_int_equal(mesh_verbs_cm_status(RDMA_CM_EVENT_ADDR_ERROR, -ENODEV), -ENODEV);
	assert_int_equal(mesh_verbs_cm_status(RDMA_CM_EVENT_ADDR_ERROR, 0), -EHOSTUNREACH);
	assert_int_equal(mesh_verbs_cm_status(RDMA_CM_EVENT_ROUTE_ERROR, -ETIMEDOUT), -ETIMEDOUT);
	assert_int_equal(mesh_verbs_cm_status(RDMA_CM_EVENT_CONNECT_ERROR, 0), -ECONNRESET);
	assert_int_equal(mesh_verbs_cm_status(RDMA_CM_EVENT_CONNECT_ERROR, -EINVAL), -EINVAL);
	assert_int_equal(mesh_verbs_cm_status(RDMA_CM_EVENT_DEVICE_REMOVAL, 0), -ENODEV);
	assert_int_equal(mesh_verbs_cm_status(RDMA_CM_EVENT_ESTABLISHED, 0), -EIO);
}

/* ---- keys and regions ---- */

static void keys_carry_rkey_and_length_and_bound_every_access(void **state)
{
	(void)state;
	uint64_t k = mesh_verbs_key_make(0xdeadbeefu, 4096);
	assert_int_equal(mesh_verbs_key_rkey(k), 0xdeadbeefu);
	assert_int_equal(mesh_verbs_key_len(k), 4096);
	/* rkey 0 is a real rkey; the length keeps the key itself non-zero. */
	assert_true(mesh_verbs_key_make(0, 1) != 0);

	assert_int_equal(mesh_verbs_key_range(k, 0, 4096), 0);
	assert_int_equal(mesh_verbs_key_range(k, 4095, 1), 0);
	assert_int_equal(mesh_verbs_key_range(k, 4096, 1), -ERANGE);
	assert_int_equal(mesh_verbs_key_range(k, 4000, 97), -ERANGE);
	assert_int_equal(mesh_verbs_key_range(k, 0, 4097), -ERANGE);
	assert_int_equal(mesh_verbs_key_range(k, UINT64_MAX, 1), -ERANGE);
	assert_int_equal(mesh_verbs_key_range(k, 1, SIZE_MAX), -ERANGE);
	/* A key with no length never named a region. */
	assert_int_equal(mesh_verbs_key_range(0x1234u, 0, 1), -EACCES);

	uint64_t big = mesh_verbs_key_make(7, MESH_VERBS_REGION_BYTES_MAX);
	assert_int_equal(mesh_verbs_key_len(big), MESH_VERBS_REGION_BYTES_MAX);
	assert_int_equal(mesh_verbs_key_range(big, MESH_VERBS_REGION_BYTES_MAX - 8, 8), 0);
	assert_int_equal(mesh_verbs_key_range(big, MESH_VERBS_REGION_BYTES_MAX - 8, 9), -ERANGE);
}

static void region_check_refuses_what_cannot_be_exposed(void **state)
{
	(void)state;
	static uint8_t buf[64];
	assert_int_equal(mesh_verbs_region_check(buf, sizeof(buf), MESH_RMA_READ), 0);
	assert_int_equal(mesh_verbs_region_check(buf, sizeof(buf), MESH_RMA_WRITE), 0);
	assert_int_equal(
		mesh_verbs_region_check(buf, sizeof(buf), MESH_RMA_READ | MESH_RMA_WRITE), 0);
	assert_int_equal(mesh_verbs_region_check(NULL, sizeof(buf), MESH_RMA_READ), -EINVAL);
	assert_int_equal(mesh_verbs_region_check(buf, 0, MESH_RMA_READ), -EINVAL);
	assert_int_equal(mesh_verbs_region_check(buf, sizeof(buf), 0), -EINVAL);
	assert_int_equal(mesh_verbs_region_check(buf, sizeof(buf), 4), -EINVAL);
	assert_int_equal(mesh_verbs_region_check(buf, (size_t)MESH_VERBS_REGION_BYTES_MAX + 1,
						 MESH_RMA_READ),
			 -EINVAL);
	assert_int_equal(mesh_verbs_region_check((void *)(UINTPTR_MAX - 10), 64, MESH_RMA_READ),
			 -EINVAL);
}

static void region_table_finds_covers_deletes_and_is_bounded(void **state)
{
	(void)state;
	struct mesh_verbs_regions *rs = calloc(1, sizeof(*rs));
	static uint8_t mem[MESH_VERBS_REGION_MAX][16];
	assert_non_null(rs);

	for (unsigned i = 0; i < MESH_VERBS_REGION_MAX; i++) {
		struct mesh_verbs_region r = {
			.key = mesh_verbs_key_make(1000 + i, sizeof(mem[i])),
			.base = mem[i],
			.len = sizeof(mem[i]),
			.access = MESH_RMA_READ,
		};
		assert_int_equal(mesh_verbs_regions_add(rs, &r), 0);
	}
	struct mesh_verbs_region extra = { .key = mesh_verbs_key_make(9, 1), .base = mem[0],
					   .len = 1, .access = MESH_RMA_READ };
	assert_int_equal(mesh_verbs_regions_add(rs, &extra), -ENOSPC);
	assert_int_equal(rs->count, MESH_VERBS_REGION_MAX);

	uint64_t k5 = mesh_verbs_key_make(1005, 16);
	int i5 = mesh_verbs_regions_find(rs, k5);
	assert_true(i5 >= 0);
	assert_ptr_equal(rs->r[i5].base, mem[5]);
	/* Same rkey, another length: not the same key. */
	assert_int_equal(mesh_verbs_regions_find(rs, mesh_verbs_key_make(1005, 15)), -ENOENT);
	assert_int_equal(mesh_verbs_regions_find(rs, mesh_verbs_key_make(5, 16)), -ENOENT);

	/* Cover: inside, whole, at the end; not across the end, not empty. */
	assert_int_equal(mesh_verbs_regions_cover(rs, mem[5] + 3, 4), i5);
	assert_int_equal(mesh_verbs_regions_cover(rs, mem[5], 16), i5);
	assert_int_equal(mesh_verbs_regions_cover(rs, mem[5] + 15, 1), i5);
	assert_int_equal(mesh_verbs_regions_cover(rs, mem[5], 0), -ENOENT);
	assert_int_equal(mesh_verbs_regions_cover(rs, NULL, 4), -ENOENT);
	/* mem[5] + 8 .. mem[6] + 8 straddles two regions: neither holds it. */
	assert_int_equal(mesh_verbs_regions_cover(rs, mem[5] + 8, 16), -ENOENT);
	uint8_t elsewhere[4];
	assert_int_equal(mesh_verbs_regions_cover(rs, elsewhere, sizeof(elsewhere)), -ENOENT);

	/* Delete: the key is gone, the others stay, and the slot is free again. */
	mesh_verbs_regions_del(rs, (unsigned)i5);
	assert_int_equal(mesh_verbs_regions_find(rs, k5), -ENOENT);
	assert_int_equal(mesh_verbs_regions_cover(rs, mem[5] + 3, 4), -ENOENT);
	for (unsigned i = 0; i < MESH_VERBS_REGION_MAX; i++)
		if (i != 5)
			assert_true(mesh_verbs_regions_find(
					    rs, mesh_verbs_key_make(1000 + i, 16)) >= 0);
	assert_int_equal(mesh_verbs_regions_add(rs, &extra), 0);
	free(rs);
}

/* ---- slot pools ---- */

static void pool_hands_out_each_slot_once_and_refuses_bad_puts(void **state)
{
	(void)state;
	struct mesh_verbs_pool p;
	enum { CAP = 17 };
	bool seen[CAP] = { false };

	assert_int_equal(mesh_verbs_pool_init(&p, 0), -EINVAL);
	assert_int_equal(mesh_verbs_pool_init(&p, 65537), -EINVAL);
	assert_int_equal(mesh_verbs_pool_init(&p, CAP), 0);
	assert_int_equal(mesh_verbs_pool_taken(&p), 0);
	for (int i = 0; i < CAP; i++) {
		int s = mesh_verbs_pool_get(&p);
		assert_true(s >= 0 && s < CAP);
		assert_false(seen[s]);
		seen[s] = true;
	}
	assert_int_equal(mesh_verbs_pool_taken(&p), CAP);
	assert_int_equal(mesh_verbs_pool_get(&p), -EAGAIN);

	assert_int_equal(mesh_verbs_pool_put(&p, 3), 0);
	assert_int_equal(mesh_verbs_pool_put(&p, 3), -EINVAL); /* twice */
	assert_int_equal(mesh_verbs_pool_put(&p, CAP), -EINVAL);
	assert_int_equal(mesh_verbs_pool_taken(&p), CAP - 1);
	assert_int_equal(mesh_verbs_pool_get(&p), 3);
	assert_int_equal(mesh_verbs_pool_get(&p), -EAGAIN);
	for (unsigned i = 0; i < CAP; i++)
		assert_int_equal(mesh_verbs_pool_put(&p, i), 0);
	assert_int_equal(mesh_verbs_pool_taken(&p), 0);
	mesh_verbs_pool_fini(&p);
	mesh_verbs_pool_fini(&p); /* twice is harmless */
}

/* ---- with hardware: loopback send and RMA ---- */

#define HW_DEADLINE_MS 5000
#define HW_QUEUE 64

struct hw_side {
	struct mesh_transport *t;
	struct mesh_tp_event q[HW_QUEUE];
	uint8_t data[HW_QUEUE][256];
	unsigned count;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void hw_pump(struct hw_side *s)
{
	struct mesh_tp_event ev[8];
	int n = ops->poll(s->t, ev, 8);
	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		assert_true(s->count < HW_QUEUE);
		s->q[s->count] = ev[i];
		if (ev[i].type == MESH_TP_RECV) {
			assert_true(ev[i].len <= sizeof(s->data[0]));
			memcpy(s->data[s->count], ev[i].data, ev[i].len);
			s->q[s->count].data = s->data[s->count];
		}
		s->count++;
	}
}

/* The bytes of the RECV hw_expect() returned last. */
static uint8_t hw_last[256];

/* Pump both sides until @s has an event of @type; take it out. */
static struct mesh_tp_event hw_expect(struct hw_side *a, struct hw_side *b, struct hw_side *s,
				      enum mesh_tp_event_type type)
{
	int64_t end = now_ms() + HW_DEADLINE_MS;
	for (;;) {
		for (unsigned i = 0; i < s->count; i++) {
			if (s->q[i].type != type)
				continue;
			struct mesh_tp_event e = s->q[i];
			if (e.type == MESH_TP_RECV) {
				memcpy(hw_last, s->data[i], e.len);
				e.data = hw_last;
			}
			memmove(&s->q[i], &s->q[i + 1], (s->count - i - 1) * sizeof(s->q[0]));
			memmove(s->data[i], s->data[i + 1], (s->count - i - 1) * sizeof(s->data[0]));
			s->count--;
			return e;
		}
		if (now_ms() > end)
			fail_msg("no event of type %d within %d ms", type, HW_DEADLINE_MS);
		struct pollfd pfd[2] = { { .fd = ops->wait_fd(a->t), .events = POLLIN },
					 { .fd = ops->wait_fd(b->t), .events = POLLIN } };
		poll(pfd, 2, 10);
		hw_pump(a);
		hw_pump(b);
	}
}

static void loopback_send_and_rma_when_a_device_exists(void **state)
{
	(void)state;
	const char *ip = getenv("MESH_VERBS_TEST_ADDR");
	if (device_count() == 0) {
		print_message("skipped: no RDMA device (ibv_get_device_list returned 0 devices); "
			      "the hardware path is untested here\n");
		skip();
	}
	if (!ip) {
		print_message("skipped: set MESH_VERBS_TEST_ADDR to an IPv4 address of an RDMA "
			      "netdev to run the loopback test\n");
		skip();
	}
	static struct hw_side a, b;
	struct mesh_verbs_options o = { .log = mesh_verbs_log_stderr, .rma_bounce_bytes = 4096 };
	struct mesh_transport_params p = { .fabric = &o, .msg_bytes_max = 256,
					   .rx_bytes = 256 * 8 };
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	assert_int_equal(ops->create(&p, &a.t), 0);
	assert_int_equal(ops->create(&p, &b.t), 0);
	char addr[MESH_VERBS_ADDR_MAX + 1];
	snprintf(addr, sizeof(addr), "%s:0", ip);
	assert_int_equal(ops->listen(a.t, addr), 0);
	snprintf(addr, sizeof(addr), "%s:%d", ip, mesh_verbs_bound_port(a.t));

	struct mesh_conn *c;
	assert_int_equal(ops->connect(b.t, addr, &c), 0);
	struct mesh_iov hello = { "hello", 5 };
	assert_int_equal(ops->send(c, &hello, 1), -EAGAIN); /* not up yet */
	assert_ptr_equal(hw_expect(&a, &b, &b, MESH_TP_CONN_UP).conn, c);
	struct mesh_conn *acc = hw_expect(&a, &b, &a, MESH_TP_CONN_UP).conn;

	assert_int_equal(ops->send(c, &hello, 1), 0);
	struct mesh_tp_event r = hw_expect(&a, &b, &a, MESH_TP_RECV);
	assert_ptr_equal(r.conn, acc);
	assert_int_equal(r.len, 5);
	assert_memory_equal(r.data, "hello", 5);

	static uint8_t region[4096];
	uint64_t key;
	assert_int_equal(ops->mr_expose(a.t, region, sizeof(region),
					MESH_RMA_READ | MESH_RMA_WRITE, &key),
			 0);
	uint8_t out[8] = "written!", in[8] = { 0 };
	assert_int_equal(ops->rma_write(c, key, 100, out, sizeof(out), 1), 0);
	struct mesh_tp_event e = hw_expect(&a, &b, &b, MESH_TP_RMA_DONE);
	assert_int_equal(e.cookie, 1);
	assert_int_equal(e.status, 0);
	assert_memory_equal(region + 100, out, sizeof(out));
	assert_int_equal(ops->rma_read(c, key, 100, in, sizeof(in), 2), 0);
	e = hw_expect(&a, &b, &b, MESH_TP_RMA_DONE);
	assert_int_equal(e.status, 0);
	assert_memory_equal(in, out, sizeof(out));
	assert_int_equal(ops->rma_read(c, key, 4090, in, sizeof(in), 3), 0);
	e = hw_expect(&a, &b, &b, MESH_TP_RMA_DONE);
	assert_int_equal(e.cookie, 3);
	assert_int_equal(e.status, -ERANGE);

	assert_int_equal(ops->mr_revoke(a.t, key), 0);
	assert_int_equal(ops->mr_revoke(a.t, key), -ENOENT);
	assert_int_equal(ops->rma_read(c, key, 0, in, sizeof(in), 4), 0);
	e = hw_expect(&a, &b, &b, MESH_TP_RMA_DONE);
	assert_int_equal(e.status, -EACCES);
	assert_int_equal(hw_expect(&a, &b, &b, MESH_TP_CONN_DOWN).status, -EACCES);
	ops->disconnect(c);
	ops->destroy(a.t);
	ops->destroy(b.t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(create_without_a_device_is_enodev_and_names_what_is_missing),
		cmocka_unit_test(create_failure_without_a_log_callback_goes_to_stderr),
		cmocka_unit_test(create_with_a_named_device_that_does_not_exist_names_it),
		cmocka_unit_test(create_rejects_bad_params_with_einval_naming_the_value),
		cmocka_unit_test(ops_table_is_verbs_with_every_rma_slot),
		cmocka_unit_test(config_fills_defaults_and_accepts_every_limit_exactly),
		cmocka_unit_test(
			device_pick_takes_the_first_or_the_named_and_names_what_is_missing),
		cmocka_unit_test(addresses_parse_host_port_and_bad_ones_are_einval),
		cmocka_unit_test(
			wc_status_maps_remote_access_to_eacces_and_every_failure_to_an_errno),
		cmocka_unit_test(cm_status_maps_how_a_connection_ended),
		cmocka_unit_test(keys_carry_rkey_and_length_and_bound_every_access),
		cmocka_unit_test(region_check_refuses_what_cannot_be_exposed),
		cmocka_unit_test(region_table_finds_covers_deletes_and_is_bounded),
		cmocka_unit_test(pool_hands_out_each_slot_once_and_refuses_bad_puts),
		cmocka_unit_test(loopback_send_and_rma_when_a_device_exists),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
