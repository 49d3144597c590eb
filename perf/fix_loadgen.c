/* FIX 4.4 load generator and trivial acknowledging peer for `ordex perf fix`.
 *
 * Compiled at run time by perf/fix_build.py (cc -O2), never committed as a binary.  C rather
 * than Python so that the generator costs the machine far less than the server it measures:
 * Python would add several microseconds to every round trip and share the machine's two cores
 * with the server less politely.
 *
 *   fix_loadgen client --port P --spec FILE --mode closed|pipelined|open --seconds S
 *                      [--warmup S] [--window W] [--rate R] [--id-prefix X] [--out FILE]
 *       Logs every session of FILE on (ResetSeqNumFlag=Y), sends NewOrderSingle frames built
 *       from FILE's order tails, counts an order acknowledged at its first ExecutionReport
 *       with ExecType 0 (New) or 8 (Rejected), logs out.  Prints one "key=value ..." summary
 *       line on stdout; writes the round trips of the measured orders (int64 ns, native order)
 *       to --out.
 *         closed     one order outstanding per session; latency = ack - send
 *         pipelined  up to --window orders outstanding per session, topped up with one write
 *                    per session per loop iteration
 *         open       --rate orders/s over all sessions on a fixed schedule; latency = ack -
 *                    intended send time, so a stalled server is charged for every order it
 *                    delayed (no coordinated omission)
 *       Orders sent during the first --warmup seconds are not measured.
 *
 *   fix_loadgen ackpeer --port P
 *       A trivial acceptor: answers Logon, TestRequest and Logout, acknowledges every
 *       NewOrderSingle with one ExecutionReport (New), one write per read.  Prints "port=N"
 *       once listening (P = 0 picks a free port).  Runs until SIGTERM.
 *
 * Spec file (written by perf/fix_load.py):  one "S <SenderCompID> <TargetCompID>" line per
 * session, each followed by its "O <fields>" lines, the order mix it cycles through: the
 * NewOrderSingle fields after ClOrdID up to TransactTime's value, '|' for SOH, e.g.
 *     O 1=PERF1|55=SYM1|54=1|38=1|40=2|44=100.01|59=1|60=
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
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
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SOH '\x01'
#define BEGIN "8=FIX.4.4"
#define MAX_SESSIONS 256
#define MAX_TAILS 4096
#define MAX_TAIL 512                 /* bytes of one order's fields: the frame is built in 1 KiB */
#define RING (1u << 20)              /* outstanding orders per session, at most RING - 1 */
#define READ_CHUNK (256 * 1024)
#define MAX_MSG 8192

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fix_loadgen: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- growable byte buffers --------------------------------------------------------------- */

typedef struct { char *p; size_t len, cap, off; } buf_t;   /* data is p[off .. len) */

static void buf_reserve(buf_t *b, size_t extra) {
    if (b->off && b->off == b->len) b->off = b->len = 0;
    if (b->len + extra <= b->cap) return;
    if (b->off) {                                   /* compact before growing */
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->len + extra <= b->cap) return;
    }
    size_t cap = b->cap ? b->cap : 65536;
    while (cap < b->len + extra) cap *= 2;
    b->p = realloc(b->p, cap);
    if (!b->p) die("out of memory");
    b->cap = cap;
}

/* ---- FIX framing ------------------------------------------------------------------------- */

/* SendingTime/TransactTime "YYYYMMDD-HH:MM:SS.sss", the date part reformatted once a second. */
static char stamp[22];
static time_t stamp_sec = -1;

static const char *utc_stamp(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != stamp_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        strftime(stamp, sizeof stamp, "%Y%m%d-%H:%M:%S", &tm);
        stamp_sec = ts.tv_sec;
    }
    int ms = (int)(ts.tv_nsec / 1000000);
    stamp[17] = '.';
    stamp[18] = (char)('0' + ms / 100);
    stamp[19] = (char)('0' + ms / 10 % 10);
    stamp[20] = (char)('0' + ms % 10);
    stamp[21] = 0;
    return stamp;
}

