/*
 * notify - wake the daemon when a followed file changes (inotify), with polling as the fallback
 *
 * The directory of each followed path is watched, not the file: rotation replaces the file,
 * and a new one appears under the same name. Events only shorten the sleep; the readers
 * always poll too, so a missed event (an overflow, a file system without inotify such as some
 * network mounts) costs at most one poll interval.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "collector/collector.h"
#include "util/util.h"

#define NOTIFY_MAX_FDS 64

struct notify {
    int fd; /* inotify, or -1 */
    int extra[NOTIFY_MAX_FDS];
    size_t nextra;
};

/* notify_open - an inotify instance (without inotify: one that only sleeps, the caller polls) */
struct notify *notify_open(void)
{
    struct notify *n = xcalloc(1, sizeof(*n));

    n->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (n->fd < 0)
        log_warn("inotify unavailable (%s); polling only", strerror(errno));
    return n;
}

/* notify_add_fd - also wake when fd is readable (a syslog listener's epoll set, the journal);
 * beyond NOTIFY_MAX_FDS, fd is read at each poll interval only */
void notify_add_fd(struct notify *n, int fd)
{
    if (n->nextra == NOTIFY_MAX_FDS) {
        log_warn("more than %d sockets and journals to wake on; the others are polled",
                 NOTIFY_MAX_FDS);
        return;
    }
    n->extra[n->nextra++] = fd;
}

/* notify_watch - watch the directory that holds path */
void notify_watch(struct notify *n, const char *path)
{
    char dir[4096];
    char *slash;

    if (n->fd < 0)
        return;
    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == dir)
        dir[1] = 0;
    else
        *slash = 0;
    if (inotify_add_watch(n->fd, dir,
                          IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
                              IN_CLOSE_WRITE | IN_ATTRIB) < 0)
        log_warn("cannot watch %s (%s); polling it", dir, strerror(errno));
}

/*
 * notify_wait - until a change or timeout_ms: 2 an added descriptor is readable, 1 a watched
 * file changed, 0 timeout, -1 interrupted. File events are consumed here; a descriptor stays
 * readable until its reader takes what waits on it.
 */
int notify_wait(struct notify *n, int timeout_ms)
{
    struct pollfd pfd[NOTIFY_MAX_FDS + 1];
    char drain[4096];
    nfds_t np = 0;
    int r;

    if (n->fd >= 0) {
        pfd[np].fd = n->fd;
        pfd[np++].events = POLLIN;
    }
    for (size_t i = 0; i < n->nextra; i++) {
        pfd[np].fd = n->extra[i];
        pfd[np++].events = POLLIN;
    }
    r = poll(pfd, np, timeout_ms);
    if (r <= 0)
        return r < 0 ? -1 : 0;
    if (n->fd >= 0 && (pfd[0].revents & POLLIN)) {
        while (read(n->fd, drain, sizeof(drain)) > 0)
            ;
        if (r == 1)
            return 1;
    }
    return 2;
}

/* notify_close - close and free */
void notify_close(struct notify *n)
{
    if (n == NULL)
        return;
    if (n->fd >= 0)
        close(n->fd);
    x_free(n);
}
