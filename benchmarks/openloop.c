/* A constant-rate (open-loop) HTTP/1.1 load generator, in C so it costs the server little CPU.
 *
 * Debian's wrk has no -R (that is wrk2), and a closed loop hides stalls: a connection that
 * waits 200 ms sends nothing meanwhile. Here request k is DUE at start + k / rate whatever
 * happened before; it goes out on the first free keep-alive connection, and its latency
 * runs from when it was due (queueing behind a stall counts), as wrk2 measures.
 *
 * Usage: openloop HOST PORT RATE SECONDS CONNECTIONS REQUEST_FILE...
 *   each REQUEST_FILE holds one complete raw request (head + body); they are sent in turn.
 * Prints one JSON object: sent, ok (2xx), errors by status, achieved rate, percentiles (ms),
 * and the slow episodes: runs of 100 ms slots of due time whose worst latency was over
 * SLOW_MS, as [from, to] seconds after start_epoch (wall clock, to match a server's log),
 * worst ms and requests over SLOW_MS.
 * Built by benchmarks/bench_throughput.py with `cc -O2`.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF 65536
#define SLOW_MS 20.0
#define SLOT 0.1

typedef struct {
    int fd;
    int busy;          /* a request is in flight */
    double due;        /* when the request in flight was due */
    char buf[BUF];
    size_t len;
} conn_t;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc(n);
    if (fread(data, 1, n, f) != (size_t)n) { perror(path); exit(2); }
    fclose(f);
    *len = (size_t)n;
    return data;
}

static int dial(const char *host, int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &addr.sin_addr);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("connect"); exit(2); }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