static char *put_u64(char *p, uint64_t v) {
    char tmp[24];
    int n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n) *p++ = tmp[--n];
    return p;
}

static char *put_str(char *p, const char *s, size_t n) {
    memcpy(p, s, n);
    return p + n;
}

#define PUT_LIT(p, lit) put_str((p), (lit), sizeof(lit) - 1)

/* Frame a body (from "35=" on) into out: BeginString, BodyLength, body, CheckSum. */
static void frame(buf_t *out, const char *body, size_t n) {
    char head[32];
    char *h = PUT_LIT(head, BEGIN "\x01" "9=");
    h = put_u64(h, n);
    *h++ = SOH;
    size_t hn = (size_t)(h - head);
    buf_reserve(out, hn + n + 7);
    char *dst = out->p + out->len;
    memcpy(dst, head, hn);
    memcpy(dst + hn, body, n);
    unsigned sum = 0;
    for (size_t i = 0; i < hn + n; i++) sum += (unsigned char)dst[i];
    sum &= 255;
    char *t = dst + hn + n;
    t[0] = '1'; t[1] = '0'; t[2] = '=';
    t[3] = (char)('0' + sum / 100); t[4] = (char)('0' + sum / 10 % 10); t[5] = (char)('0' + sum % 10);
    t[6] = SOH;
    out->len += hn + n + 7;
}

/* Standard header of a message we send, up to and including SendingTime's SOH. */
static char *header(char *p, const char *type, uint64_t seq, const char *sender, const char *target) {
    p = PUT_LIT(p, "35=");
    p = put_str(p, type, strlen(type));
    p = PUT_LIT(p, "\x01" "34=");
    p = put_u64(p, seq);
    p = PUT_LIT(p, "\x01" "49=");
    p = put_str(p, sender, strlen(sender));
    p = PUT_LIT(p, "\x01" "56=");
    p = put_str(p, target, strlen(target));
    p = PUT_LIT(p, "\x01" "52=");
    p = put_str(p, utc_stamp(), 21);
    *p++ = SOH;
    return p;
}

typedef struct { const char *p; size_t n; } span_t;

/* The fields of one message that the generator and the peer look at. */
typedef struct {
    span_t type, clordid, exec_type, text, test_req_id, sender, target, symbol, side, qty;
    int reset;
} fixmsg_t;

/* Split off one complete message from data[0..n): returns its length, 0 if incomplete,
 * -1 if the bytes are not FIX (the peer is broken: we stop rather than guess). */
static long next_message(const char *data, size_t n) {
    if (n < 20) return 0;
    if (memcmp(data, "8=FIX", 5) != 0) return -1;
    const char *soh = memchr(data, SOH, n < 32 ? n : 32);
    if (!soh) return n >= 32 ? -1 : 0;
    size_t i = (size_t)(soh - data) + 1;
    if (i + 3 > n) return 0;
    if (data[i] != '9' || data[i + 1] != '=') return -1;
    i += 2;
    size_t body = 0;
    while (i < n && data[i] >= '0' && data[i] <= '9') body = body * 10 + (size_t)(data[i++] - '0');
    if (i >= n) return 0;
    if (data[i] != SOH || body > MAX_MSG) return -1;
    size_t total = i + 1 + body + 7;
    return total <= n ? (long)total : 0;
}

static void parse_fields(const char *m, size_t n, fixmsg_t *f) {
    memset(f, 0, sizeof *f);
    size_t i = 0;
    while (i < n) {
        unsigned tag = 0;
        while (i < n && m[i] != '=') tag = tag * 10 + (unsigned)(m[i++] - '0');
        size_t v = ++i;
        const char *e = memchr(m + v, SOH, n - v);
        if (!e) break;
        span_t s = { m + v, (size_t)(e - (m + v)) };
        switch (tag) {
        case 35: f->type = s; break;
        case 11: f->clordid = s; break;
        case 150: f->exec_type = s; break;
        case 58: f->text = s; break;
        case 112: f->test_req_id = s; break;
        case 49: f->sender = s; break;
        case 56: f->target = s; break;
        case 55: f->symbol = s; break;
        case 54: f->side = s; break;
        case 38: f->qty = s; break;
        case 141: f->reset = s.n == 1 && s.p[0] == 'Y'; break;
        }
        i = (size_t)(e - m) + 1;
    }
}

