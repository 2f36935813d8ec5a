/*
 * NAME
 *	srcaddr - make a program's TCP connections leave from a chosen loopback address
 *
 * SYNOPSIS
 *	MAILPULSE_SRC=127.0.0.12 LD_PRELOAD=./srcaddr.so wrk ...
 *
 * DESCRIPTION
 *	An LD_PRELOAD shim for load tools that have no source address option (wrk,
 *	slowhttptest): before each IPv4 connect(), the socket is bound to the address in
 *	MAILPULSE_SRC (the port is left to connect(), IP_BIND_ADDRESS_NO_PORT), so that a
 *	server's per-client-address limits see several clients. Everything else is the real
 *	connect().
 *
 * OWNERSHIP
 *	Nothing is allocated.
 *
 * DIAGNOSTICS
 *	None: a bind that fails (an address that is not local) leaves the connection to the
 *	kernel's choice of source.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);

/* connect - bind to MAILPULSE_SRC first, then the real connect() */
int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    static connect_fn real;
    const char *src = getenv("MAILPULSE_SRC");

    if (real == NULL)
        real = (connect_fn)dlsym(RTLD_NEXT, "connect");
    if (src != NULL && sa != NULL && sa->sa_family == AF_INET) {
        struct sockaddr_in a;
        int one = 1;

        memset(&a, 0, sizeof(a));
        a.sin_family = AF_INET;
        if (inet_pton(AF_INET, src, &a.sin_addr) == 1) {
            setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
            (void)bind(fd, (struct sockaddr *)&a, sizeof(a));
        }
    }
    return real(fd, sa, len);
}