/* Length of a complete response at the start of buf, or 0 if incomplete; *status set. */
static size_t complete(const char *buf, size_t len, int *status) {
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t head = (size_t)(end - buf) + 4;
    *status = atoi(buf + 9);
    long body = 0;
    for (const char *p = buf; p < end; ) {
        const char *eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
        if (!eol) break;
        if (eol - p > 15 && strncasecmp(p, "content-length:", 15) == 0) body = atol(p + 15);
        p = eol + 2;
    }
    return len >= head + (size_t)body ? head + (size_t)body : 0;
}

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: %s HOST PORT RATE SECONDS CONNECTIONS REQUEST_FILE...\n", argv[0]);
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]);
    double rate = atof(argv[3]), seconds = atof(argv[4]);
    int nconn = atoi(argv[5]);
    int nreq = argc - 6;
    char **reqs = malloc(sizeof(char *) * nreq);
    size_t *lens = malloc(sizeof(size_t) * nreq);
    for (int i = 0; i < nreq; i++) reqs[i] = slurp(argv[6 + i], &lens[i]);

    long total = (long)(rate * seconds);
    double *lat = malloc(sizeof(double) * (total + 1));
    long nslots = (long)(seconds / SLOT) + 2;
    double *slot_max = calloc(nslots, sizeof(double));
    long *slot_slow = calloc(nslots, sizeof(long));
    long done = 0, ok = 0, sent = 0, errors[600] = {0}, broken = 0;
    conn_t *conns = calloc(nconn, sizeof(conn_t));
    int ep = epoll_create1(0);
    for (int i = 0; i < nconn; i++) {
        conns[i].fd = dial(host, port);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
    }
    int *freelist = malloc(sizeof(int) * nconn);
    int nfree = nconn;
    for (int i = 0; i < nconn; i++) freelist[i] = nconn - 1 - i;

    double start = now();
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    double start_epoch = wall.tv_sec + wall.tv_nsec / 1e9;
    double deadline = start + seconds + 30.0; /* answers still owed get 30 s */
    struct epoll_event events[256];
    while (done < total && now() < deadline) {
        /* send every request that is due, while a connection is free */
        double t = now();
        while (sent < total && nfree > 0 && start + sent / rate <= t) {
            conn_t *c = &conns[freelist[--nfree]];
            const char *r = reqs[sent % nreq];
            size_t n = lens[sent % nreq];
            c->due = start + sent / rate;
            c->busy = 1;
            c->len = 0;
            if (write(c->fd, r, n) != (ssize_t)n) { perror("write"); return 2; }
            sent++;
        }
        /* sleep until the next request is due (µs resolution: no spinning, no late sends) */
        struct timespec timeout = {.tv_sec = 1, .tv_nsec = 0};
        if (sent < total && nfree > 0) {
            double wait = start + sent / rate - now();
            if (wait < 0) wait = 0;
            timeout.tv_sec = (time_t)wait;
            timeout.tv_nsec = (long)((wait - (double)timeout.tv_sec) * 1e9);
        }
        int n = epoll_pwait2(ep, events, 256, &timeout, NULL);
        for (int k = 0; k < n; k++) {
            conn_t *c = &conns[events[k].data.u32];
            ssize_t got = read(c->fd, c->buf + c->len, BUF - c->len);
            if (got <= 0) {
                if (got < 0 && errno == EAGAIN) continue;
                broken++;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                c->fd = dial(host, port);
                struct epoll_event ev = {.events = EPOLLIN, .data.u32 = events[k].data.u32};
                epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
                /* an idle link the server closed (keep-alive timeout) is on the free list
                   already: only a busy one goes back (twice would overrun the list) */
                if (c->busy) {
                    done++;
                    errors[0]++;
                    c->busy = 0;
                    freelist[nfree++] = (int)events[k].data.u32;
                }
                continue;
            }
            c->len += (size_t)got;
            int status = 0;
            if (c->busy && complete(c->buf, c->len, &status)) {
                double l = now() - c->due;
                if (status >= 200 && status < 300) lat[ok++] = l;
                long slot = (long)((c->due - start) / SLOT);
                if (slot >= 0 && slot < nslots) {
                    if (l > slot_max[slot]) slot_max[slot] = l;
                    if (l * 1000 > SLOW_MS) slot_slow[slot]++;
                }
                else errors[status > 0 && status < 600 ? status : 0]++;
                done++;
                c->busy = 0;
                c->len = 0;
                freelist[nfree++] = (int)events[k].data.u32;
            }
        }
    }
    double span = now() - start;
    qsort(lat, ok, sizeof(double), cmp);
    double ps[] = {50, 90, 99, 99.9, 100};
    const char *names[] = {"p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms"};
    printf("{\"rate\": %.1f, \"seconds\": %.1f, \"connections\": %d, \"sent\": %ld, "
           "\"ok\": %ld, \"unanswered\": %ld, \"broken_connections\": %ld, \"achieved_per_s\": %.1f",
           rate, seconds, nconn, sent, ok, total - done, broken, ok / span);
    for (int i = 0; i < 5; i++) {
        long idx = ok ? (long)(ps[i] / 100.0 * ok + 0.5) - 1 : 0;
        if (idx < 0) idx = 0;
        if (idx >= ok) idx = ok - 1;
        printf(", \"%s\": %.2f", names[i], ok ? lat[idx] * 1000 : -1.0);
    }
    printf(", \"errors\": {");
    int first = 1;
    for (int s = 0; s < 600; s++)
        if (errors[s]) { printf("%s\"%d\": %ld", first ? "" : ", ", s, errors[s]); first = 0; }
    printf("}, \"start_epoch\": %.3f, \"slow_ms\": %.0f, \"episodes\": [", start_epoch, SLOW_MS);
    first = 1;
    for (long i = 0; i < nslots; ) {
        if (slot_max[i] * 1000 <= SLOW_MS) { i++; continue; }
        long j = i, over = 0;
        double worst = 0;
        for (; j < nslots && slot_max[j] * 1000 > SLOW_MS; j++) {
            over += slot_slow[j];
            if (slot_max[j] > worst) worst = slot_max[j];
        }
        printf("%s[%.1f, %.1f, %.1f, %ld]", first ? "" : ", ", i * SLOT, j * SLOT, worst * 1000, over);
        first = 0;
        i = j;
    }
    printf("]}\n");
    return 0;
}
