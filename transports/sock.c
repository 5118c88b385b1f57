/*
 * transports/sock.c: nonblocking TCP sockets for the transports (see sock.h).
 */
#include "transports/sock.h"

#include <assert.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <unistd.h>

void mesh_sock_tune(int fd, const struct mesh_sock_tuning *tu)
{
	int one = 1;

	assert(tu);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (tu->buf_bytes) {
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &tu->buf_bytes, sizeof(tu->buf_bytes));
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &tu->buf_bytes, sizeof(tu->buf_bytes));
	}
}

int mesh_sock_listen(int epfd, void *tag, struct sockaddr_in *sa, int backlog,
		     const struct mesh_sock_tuning *tu)
{
	assert(sa && backlog > 0);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (tu)
		mesh_sock_tune(fd, tu);
	socklen_t sl = sizeof(*sa);
	struct epoll_event ee = { .events = EPOLLIN, .data.ptr = tag };
	if (bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 || listen(fd, backlog) < 0 ||
	    getsockname(fd, (struct sockaddr *)sa, &sl) < 0 ||
	    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ee) < 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

int mesh_sock_connect(const struct sockaddr_in *sa, const struct mesh_sock_tuning *tu)
{
	assert(sa && tu);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	mesh_sock_tune(fd, tu);
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 && errno != EINPROGRESS &&
	    errno != EINTR) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}
