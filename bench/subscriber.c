/*
 * The eventing benchmark's subscriber (bench/eventing_bench.py): measuring equipment, so
 * compiled, as Knative's benchmarks use Go receivers, to take as little CPU as it can from
 * the system under test.
 *
 * A single-threaded epoll HTTP/1.1 server on 127.0.0.1 (the kernel picks the port, which is
 * printed on stdout followed by a newline). Keep-alive connections, pipelined requests.
 * Any request whose path does not start with "/_" is an event: its ce-id header and its
 * arrival time (CLOCK_MONOTONIC, the clock of Python's time.monotonic) are recorded and it
 * is answered 202. "POST /_count" answers how many events arrived; "POST /_connections" how
 * many connections were accepted; "POST /_arrivals/P" a JSON object mapping each recorded
 * ce-id starting with P to the list of its arrival times.
 * Header values and the path are bytes, read as Latin-1 (as Shoal's Python server does).
 *
 * Serves until stdin reaches end of file or SIGTERM arrives. No dependencies beyond libc.
 *
 *   cc -O2 -Wall -Wextra -o subscriber bench/subscriber.c
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEAD (64 * 1024)         /* request line and headers */
#define MAX_BODY (8 * 1024 * 1024)   /* content-length */
#define READ_CHUNK (64 * 1024)       /* free space wanted before each read */
#define OUT_HIGH (4 * 1024 * 1024)   /* stop reading a connection with this much unsent */
#define MAX_EVENTS 256

/* ---- small helpers ------------------------------------------------------------------- */

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void *xrealloc(void *p, size_t size) {
    void *q = realloc(p, size ? size : 1);
    if (q == NULL) {
        fputs("subscriber: out of memory\n", stderr);
        exit(1);
    }
    return q;
}

/* A growable byte buffer; data[off, len) is what has not been consumed yet. */
struct buf {
    char *data;
    size_t off, len, cap;
};

static void buf_reserve(struct buf *b, size_t more) {
    if (b->off > 0 && b->cap - b->len < more) {
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
    }
    if (b->cap - b->len < more) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len < more)
            cap *= 2;
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
    }
}

static void buf_put(struct buf *b, const void *data, size_t size) {
    buf_reserve(b, size);
    memcpy(b->data + b->len, data, size);
    b->len += size;
}

static void buf_str(struct buf *b, const char *s) { buf_put(b, s, strlen(s)); }

