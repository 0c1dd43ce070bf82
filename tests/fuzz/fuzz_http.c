/*
 * fuzz_http.c - bytes -> the sidecar's HTTP server (filter/sidecar/http.c) as one client
 * connection: HTTP/1.1 or, when the bytes start with the h2 preface, HTTP/2.
 *
 * The first byte picks the handler's behaviour (answer at once, stream, answer later from
 * the driver loop, respond_abort, short Content-Length, large answers that hit the high
 * watermark); the rest goes into one end of a socketpair whose other end the server serves
 * (wr_http_server_adopt). The driver runs the event loop without blocking, reads and
 * discards what the server writes, half-closes once everything is sent and stops when the
 * server has closed the connection or after a bounded number of turns, then frees the
 * server. Invariants: every request handed to on_request is ended, aborted or gets
 * on_abort exactly once (in_flight agrees at every turn and is 0 at the end); request
 * accessors are consistent (NUL-terminated body, header lookup matches the list, errors
 * come with an empty body).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "fuzz.h"
#include "sidecar/http_int.h"

#define FZ_MAX_HELD 64
#define FZ_TURNS 3000

typedef struct fz {
    int mode;
    wr_http_server *s;
    wr_http_req *held[FZ_MAX_HELD];
    size_t nheld;
    size_t live; /* handed to on_request, not yet ended/aborted */
} fz;

static void fz_check_req(wr_http_req *r)
{
    const char *m = wr_http_req_method(r), *t = wr_http_req_target(r);
    if (!m || !t || !wr_http_req_peer(r) || !wr_http_req_peer_ip(r))
        abort();
    int v = wr_http_req_version(r);
    if (v != 1 && v != 2)
        abort();
    size_t blen;
    const char *body = wr_http_req_body(r, &blen);
    if (!body || body[blen] != '\0')
        abort();
    const char *msg = NULL;
    int e = wr_http_req_error(r, &msg);
    if (e && (blen || !msg || (e != 400 && e != 408 && e != 413)))
        abort();
    const char *first_host = NULL;
    for (size_t i = 0; i < wr_http_req_nheaders(r); i++) {
        const wr_http_header *h = wr_http_req_header_at(r, i);
        if (!h || !h->name || !h->value || h->value[h->value_len] != '\0')
            abort();
        if (!first_host && h->name_len == 4 && strncasecmp(h->name, "host", 4) == 0)
            first_host = h->value;
    }
    if (wr_http_req_header_at(r, wr_http_req_nheaders(r)) != NULL)
        abort();
    if (wr_http_req_header(r, "HOST") != first_host)
        abort();
}

static void fz_answer(fz *f, wr_http_req *r, int how)
{
    static const char big[3000] = {0};
    wr_http_header h[] = {WR_HDR("content-type", "text/plain"), WR_HDR("Connection", "close"),
                          WR_HDR("X-Bad", "a\r\nb")};
    size_t blen;
    const char *body = wr_http_req_body(r, &blen);
    int large = (f->mode & 4) != 0;
    switch (how) {
    case 0:
        if (wr_http_respond(r, 200, h, 3, body, blen))
            abort();
        break;
    case 1:
        if (wr_http_respond_start(r, 201, h, 2, -1))
            abort();
        for (int i = 0; i < 3; i++) {
            wr_http_respond_write(r, large ? big : "piece", large ? sizeof big : 5);
            (void)wr_http_req_full(r);
        }
        if (wr_http_respond_end(r))
            abort();
        break;
    case 2:
        if (wr_http_respond_start(r, 200, NULL, 0, 10))
            abort();
        wr_http_respond_write(r, "short", 5); /* less than announced */
        wr_http_respond_end(r);
        break;
    default:
        if (wr_http_respond_start(r, 502, h, 1, -1))
            abort();
        wr_http_respond_write(r, "partial", 7);
        wr_http_respond_abort(r);
        break;
    }
    f->live--;
}

static void fz_on_request(wr_http_req *r, void *user)
{
    fz *f = user;
    f->live++;
    fz_check_req(r);
    int how = f->mode & 3;
    if (how == 2 && f->nheld < FZ_MAX_HELD) { /* answered later from the driver */
        f->held[f->nheld++] = r;
        wr_http_req_set_user(r, f);
        return;
    }
    fz_answer(f, r, how == 2 ? 0 : (f->mode & 8) ? 2 : how == 3 ? 3 : how);
}

static void fz_on_abort(wr_http_req *r, void *user)
{
    fz *f = user;
    if (!f->live)
        abort();
    f->live--;
    for (size_t i = 0; i < f->nheld; i++)
        if (f->held[i] == r) {
            f->held[i] = f->held[--f->nheld];
            break;
        }
}

static void fz_on_drain(wr_http_req *r, void *user)
{
    (void)r;
    (void)user;
}

static void fz_on_reject(void *user, const char *peer, int status, const char *message)
{
    (void)user;
    if (!peer || !message || status < 400 || status > 599)
        abort();
}

static const wr_http_handler fz_handler = {fz_on_request, fz_on_abort, fz_on_drain,
                                           fz_on_reject};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int once;
    if (!once) {
        signal(SIGPIPE, SIG_IGN);
        once = 1;
    }
    if (size < 1)
        return 0;
    fz f;
    memset(&f, 0, sizeof f);
    f.mode = data[0];
    const char *in = (const char *)data + 1;
    size_t n = size - 1;

    struct event_base *base = event_base_new();
    if (!base)
        abort();
    wr_http_limits lim = {0};
    lim.max_header_bytes = 1024;
    lim.max_headers = 16;
    lim.max_body_bytes = 2048;
    lim.high_watermark = 1024;
    lim.max_streams = 4;
    lim.header_timeout_ms = lim.body_timeout_ms = lim.idle_timeout_ms = 60000;
    lim.write_timeout_ms = 60000;
    if (wr_http_server_new(&f.s, base, &lim, NULL))
        abort();
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv))
        abort();
    if (wr_http_server_adopt(f.s, sv[0], NULL, 0, &fz_handler, &f))
        abort();

    size_t off = 0;
    int shut = 0, quiet = 0;
    for (int turn = 0; turn < FZ_TURNS; turn++) {
        if (off < n) {
            ssize_t w = send(sv[1], in + off, n - off, MSG_NOSIGNAL);
            if (w > 0)
                off += (size_t)w;
            else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                off = n;
        } else if (!shut && ++quiet > 20) { /* held answers had their turns */
            shutdown(sv[1], SHUT_WR);
            shut = 1;
        }
        char sink[65536];
        while (recv(sv[1], sink, sizeof sink, 0) > 0)
            ;
        event_base_loop(base, EVLOOP_NONBLOCK);
        if (f.nheld && (turn & 1)) { /* one held request answered per other turn */
            wr_http_req *r = f.held[--f.nheld];
            fz_answer(&f, r, (f.mode >> 4) & 3);
        }
        if (wr_http_server_in_flight(f.s) != f.live)
            abort();
        if (shut && wr_http_server_connections(f.s) == 0)
            break;
    }
    wr_http_server_free(f.s); /* whatever is still held gets on_abort */
    if (f.live || f.nheld)
        abort();
    close(sv[1]);
    event_base_free(base);
    return 0;
}