static int is_type(const fixmsg_t *f, const char *t) {
    size_t n = strlen(t);
    return f->type.n == n && memcmp(f->type.p, t, n) == 0;
}

static void set_nonblocking(int fd) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) die("fcntl: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Write what we can; returns -1 when the connection is gone. */
static int flush_out(int fd, buf_t *out) {
    while (out->len > out->off) {
        ssize_t w = write(fd, out->p + out->off, out->len - out->off);
        if (w > 0) { out->off += (size_t)w; continue; }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
        return -1;
    }
    out->off = out->len = 0;
    return 0;
}

/* One read per readiness report (epoll is level-triggered: the rest comes next time round);
 * returns 0 on EOF or error, else 1. */
static int read_in(int fd, buf_t *in) {
    for (;;) {
        buf_reserve(in, READ_CHUNK);
        ssize_t r = read(fd, in->p + in->len, in->cap - in->len);
        if (r > 0) { in->len += (size_t)r; return 1; }
        if (r == 0) return 0;
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK;
    }
}

/* ---- the generator ----------------------------------------------------------------------- */

enum { MODE_CLOSED, MODE_PIPELINED, MODE_OPEN };
enum { S_LOGON, S_ACTIVE, S_LOGOUT_SENT, S_DONE };

typedef struct {
    int fd, state, want_out, watched;
    char sender[64], target[64];
    span_t *tails;
    int ntails;
    uint64_t seq_out;            /* our next MsgSeqNum */
    uint64_t next_order;         /* index of the next order to send */
    uint64_t next_ack;           /* index of the order whose ack we expect next */
    uint64_t acked, rejected, out_of_order;
    int64_t *t_sent;             /* RING entries: send (or intended) time of order i % RING */
    buf_t in, out;
} sess_t;

static sess_t sessions[MAX_SESSIONS];
static int nsessions;
static char id_prefix[16] = "O";
static size_t id_prefix_len = 1;
static uint64_t errors;
static int64_t t_measure, t_stop;
static int64_t *lat;
static size_t nlat, cap_lat;
static uint64_t window_acks;
static int64_t max_send_lag;
static int64_t *lag;
static size_t nlag, cap_lag;

static void note(int64_t **arr, size_t *n, size_t *cap, int64_t v) {
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 1 << 16;
        *arr = realloc(*arr, *cap * sizeof **arr);
        if (!*arr) die("out of memory");
    }
    (*arr)[(*n)++] = v;
}

static void report_error(sess_t *s, const char *what, const fixmsg_t *f) {
    if (++errors <= 5)
        fprintf(stderr, "fix_loadgen: %s: %s %.*s\n", s->sender, what, (int)f->text.n, f->text.p);
}

static void send_order(sess_t *s, int64_t when) {
    uint64_t i = s->next_order++;
    span_t t = s->tails[i % (uint64_t)s->ntails];
    char body[1024];
    const char *ts;
    char *p = header(body, "D", s->seq_out++, s->sender, s->target);
    ts = stamp;
    p = PUT_LIT(p, "11=");
    p = put_str(p, id_prefix, id_prefix_len);
    p = put_u64(p, i);
    *p++ = SOH;
    p = put_str(p, t.p, t.n);
    p = put_str(p, ts, 21);
    *p++ = SOH;
    frame(&s->out, body, (size_t)(p - body));
    s->t_sent[i % RING] = when;
}

