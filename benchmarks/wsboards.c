/* Many hall-board websockets in one process, in C, so the boards cost the server's cores
 * little (a Python websockets client spends ~30 µs per frame; 5,000 boards at 4 frames per
 * second each would take most of a core).
 *
 * Usage: wsboards HOST PORT PATH COUNT
 *   Opens COUNT websockets to ws://HOST:PORT/PATH (at most 100 handshakes in flight), reads
 *   each one's first message (the snapshot), then prints "ready OPEN FAILED" and records
 *   every text frame holding "ticket.called": board index, the ticket's number, and the
 *   wall-clock receive time. Answers pings. When a line arrives on stdin (or stdin closes)
 *   it prints one line per record, "R board number seconds", then "closed N" (boards the
 *   server closed) and exits. Built by benchmarks/bench_ws.py with `cc -O2`.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { CONNECTING, HANDSHAKE, SNAPSHOT, LIVE, DEAD };

typedef struct {
    int fd, state;
    char *buf;
    size_t len, cap;
} board_t;

typedef struct {
    int board;
    char number[12];
    double at;
} record_t;

static record_t *records;
static size_t nrec, caprec;

static double wall(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void record(int board, const char *payload, size_t n, double at) {
    if (!memmem(payload, n, "\"ticket.called\"", 15)) return;
    const char *t = memmem(payload, n, "\"ticket\"", 8);
    if (!t) return;
    const char *num = memmem(t, n - (size_t)(t - payload), "\"number\"", 8);
    if (!num) return;
    const char *p = num + 8, *end = payload + n;
    while (p < end && (*p == ' ' || *p == ':')) p++;
    if (p >= end || *p != '"') return;
    p++;
    if (nrec == caprec) {
        caprec = caprec ? caprec * 2 : 65536;
        records = realloc(records, caprec * sizeof(record_t));
    }
    record_t *r = &records[nrec++];
    size_t k = 0;
    while (p < end && *p != '"' && k < sizeof r->number - 1) r->number[k++] = *p++;
    r->number[k] = 0;
    r->board = board;
    r->at = at;
}

static void send_masked(int fd, int opcode, const char *data, size_t n) {
    unsigned char frame[140];
    if (n > 125) n = 125;
    frame[0] = 0x80 | (unsigned char)opcode;
    frame[1] = 0x80 | (unsigned char)n;
    memset(frame + 2, 0, 4); /* a zero mask: the payload goes as is */
    memcpy(frame + 6, data, n);
    if (write(fd, frame, 6 + n) < 0) { /* the read side will see the failure */ }
}

