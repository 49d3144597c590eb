/* SoupBinTCP round-trip client of `ordex perf binary` (order_ack), and the loopback floor it is
 * measured against.  Compiled at run time by perf/binary_client.py (cc -O2), never committed as
 * a binary.  C rather than Python: the asyncio client's own ping-pong floor (~26 us p50 on uvloop)
 * is as large as the target, so it would hide the server's share of the round trip.
 *
 *   soup_pingpong client --port P --login FILE --orders FILE --stride N --ref-offset K
 *                        --out FILE
 *       Sends the Login Request packet in --login, waits for Login Accepted ('A'; 'J' fails),
 *       then sends the packets of --orders (--stride bytes each) one at a time: each is written,
 *       then the client reads until the Sequenced Data packet answering it arrives (OUCH Order
 *       Accepted 'A' or Order Rejected 'J' whose UserRefNum, u32 big-endian at message offset 9,
 *       equals the order's, read from the order packet at --ref-offset).  Other packets
 *       (System Event, heartbeats, other replies) are skipped.  Latency = clock_gettime
 *       (CLOCK_MONOTONIC) after the reply's read minus before the order's write; int64 ns per
 *       order, native order, to --out.  Then logs out (Logout Request) and waits for the
 *       server to close.  Prints "sent=N acked=N rejected=N" on stdout.
 *
 *   soup_pingpong floor --count N --size B --out FILE
 *       The loopback floor: a forked child echoes; the parent writes B bytes and reads B back,
 *       N times, over TCP on 127.0.0.1 with TCP_NODELAY (the same syscalls per round trip as
 *       the client, with no server work).  Latencies to --out as above.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BUF (1 << 20)

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "soup_pingpong: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) die("%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st)) die("%s: %s", path, strerror(errno));
    unsigned char *p = malloc(st.st_size ? st.st_size : 1);
    if (!p || fread(p, 1, st.st_size, f) != (size_t)st.st_size) die("%s: short read", path);
    fclose(f);
    *len = st.st_size;
    return p;
}

static void write_all(int fd, const unsigned char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            die("write: %s", strerror(errno));
        }
        p += w;
        n -= w;
    }
}

static void nodelay(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void save(const char *path, const int64_t *lat, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(lat, sizeof *lat, n, f) != n || fclose(f)) die("%s: cannot write", path);
}

/* Input from the server: packets are framed out of buf[0..len) as they complete. */
static unsigned char *in;
static size_t in_len;

static void fill(int fd) {
    if (in_len == BUF) die("a packet longer than %d bytes", BUF);
    ssize_t r;
    do r = read(fd, in + in_len, BUF - in_len); while (r < 0 && errno == EINTR);
    if (r < 0) die("read: %s", strerror(errno));
    if (r == 0) die("the server closed the connection");
    in_len += r;
}

/* The next complete packet (type at [2], payload from [3]) at *pkt; returns its framed length. */
static size_t next_packet(int fd, unsigned char **pkt) {
    for (;;) {
        if (in_len >= 2) {
            size_t n = 2 + ((size_t)in[0] << 8 | in[1]);
            if (in_len >= n) {
                *pkt = in;
                return n;
            }
        }
        fill(fd);
    }
}

static void consume(size_t n) {
    memmove(in, in + n, in_len - n);
    in_len -= n;
}

static int connect_port(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a))
        die("connect 127.0.0.1:%d: %s", port, strerror(errno));
    nodelay(fd);
    return fd;
}