static void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void buf_printf(struct buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    buf_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void buf_free(struct buf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

static int ieq(const char *a, size_t alen, const char *b) {
    size_t blen = strlen(b);
    return alen == blen && strncasecmp(a, b, blen) == 0;
}

static const char *trim(const char *s, const char *end, size_t *len) {
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *len = (size_t)(end - s);
    return s;
}

static double monotonic_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- recorded events ----------------------------------------------------------------- */

/* Each event: its arrival time and where its id is in the id arena (offset << 16 | length;
 * an id is a header value, shorter than MAX_HEAD). */
struct event {
    double t;
    uint64_t ref;
};

static struct event *events;
static size_t n_events, cap_events;
static struct buf ids; /* every event's id, back to back */
static uint64_t event_count;
static uint64_t accept_count;

static void record(const char *id, size_t len, double t) {
    if (n_events == cap_events) {
        cap_events = cap_events ? cap_events * 2 : 65536;
        events = xrealloc(events, cap_events * sizeof *events);
    }
    uint64_t off = ids.len;
    buf_put(&ids, id, len);
    events[n_events].t = t;
    events[n_events].ref = off << 16 | (uint64_t)len;
    n_events++;
    event_count++;
}

static const char *event_id(size_t i, size_t *len) {
    *len = (size_t)(events[i].ref & 0xffff);
    return ids.data + (events[i].ref >> 16);
}

static uint64_t hash_bytes(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* A JSON string literal of the bytes s[0, len), each byte one character (Latin-1). */
static void json_string(struct buf *b, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    buf_reserve(b, len * 6 + 2);
    char *o = b->data + b->len;
    *o++ = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            *o++ = '\\';
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        } else {
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
}

/* The JSON answer of /_arrivals/PREFIX: ids in order of first arrival, each with its
 * arrival times in order. The events whose id matches are grouped by id in a hash table
 * built for this answer. */
static void arrivals_json(struct buf *out, const char *prefix, size_t plen) {
    size_t n = 0;
    size_t *match = NULL;  /* indexes of the matching events */
    for (size_t i = 0; i < n_events; i++) {
        size_t len;
        const char *id = event_id(i, &len);
        if (len >= plen && memcmp(id, prefix, plen) == 0) {
            if ((n & (n - 1)) == 0)  /* n is 0 or a power of two: grow */
                match = xrealloc(match, (n ? n * 2 : 1) * sizeof *match);
            match[n++] = i;
        }
    }
    size_t slots = 16;
    while (slots < n * 2)
        slots *= 2;
    /* table: slot -> group + 1 (0 empty); a group is its first and last match, and
     * next[k] is the match after k in the same group (SIZE_MAX: none) */
    size_t *table = calloc(slots, sizeof *table);
    size_t *first = xrealloc(NULL, (n ? n : 1) * sizeof *first);
    size_t *last = xrealloc(NULL, (n ? n : 1) * sizeof *last);
    size_t *next = xrealloc(NULL, (n ? n : 1) * sizeof *next);
    if (table == NULL)
        die("calloc");
    size_t groups = 0;
    for (size_t k = 0; k < n; k++) {
        size_t len;
        const char *id = event_id(match[k], &len);
        size_t slot = (size_t)hash_bytes(id, len) & (slots - 1);
        next[k] = SIZE_MAX;
        for (;;) {
            size_t g = table[slot];
            if (g == 0) {
                table[slot] = ++groups;
                first[groups - 1] = last[groups - 1] = k;
                break;
            }
            size_t glen;
            const char *gid = event_id(match[first[g - 1]], &glen);
            if (glen == len && memcmp(gid, id, len) == 0) {
                next[last[g - 1]] = k;
                last[g - 1] = k;
                break;
            }
            slot = (slot + 1) & (slots - 1);
        }
    }
    buf_put(out, "{", 1);
    for (size_t g = 0; g < groups; g++) {
        size_t len;
        const char *id = event_id(match[first[g]], &len);
        if (g > 0)
            buf_put(out, ", ", 2);
        json_string(out, id, len);
        buf_put(out, ": [", 3);
        for (size_t k = first[g]; k != SIZE_MAX; k = next[k]) {
            buf_reserve(out, 48);
            int w = snprintf(out->data + out->len, 48, k == first[g] ? "%.9f" : ", %.9f",
                             events[match[k]].t);
            if (w > 0 && w < 48)
                out->len += (size_t)w;
        }
        buf_put(out, "]", 1);
    }
    buf_put(out, "}", 1);
    free(match);
    free(table);
    free(first);
    free(last);
    free(next);
}

/* ---- connections --------------------------------------------------------------------- */

struct conn {
    int fd;
    int closing;    /* answer what was parsed, then close */
    int reading;    /* EPOLLIN is in the interest set */
    int writing;    /* EPOLLOUT is in the interest set */
    struct buf in, out;
};

static int epfd;
static struct conn **conns; /* by fd */
static size_t n_conns;
static struct buf scratch;  /* bodies of /_ answers are built here */

static void respond(struct conn *c, int status, const char *reason, const char *type,
                    const char *body, size_t len) {
    buf_printf(&c->out, "HTTP/1.1 %d %s\r\n", status, reason);
    if (type != NULL)
        buf_printf(&c->out, "content-type: %s\r\n", type);
    if (c->closing)
        buf_str(&c->out, "connection: close\r\n");
    buf_printf(&c->out, "content-length: %zu\r\n\r\n", len);
    buf_put(&c->out, body, len);
}

static void fail(struct conn *c, int status, const char *reason) {
    c->closing = 1;
    respond(c, status, reason, "text/plain", reason, strlen(reason));
}

static void handle(struct conn *c, const char *method, size_t mlen, const char *path,
                   size_t plen, const char *id, size_t idlen) {
    if (plen < 2 || path[0] != '/' || path[1] != '_') {
        record(id, idlen, monotonic_now());
        static const char accepted[] = "HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n";
        if (c->closing)
            respond(c, 202, "Accepted", NULL, "", 0);
        else
            buf_put(&c->out, accepted, sizeof accepted - 1);
        return;
    }
    int is_count = plen == 7 && memcmp(path, "/_count", 7) == 0;
    int is_connections = plen == 13 && memcmp(path, "/_connections", 13) == 0;
    int is_arrivals = plen >= 11 && memcmp(path, "/_arrivals/", 11) == 0;
    if (!is_count && !is_connections && !is_arrivals) {
        respond(c, 404, "Not Found", "text/plain", "not found", 9);
        return;
    }
    if (!ieq(method, mlen, "POST") && !ieq(method, mlen, "GET")) {
        respond(c, 405, "Method Not Allowed", "text/plain", "method not allowed", 18);
        return;
    }
    scratch.off = scratch.len = 0;
    if (is_count || is_connections) {
        buf_printf(&scratch, "%llu",
                   (unsigned long long)(is_count ? event_count : accept_count));
        respond(c, 200, "OK", NULL, scratch.data, scratch.len);
    } else {
        arrivals_json(&scratch, path + 11, plen - 11);
        respond(c, 200, "OK", "application/json", scratch.data, scratch.len);
    }
    if (scratch.cap > 16 * 1024 * 1024)
        buf_free(&scratch);
}

/* Parse and answer every complete request in c->in. */
static void process(struct conn *c) {
    struct buf *in = &c->in;
    while (!c->closing && in->len > in->off) {
        const char *start = in->data + in->off;
        size_t avail = in->len - in->off;
        const char *end = memmem(start, avail, "\r\n\r\n", 4);
        if (end == NULL) {
            if (avail > MAX_HEAD)
                fail(c, 431, "Request Header Fields Too Large");
            return;
        }
        size_t head = (size_t)(end - start) + 4;
        if (head > MAX_HEAD) {
            fail(c, 431, "Request Header Fields Too Large");
            return;
        }
        /* request line: METHOD SP target SP version */
        const char *line_end = memmem(start, head, "\r\n", 2);
        const char *sp1 = memchr(start, ' ', (size_t)(line_end - start));
        const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(line_end - sp1 - 1)) : NULL;
        if (sp1 == NULL || sp2 == NULL || sp1 == start || sp2 == sp1 + 1) {
            fail(c, 400, "Bad Request");
            return;
        }
        const char *method = start;
        size_t mlen = (size_t)(sp1 - start);
        const char *target = sp1 + 1;
        const char *q = memchr(target, '?', (size_t)(sp2 - target));
        size_t plen = (size_t)((q ? q : sp2) - target);
        const char *version = sp2 + 1;
        size_t vlen = (size_t)(line_end - version);
        int keep_alive = !ieq(version, vlen, "HTTP/1.0");

        /* headers */
        size_t body_len = 0;
        const char *id = "";
        size_t idlen = 0;
        const char *p = line_end + 2;
        const char *head_end = start + head - 2;
        while (p < head_end) {
            const char *eol = memmem(p, (size_t)(head_end - p) + 2, "\r\n", 2);
            const char *colon = memchr(p, ':', (size_t)(eol - p));
            if (colon == NULL || colon == p) {
                fail(c, 400, "Bad Request");
                return;
            }
            size_t nlen = (size_t)(colon - p), vl;
            const char *value = trim(colon + 1, eol, &vl);
            if (ieq(p, nlen, "content-length")) {
                if (vl == 0 || vl > 10) {
                    fail(c, vl ? 413 : 400, vl ? "Content Too Large" : "Bad Request");
                    return;
                }
                size_t n = 0;
                for (size_t i = 0; i < vl; i++) {
                    if (value[i] < '0' || value[i] > '9') {
                        fail(c, 400, "Bad Request");
                        return;
                    }
                    n = n * 10 + (size_t)(value[i] - '0');
                }
                body_len = n;
            } else if (ieq(p, nlen, "transfer-encoding")) {
                fail(c, 411, "Length Required");
                return;
            } else if (ieq(p, nlen, "connection")) {
                /* a list of tokens: close, keep-alive */
                const char *t = value, *vend = value + vl;
                while (t < vend) {
                    const char *comma = memchr(t, ',', (size_t)(vend - t));
                    const char *tend = comma ? comma : vend;
                    size_t tl;
                    const char *tok = trim(t, tend, &tl);
                    if (ieq(tok, tl, "close"))
                        keep_alive = 0;
                    else if (ieq(tok, tl, "keep-alive"))
                        keep_alive = 1;
                    t = tend + 1;
                }
            } else if (ieq(p, nlen, "ce-id")) {
                id = value;
                idlen = vl;
            }
            p = eol + 2;
        }
        if (body_len > MAX_BODY) {
            fail(c, 413, "Content Too Large");
            return;
        }
        if (avail < head + body_len) {
            buf_reserve(in, head + body_len - avail);  /* the rest of the body fits */
            return;
        }
        in->off += head + body_len;  /* data stays in place until the next read */
        if (!keep_alive)
            c->closing = 1;
        handle(c, method, mlen, target, plen, id, idlen);
    }
}

static void set_interest(struct conn *c) {
    size_t pending = c->out.len - c->out.off;
    int reading = !c->closing && pending < OUT_HIGH;
    int writing = pending > 0;
    if (reading == c->reading && writing == c->writing)
        return;
    struct epoll_event ev = {0};
    ev.events = (reading ? EPOLLIN : 0) | (writing ? EPOLLOUT : 0);
    ev.data.fd = c->fd;
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        die("epoll_ctl");
    c->reading = reading;
    c->writing = writing;
}

static void conn_close(struct conn *c) {
    close(c->fd);  /* also leaves the epoll set */
    conns[c->fd] = NULL;
    buf_free(&c->in);
    buf_free(&c->out);
    free(c);
}

/* Write what is pending; 0 when the connection is done with (closed here), else 1. */
static int flush(struct conn *c) {
    struct buf *out = &c->out;
    while (out->len > out->off) {
        ssize_t w = write(c->fd, out->data + out->off, out->len - out->off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            conn_close(c);
            return 0;
        }
        out->off += (size_t)w;
    }
    if (out->off == out->len) {
        out->off = out->len = 0;
        if (out->cap > 1024 * 1024)
            buf_free(out);
        if (c->closing) {
            conn_close(c);
            return 0;
        }
    }
    set_interest(c);
    return 1;
}

static void conn_read(struct conn *c) {
    struct buf *in = &c->in;
    if (in->off == in->len)
        in->off = in->len = 0;
    buf_reserve(in, READ_CHUNK);
    ssize_t r = read(c->fd, in->data + in->len, in->cap - in->len);
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        conn_close(c);
        return;
    }
    if (r == 0) {  /* the peer is done sending: answer what it sent, then close */
        process(c);
        c->closing = 1;
        flush(c);
        return;
    }
    in->len += (size_t)r;
    process(c);
    if (in->off == in->len && in->cap > 1024 * 1024)
        buf_free(in);
    flush(c);
}

static void accept_all(int listener) {
    for (;;) {
        int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                perror("subscriber: accept");
            return;
        }
        accept_count++;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if ((size_t)fd >= n_conns) {
            size_t n = n_conns ? n_conns : 64;
            while (n <= (size_t)fd)
                n *= 2;
            conns = xrealloc(conns, n * sizeof *conns);
            memset(conns + n_conns, 0, (n - n_conns) * sizeof *conns);
            n_conns = n;
        }
        struct conn *c = xrealloc(NULL, sizeof *c);
        memset(c, 0, sizeof *c);
        c->fd = fd;
        c->reading = 1;
        struct epoll_event ev = {0};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
            die("epoll_ctl");
        conns[fd] = c;
    }
}