static void send_admin(sess_t *s, const char *type, const char *extra) {
    char body[512];
    char *p = header(body, type, s->seq_out++, s->sender, s->target);
    p = put_str(p, extra, strlen(extra));
    frame(&s->out, body, (size_t)(p - body));
}

static void on_ack(sess_t *s, const fixmsg_t *f, int rejected, int64_t now) {
    if (f->clordid.n <= id_prefix_len || memcmp(f->clordid.p, id_prefix, id_prefix_len) != 0)
        return;                                     /* not one of this run's orders */
    uint64_t i = 0;
    for (size_t k = id_prefix_len; k < f->clordid.n; k++) {
        char c = f->clordid.p[k];
        if (c < '0' || c > '9') return;
        i = i * 10 + (uint64_t)(c - '0');
    }
    if (i >= s->next_order) { s->out_of_order++; return; }
    if (i != s->next_ack) s->out_of_order++;
    s->next_ack = i + 1;
    s->acked++;
    s->rejected += (uint64_t)rejected;
    int64_t sent = s->t_sent[i % RING];
    if (sent >= t_measure && sent < t_stop) note(&lat, &nlat, &cap_lat, now - sent);
    if (now >= t_measure && now < t_stop) window_acks++;
}

static void on_message(sess_t *s, const char *m, size_t n, int64_t now) {
    fixmsg_t f;
    parse_fields(m, n, &f);
    if (is_type(&f, "8")) {
        if (f.exec_type.n == 1 && (f.exec_type.p[0] == '0' || f.exec_type.p[0] == '8'))
            on_ack(s, &f, f.exec_type.p[0] == '8', now);
    } else if (is_type(&f, "A")) {
        if (s->state == S_LOGON) s->state = S_ACTIVE;
    } else if (is_type(&f, "0")) {
    } else if (is_type(&f, "1")) {
        char extra[160];
        int k = snprintf(extra, sizeof extra, "112=%.*s\x01", (int)(f.test_req_id.n > 100 ? 100 : f.test_req_id.n),
                         f.test_req_id.p);
        (void)k;
        send_admin(s, "0", extra);
    } else if (is_type(&f, "5")) {
        if (s->state != S_LOGOUT_SENT) {
            report_error(s, "logged out by the server:", &f);
            send_admin(s, "5", "");
        }
        s->state = S_DONE;
    } else if (is_type(&f, "3")) {
        report_error(s, "session Reject(3):", &f);
    } else if (is_type(&f, "j")) {
        report_error(s, "BusinessMessageReject(j):", &f);
    } else if (is_type(&f, "2") || is_type(&f, "4")) {
        report_error(s, "unexpected resend/sequence reset", &f);
    } else if (is_type(&f, "9")) {
        report_error(s, "OrderCancelReject(9):", &f);
    }
}

static void process_input(sess_t *s, int64_t now) {
    buf_t *in = &s->in;
    for (;;) {
        long m = next_message(in->p + in->off, in->len - in->off);
        if (m < 0) die("%s: the peer sent bytes that are not FIX", s->sender);
        if (m == 0) break;
        const char *msg = in->p + in->off;
        /* the body after "8=FIX.4.4|9=N|" up to the CheckSum */
        const char *body = memchr(memchr(msg, SOH, (size_t)m) + 1, SOH, (size_t)m) + 1;
        on_message(s, body, (size_t)(msg + m - 7 - body), now);
        in->off += (size_t)m;
    }
    if (in->off == in->len) in->off = in->len = 0;
}

static int connect_to(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket: %s", strerror(errno));
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) die("connect to port %d: %s", port, strerror(errno));
    set_nonblocking(fd);
    return fd;
}

static char *slurp(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) die("%s: %s", path, strerror(errno));
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *d = malloc((size_t)n + 1);
    if (!d || fread(d, 1, (size_t)n, fp) != (size_t)n) die("%s: cannot read", path);
    d[n] = 0;
    fclose(fp);
    return d;
}