static int client(int port, const char *login_path, const char *orders_path, size_t stride,
                  size_t ref_offset, const char *out) {
    size_t login_len, orders_len;
    unsigned char *login = slurp(login_path, &login_len);
    unsigned char *orders = slurp(orders_path, &orders_len);
    if (!stride || orders_len % stride || ref_offset + 4 > stride)
        die("--orders is %zu bytes: not whole packets of --stride %zu with a UserRefNum at %zu",
            orders_len, stride, ref_offset);
    size_t n = orders_len / stride;
    int64_t *lat = malloc(n * sizeof *lat + 1);
    in = malloc(BUF);
    int fd = connect_port(port);
    write_all(fd, login, login_len);
    for (;;) {
        unsigned char *p;
        size_t len = next_packet(fd, &p);
        unsigned char t = p[2];
        consume(len);
        if (t == 'A') break;
        if (t == 'J') die("login rejected");
    }
    size_t rejected = 0;
    for (size_t k = 0; k < n; k++) {
        const unsigned char *o = orders + k * stride;
        uint32_t ref = (uint32_t)o[ref_offset] << 24 | o[ref_offset + 1] << 16 |
                       o[ref_offset + 2] << 8 | o[ref_offset + 3];
        int64_t t0 = now_ns();
        write_all(fd, o, stride);
        for (;;) {
            unsigned char *p;
            size_t len = next_packet(fd, &p);
            int answer = 0;
            if (len >= 3 + 13 && p[2] == 'S' && (p[3] == 'A' || p[3] == 'J')) {
                uint32_t got = (uint32_t)p[12] << 24 | p[13] << 16 | p[14] << 8 | p[15];
                if (got == ref) {
                    answer = 1;
                    rejected += p[3] == 'J';
                }
            }
            consume(len);
            if (answer) break;
        }
        lat[k] = now_ns() - t0;
    }
    /* Log out and wait for the server to close: the user is free again when this returns (the
     * benchmark logs the same user in from Python next). */
    write_all(fd, (const unsigned char *)"\0\1O", 3);
    unsigned char sink[4096];
    ssize_t r;
    while ((r = read(fd, sink, sizeof sink)) > 0 || (r < 0 && errno == EINTR)) {}
    save(out, lat, n);
    printf("sent=%zu acked=%zu rejected=%zu\n", n, n, rejected);
    close(fd);
    return 0;
}

static int floor_(size_t count, size_t size, const char *out) {
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 1) ||
        getsockname(ls, (struct sockaddr *)&a, &al))
        die("listen: %s", strerror(errno));
    unsigned char *buf = calloc(1, size + 1);
    pid_t child = fork();
    if (child < 0) die("fork: %s", strerror(errno));
    if (child == 0) {                       /* the echo peer: one write per read */
        int c = accept(ls, NULL, NULL);
        if (c < 0) _exit(1);
        nodelay(c);
        for (;;) {
            ssize_t r = read(c, buf, size);
            if (r <= 0) _exit(0);
            write_all(c, buf, r);
        }
    }
    close(ls);
    int fd = connect_port(ntohs(a.sin_port));
    int64_t *lat = malloc(count * sizeof *lat + 1);
    for (size_t k = 0; k < count; k++) {
        int64_t t0 = now_ns();
        write_all(fd, buf, size);
        size_t got = 0;
        while (got < size) {
            ssize_t r = read(fd, buf + got, size - got);
            if (r <= 0) die("floor: echo peer: %s", r ? strerror(errno) : "closed");
            got += r;
        }
        lat[k] = now_ns() - t0;
    }
    close(fd);
    waitpid(child, NULL, 0);
    save(out, lat, count);
    printf("sent=%zu\n", count);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) die("usage: soup_pingpong client|floor [options]");
    int port = 0;
    size_t stride = 0, ref_offset = 0, count = 0, size = 0;
    const char *login = NULL, *orders = NULL, *out = NULL;
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--port")) port = atoi(v);
        else if (!strcmp(k, "--login")) login = v;
        else if (!strcmp(k, "--orders")) orders = v;
        else if (!strcmp(k, "--stride")) stride = strtoul(v, NULL, 10);
        else if (!strcmp(k, "--ref-offset")) ref_offset = strtoul(v, NULL, 10);
        else if (!strcmp(k, "--count")) count = strtoul(v, NULL, 10);
        else if (!strcmp(k, "--size")) size = strtoul(v, NULL, 10);
        else if (!strcmp(k, "--out")) out = v;
        else die("unknown option %s", k);
    }
    signal(SIGPIPE, SIG_IGN);
    if (!strcmp(argv[1], "client")) {
        if (!port || !login || !orders || !out) die("client needs --port --login --orders --out");
        return client(port, login, orders, stride, ref_offset, out);
    }
    if (!strcmp(argv[1], "floor")) {
        if (!count || !size || !out) die("floor needs --count --size --out");
        return floor_(count, size, out);
    }
    die("unknown command %s", argv[1]);
}