/* Consume complete frames from b->buf; returns 0, or -1 when the server closed. */
static int frames(board_t *b, int index, double at, long *snapshots) {
    size_t off = 0;
    for (;;) {
        size_t avail = b->len - off;
        unsigned char *h = (unsigned char *)b->buf + off;
        if (avail < 2) break;
        int opcode = h[0] & 0x0f;
        uint64_t n = h[1] & 0x7f;
        size_t head = 2;
        if (n == 126) {
            if (avail < 4) break;
            n = ((uint64_t)h[2] << 8) | h[3];
            head = 4;
        } else if (n == 127) {
            if (avail < 10) break;
            n = 0;
            for (int i = 0; i < 8; i++) n = (n << 8) | h[2 + i];
            head = 10;
        }
        if (avail < head + n) break;
        const char *payload = (const char *)h + head;
        if (opcode == 8) return -1;
        if (opcode == 9) send_masked(b->fd, 10, payload, (size_t)n);
        if (opcode == 1) {
            if (b->state == SNAPSHOT) {
                b->state = LIVE;
                (*snapshots)++;
            } else {
                record(index, payload, (size_t)n, at);
            }
        }
        off += head + (size_t)n;
    }
    memmove(b->buf, b->buf + off, b->len - off);
    b->len -= off;
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s HOST PORT PATH COUNT\n", argv[0]);
        return 2;
    }
    const char *host = argv[1], *path = argv[3];
    int port = atoi(argv[2]), count = atoi(argv[4]);
    board_t *boards = calloc(count, sizeof(board_t));
    char request[1024];
    int reqlen = snprintf(request, sizeof request,
        "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        path, host, port);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &addr.sin_addr);
    int ep = epoll_create1(0);
    struct epoll_event in = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
    fcntl(0, F_SETFL, O_NONBLOCK);
    epoll_ctl(ep, EPOLL_CTL_ADD, 0, &in);

    int next = 0, inflight = 0, failed = 0, ready_said = 0, closed = 0;
    long snapshots = 0;
    struct epoll_event events[512];
    char chunk[65536];
    for (;;) {
        while (next < count && inflight < 100) {
            board_t *b = &boards[next];
            b->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            int one = 1;
            setsockopt(b->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            b->cap = 8192;
            b->buf = malloc(b->cap);
            b->state = CONNECTING;
            connect(b->fd, (struct sockaddr *)&addr, sizeof addr);
            struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u32 = (uint32_t)next};
            epoll_ctl(ep, EPOLL_CTL_ADD, b->fd, &ev);
            next++;
            inflight++;
        }
        if (!ready_said && next == count && inflight == 0) {
            printf("ready %ld %d\n", snapshots, failed);
            fflush(stdout);
            ready_said = 1;
        }
        int n = epoll_wait(ep, events, 512, 1000);
        double at = wall();
        for (int k = 0; k < n; k++) {
            uint32_t i = events[k].data.u32;
            if (i == UINT32_MAX) {
                char line[64];
                ssize_t got = read(0, line, sizeof line);
                if (got == 0 || (got > 0 && memchr(line, '\n', (size_t)got))) goto done;
                continue;
            }
            board_t *b = &boards[i];
            if (b->state == CONNECTING) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(b->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err || write(b->fd, request, (size_t)reqlen) != reqlen) {
                    b->state = DEAD; failed++; inflight--;
                    epoll_ctl(ep, EPOLL_CTL_DEL, b->fd, NULL); close(b->fd);
                    continue;
                }
                b->state = HANDSHAKE;
                struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
                epoll_ctl(ep, EPOLL_CTL_MOD, b->fd, &ev);
                continue;
            }
            ssize_t got = read(b->fd, chunk, sizeof chunk);
            if (got < 0 && errno == EAGAIN) continue;
            if (got <= 0) {
                if (b->state == HANDSHAKE || b->state == SNAPSHOT) { failed++; inflight--; }
                else if (b->state == LIVE) closed++;
                b->state = DEAD;
                epoll_ctl(ep, EPOLL_CTL_DEL, b->fd, NULL); close(b->fd);
                continue;
            }
            if (b->len + (size_t)got > b->cap) {
                while (b->len + (size_t)got > b->cap) b->cap *= 2;
                b->buf = realloc(b->buf, b->cap);
            }
            memcpy(b->buf + b->len, chunk, (size_t)got);
            b->len += (size_t)got;
            if (b->state == HANDSHAKE) {
                char *end = memmem(b->buf, b->len, "\r\n\r\n", 4);
                if (!end) continue;
                if (b->len < 12 || memcmp(b->buf + 9, "101", 3) != 0) {
                    b->state = DEAD; failed++; inflight--;
                    epoll_ctl(ep, EPOLL_CTL_DEL, b->fd, NULL); close(b->fd);
                    continue;
                }
                size_t head = (size_t)(end - b->buf) + 4;
                memmove(b->buf, b->buf + head, b->len - head);
                b->len -= head;
                b->state = SNAPSHOT;
            }
            int was = b->state;
            if (frames(b, (int)i, at, &snapshots) < 0) {
                if (was == SNAPSHOT) { failed++; inflight--; } else closed++;
                b->state = DEAD;
                epoll_ctl(ep, EPOLL_CTL_DEL, b->fd, NULL); close(b->fd);
                continue;
            }
            if (was == SNAPSHOT && b->state == LIVE) inflight--;
        }
    }
done:
    for (size_t r = 0; r < nrec; r++)
        printf("R %d %s %.6f\n", records[r].board, records[r].number, records[r].at);
    printf("closed %d\n", closed);
    return 0;
}