static void load_spec(const char *path) {
    char *text = slurp(path);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == 'S' && line[1] == ' ') {
            if (nsessions == MAX_SESSIONS) die("%s: more than %d sessions", path, MAX_SESSIONS);
            sess_t *s = &sessions[nsessions++];
            if (sscanf(line + 2, "%63s %63s", s->sender, s->target) != 2) die("%s: bad line: %s", path, line);
            s->tails = calloc(MAX_TAILS, sizeof *s->tails);
            s->t_sent = malloc(RING * sizeof *s->t_sent);
            if (!s->tails || !s->t_sent) die("out of memory");
        } else if (line[0] == 'O' && line[1] == ' ') {
            if (!nsessions) die("%s: order before any session", path);
            sess_t *s = &sessions[nsessions - 1];
            if (s->ntails == MAX_TAILS) die("%s: more than %d orders in a session's mix", path, MAX_TAILS);
            char *t = line + 2;
            if (strlen(t) > MAX_TAIL) die("%s: an order longer than %d bytes", path, MAX_TAIL);
            for (char *c = t; *c; c++) if (*c == '|') *c = SOH;
            s->tails[s->ntails++] = (span_t){ t, strlen(t) };
        } else if (line[0]) {
            die("%s: bad line: %s", path, line);
        }
    }
    if (!nsessions) die("%s: no sessions", path);
    for (int i = 0; i < nsessions; i++)
        if (!sessions[i].ntails) die("%s: session %s has no orders", path, sessions[i].sender);
}

static void watch(int ep, sess_t *s, int idx) {
    int want = s->out.len > s->out.off;
    if (want == s->want_out) return;
    struct epoll_event ev = { .events = EPOLLIN | (want ? EPOLLOUT : 0), .data.u32 = (uint32_t)idx };
    epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
    s->want_out = want;
}