/* ---- main ---------------------------------------------------------------------------- */

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }

    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &term, NULL) < 0)
        die("sigprocmask");
    int sigfd = signalfd(-1, &term, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sigfd < 0)
        die("signalfd");

    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listener < 0)
        die("socket");
    int one = 1;
    if (setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        die("setsockopt");
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0)
        die("bind");
    if (listen(listener, 1024) < 0)
        die("listen");
    socklen_t alen = sizeof addr;
    if (getsockname(listener, (struct sockaddr *)&addr, &alen) < 0)
        die("getsockname");

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        die("epoll_create1");
    struct epoll_event ev = {0};
    ev.events = EPOLLIN;
    ev.data.fd = listener;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, listener, &ev) < 0)
        die("epoll_ctl");
    ev.data.fd = sigfd;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, sigfd, &ev) < 0)
        die("epoll_ctl");
    ev.data.fd = STDIN_FILENO;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, STDIN_FILENO, &ev) < 0)
        /* a regular file or /dev/null cannot be watched: serve until SIGTERM */
        fputs("subscriber: stdin cannot be watched; stop it with SIGTERM\n", stderr);

    printf("%d\n", ntohs(addr.sin_port));
    if (fflush(stdout) != 0)
        die("stdout");

    struct epoll_event ready[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(epfd, ready, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            int fd = ready[i].data.fd;
            uint32_t what = ready[i].events;
            if (fd == listener) {
                accept_all(listener);
            } else if (fd == sigfd) {
                return 0;
            } else if (fd == STDIN_FILENO) {
                char sink[4096];
                ssize_t r = read(STDIN_FILENO, sink, sizeof sink);
                if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
                    return 0;
            } else {
                struct conn *c = (size_t)fd < n_conns ? conns[fd] : NULL;
                if (c == NULL)
                    continue;
                if (what & EPOLLOUT) {
                    if (!flush(c))
                        continue;
                }
                if (what & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                    if (c->reading || (what & (EPOLLHUP | EPOLLERR)))
                        conn_read(c);
                }
            }
        }
    }
}