static int client(int argc, char **argv) {
    int port = 0, mode = MODE_CLOSED;
    double seconds = 2, warmup = 0.5, rate = 10000, drain_s = 10;
    long window = 100;
    const char *spec = NULL, *out_path = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) die("%s needs a value", a);
        if (!strcmp(a, "--port")) port = atoi(v);
        else if (!strcmp(a, "--spec")) spec = v;
        else if (!strcmp(a, "--out")) out_path = v;
        else if (!strcmp(a, "--seconds")) seconds = atof(v);
        else if (!strcmp(a, "--warmup")) warmup = atof(v);
        else if (!strcmp(a, "--window")) window = atol(v);
        else if (!strcmp(a, "--rate")) rate = atof(v);
        else if (!strcmp(a, "--drain")) drain_s = atof(v);
        else if (!strcmp(a, "--id-prefix")) {
            id_prefix_len = strlen(v);
            if (!id_prefix_len || id_prefix_len >= sizeof id_prefix || strpbrk(v, "0123456789"))
                die("--id-prefix must be 1-15 characters without digits");
            memcpy(id_prefix, v, id_prefix_len + 1);
        } else if (!strcmp(a, "--mode")) {
            mode = !strcmp(v, "closed") ? MODE_CLOSED : !strcmp(v, "pipelined") ? MODE_PIPELINED
                 : !strcmp(v, "open") ? MODE_OPEN : -1;
            if (mode < 0) die("--mode: closed, pipelined or open");
        } else die("unknown option %s", a);
        i++;
    }
    if (!port || !spec) die("--port and --spec are required");
    if (window < 1 || window >= (long)RING) die("--window must be 1..%u", RING - 1);
    if (rate <= 0 || seconds <= 0 || warmup < 0) die("--rate and --seconds must be positive");
    load_spec(spec);
    prctl(PR_SET_TIMERSLACK, 1UL);                  /* wake up on time in open-loop mode */

    int ep = epoll_create1(0);
    for (int i = 0; i < nsessions; i++) {
        sess_t *s = &sessions[i];
        s->fd = connect_to(port);
        s->seq_out = 1;
        send_admin(s, "A", "98=0\x01" "108=30\x01" "141=Y\x01");
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
        epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev);
        s->watched = 1;
        if (flush_out(s->fd, &s->out) < 0) die("%s: cannot send Logon", s->sender);
    }

    struct epoll_event evs[MAX_SESSIONS];
    int64_t deadline = mono_ns() + 10 * (int64_t)1000000000;
    int64_t t0 = 0, t_logout = 0;
    int started = 0, stopping = 0, active = nsessions;
    uint64_t scheduled = 0;                          /* open loop: orders scheduled so far */
    double gap_ns = 1e9 / rate;
    int rr = 0;
    t_measure = t_stop = INT64_MAX;

    while (active) {
        int64_t now = mono_ns();
        struct timespec to = { 0, 50 * 1000000 };
        if (started && !stopping && mode == MODE_OPEN) {
            int64_t due = t0 + (int64_t)(scheduled * gap_ns) - now;
            to.tv_sec = 0;
            /* Sleep rather than spin: on a shared machine a spinning generator is preempted
             * for whole time slices, a sleeping one is woken promptly. */
            to.tv_nsec = due < 0 ? 0 : due > 50000000 ? 50000000 : due;
        }
        int n = epoll_pwait2(ep, evs, MAX_SESSIONS, &to, NULL);
        if (n < 0 && errno != EINTR) die("epoll: %s", strerror(errno));
        now = mono_ns();
        for (int k = 0; k < n; k++) {
            sess_t *s = &sessions[evs[k].data.u32];
            if (s->state == S_DONE) continue;
            if (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                int alive = read_in(s->fd, &s->in);
                process_input(s, now);
                if (!alive && s->state != S_DONE) {
                    if (s->state != S_LOGOUT_SENT) {
                        errors++;
                        fprintf(stderr, "fix_loadgen: %s: the server closed the connection\n", s->sender);
                    }
                    s->state = S_DONE;
                }
            }
        }
        if (!started) {
            int ready = 1;
            for (int i = 0; i < nsessions; i++) ready &= sessions[i].state == S_ACTIVE;
            if (ready) {
                started = 1;
                t0 = now;
                t_measure = t0 + (int64_t)(warmup * 1e9);
                t_stop = t_measure + (int64_t)(seconds * 1e9);
                deadline = t_stop + (int64_t)(drain_s * 1e9);
            }
        }
        now = mono_ns();
        if (started && !stopping && now >= t_stop) stopping = 1;
        if (started && !stopping) {
            if (mode == MODE_OPEN) {
                /* Every order due by now goes out; its latency counts from when it was due. */
                while (1) {
                    int64_t due = t0 + (int64_t)(scheduled * gap_ns);
                    if (due > now) break;
                    sess_t *s = &sessions[rr];
                    if (s->state != S_ACTIVE || s->next_order - s->next_ack >= RING - 1) break;
                    send_order(s, due);
                    if (due >= t_measure && due < t_stop) {
                        int64_t l = now - due;
                        note(&lag, &nlag, &cap_lag, l);
                        if (l > max_send_lag) max_send_lag = l;
                    }
                    scheduled++;
                    rr = (rr + 1) % nsessions;
                }
            } else {
                uint64_t w = mode == MODE_CLOSED ? 1 : (uint64_t)window;
                for (int i = 0; i < nsessions; i++) {
                    sess_t *s = &sessions[i];
                    while (s->state == S_ACTIVE && s->next_order - s->next_ack < w) send_order(s, now);
                }
            }
        }
        if (stopping && !t_logout) {
            int drained = 1;
            for (int i = 0; i < nsessions; i++)
                drained &= sessions[i].state == S_DONE || sessions[i].next_ack == sessions[i].next_order;
            if (drained || now >= deadline) {
                if (!drained) {
                    errors++;
                    fprintf(stderr, "fix_loadgen: acknowledgements still missing after %.1f s\n", drain_s);
                }
                for (int i = 0; i < nsessions; i++)
                    if (sessions[i].state == S_ACTIVE) {
                        send_admin(&sessions[i], "5", "");
                        sessions[i].state = S_LOGOUT_SENT;
                    }
                t_logout = now;
            }
        }
        if (!started && now >= deadline) die("logon not answered within 10 s");
        if (t_logout && now - t_logout > 3 * (int64_t)1000000000) {
            for (int i = 0; i < nsessions; i++)
                if (sessions[i].state != S_DONE) {
                    fprintf(stderr, "fix_loadgen: %s: Logout not answered\n", sessions[i].sender);
                    sessions[i].state = S_DONE;
                }
        }
        active = 0;
        for (int i = 0; i < nsessions; i++) {
            sess_t *s = &sessions[i];
            if (s->state == S_DONE) {
                if (s->watched) {               /* a closed socket would wake us for ever */
                    epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
                    s->watched = 0;
                }
                continue;
            }
            if (flush_out(s->fd, &s->out) < 0) {
                errors++;
                s->state = S_DONE;
                continue;
            }
            watch(ep, s, i);
            active++;
        }
    }

    uint64_t sent = 0, acked = 0, rejected = 0, ooo = 0;
    for (int i = 0; i < nsessions; i++) {
        sent += sessions[i].next_order;
        acked += sessions[i].acked;
        rejected += sessions[i].rejected;
        ooo += sessions[i].out_of_order;
        close(sessions[i].fd);
    }
    if (out_path) {
        FILE *fp = fopen(out_path, "wb");
        if (!fp || fwrite(lat, sizeof *lat, nlat, fp) != nlat || fclose(fp)) die("%s: cannot write", out_path);
        if (nlag) {
            char lag_path[4096];
            snprintf(lag_path, sizeof lag_path, "%s.lag", out_path);
            fp = fopen(lag_path, "wb");
            if (!fp || fwrite(lag, sizeof *lag, nlag, fp) != nlag || fclose(fp)) die("%s: cannot write", lag_path);
        }
    }
    printf("sessions=%d sent=%llu acked=%llu rejected=%llu out_of_order=%llu errors=%llu "
           "measured=%zu window_acks=%llu window_ns=%lld max_send_lag_ns=%lld\n",
           nsessions, (unsigned long long)sent, (unsigned long long)acked,
           (unsigned long long)rejected, (unsigned long long)ooo, (unsigned long long)errors, nlat,
           (unsigned long long)window_acks, (long long)(t_stop - t_measure), (long long)max_send_lag);
    return 0;
}

/* ---- the trivial acknowledging peer ------------------------------------------------------ */

typedef struct {
    int fd, closing;
    uint64_t seq_out, order_id;
    char ours[64], theirs[64];
    buf_t in, out;
} peer_t;

static volatile sig_atomic_t stop_peer;
static void on_term(int sig) { (void)sig; stop_peer = 1; }

static void copy_span(char *dst, size_t cap, span_t s) {
    size_t n = s.n < cap - 1 ? s.n : cap - 1;
    memcpy(dst, s.p, n);
    dst[n] = 0;
}

static void peer_message(peer_t *c, const char *m, size_t n) {
    fixmsg_t f;
    parse_fields(m, n, &f);
    char body[1024], *p;
    if (is_type(&f, "D")) {
        c->order_id++;
        p = header(body, "8", c->seq_out++, c->ours, c->theirs);
        p = PUT_LIT(p, "37=");
        p = put_u64(p, c->order_id);
        p = PUT_LIT(p, "\x01" "11=");
        p = put_str(p, f.clordid.p, f.clordid.n > 64 ? 64 : f.clordid.n);
        p = PUT_LIT(p, "\x01" "17=");
        p = put_u64(p, c->order_id);
        p = PUT_LIT(p, "\x01" "150=0\x01" "39=0\x01" "55=");
        p = put_str(p, f.symbol.p, f.symbol.n > 32 ? 32 : f.symbol.n);
        p = PUT_LIT(p, "\x01" "54=");
        p = put_str(p, f.side.p, f.side.n > 1 ? 1 : f.side.n);
        p = PUT_LIT(p, "\x01" "38=");
        p = put_str(p, f.qty.p, f.qty.n > 32 ? 32 : f.qty.n);
        p = PUT_LIT(p, "\x01" "151=");
        p = put_str(p, f.qty.p, f.qty.n > 32 ? 32 : f.qty.n);
        p = PUT_LIT(p, "\x01" "14=0\x01" "6=0\x01" "60=");
        p = put_str(p, stamp, 21);
        *p++ = SOH;
        frame(&c->out, body, (size_t)(p - body));
    } else if (is_type(&f, "A")) {
        copy_span(c->ours, sizeof c->ours, f.target);
        copy_span(c->theirs, sizeof c->theirs, f.sender);
        c->seq_out = 1;
        p = header(body, "A", c->seq_out++, c->ours, c->theirs);
        p = PUT_LIT(p, "98=0\x01" "108=30\x01");
        if (f.reset) p = PUT_LIT(p, "141=Y\x01");
        frame(&c->out, body, (size_t)(p - body));
    } else if (is_type(&f, "1")) {
        p = header(body, "0", c->seq_out++, c->ours, c->theirs);
        p = PUT_LIT(p, "112=");
        p = put_str(p, f.test_req_id.p, f.test_req_id.n > 100 ? 100 : f.test_req_id.n);
        *p++ = SOH;
        frame(&c->out, body, (size_t)(p - body));
    } else if (is_type(&f, "5")) {
        p = header(body, "5", c->seq_out++, c->ours, c->theirs);
        frame(&c->out, body, (size_t)(p - body));
        c->closing = 1;
    }
}

static int ackpeer(int argc, char **argv) {
    int port = 0;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
        else die("unknown option %s", argv[i]);
    }
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    signal(SIGPIPE, SIG_IGN);
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 64) < 0)
        die("listen on port %d: %s", port, strerror(errno));
    getsockname(ls, (struct sockaddr *)&a, &alen);
    printf("port=%d\n", ntohs(a.sin_port));
    fflush(stdout);
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    struct epoll_event evs[64];
    while (!stop_peer) {
        int n = epoll_wait(ep, evs, 64, 100);
        for (int k = 0; k < n; k++) {
            peer_t *c = evs[k].data.ptr;
            if (!c) {
                int fd = accept(ls, NULL, NULL);
                if (fd < 0) continue;
                set_nonblocking(fd);
                c = calloc(1, sizeof *c);
                c->fd = fd;
                struct epoll_event cev = { .events = EPOLLIN, .data.ptr = c };
                epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
                continue;
            }
            int alive = read_in(c->fd, &c->in);
            for (;;) {
                long m = next_message(c->in.p + c->in.off, c->in.len - c->in.off);
                if (m <= 0) { if (m < 0) alive = 0; break; }
                const char *msg = c->in.p + c->in.off;
                const char *body = memchr(memchr(msg, SOH, (size_t)m) + 1, SOH, (size_t)m) + 1;
                peer_message(c, body, (size_t)(msg + m - 7 - body));
                c->in.off += (size_t)m;
            }
            /* A slow generator only delays the peer: block until the acks are out. */
            while (alive && c->out.len > c->out.off) {
                if (flush_out(c->fd, &c->out) < 0) alive = 0;
                else if (c->out.len > c->out.off) usleep(50);
            }
            if (!alive || c->closing) {
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                free(c->in.p);
                free(c->out.p);
                free(c);
            }
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 2 && !strcmp(argv[1], "client")) return client(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "ackpeer")) return ackpeer(argc, argv);
    fprintf(stderr, "usage: fix_loadgen client --port P --spec FILE [--mode closed|pipelined|open] ...\n"
                    "       fix_loadgen ackpeer --port P\n");
    return 2;
}
