/* SPDX-License-Identifier: MIT */
/*
 * ops_common.c: helpers shared by gossip-bench's swarm, relay and nats modes (see ops.h).
 */
#ifndef _GNU_SOURCE
#    define _GNU_SOURCE
#endif
#include "ops.h"

#include <sodium.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

uint64_t gs_ops_now_ns(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

bool gs_ops_netns(int argc, char **argv)
{
    const char **nargv;
    int st;
    pid_t p;

    if (getenv("GS_BENCH_IN_NETNS") != NULL) {
        return true;
    }
    if (getenv("GS_BENCH_NO_NETNS") != NULL) {
        return false;
    }
    p = fork();
    if (p == 0) {
        int dn = open("/dev/null", O_WRONLY);

        if (dn >= 0) {
            (void)dup2(dn, 2);
        }
        execlp("unshare", "unshare", "-rn", "true", (char *)NULL);
        _exit(127);
    }
    if (p < 0 || waitpid(p, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        return false;
    }
    nargv = calloc((size_t)argc + 8, sizeof(*nargv));
    if (nargv == NULL) {
        return false;
    }
    nargv[0] = "unshare";
    nargv[1] = "-rn";
    nargv[2] = "sh";
    nargv[3] = "-c";
    nargv[4] = "ip link set lo up 2>/dev/null; exec \"$@\"";
    nargv[5] = "sh";
    {
        static char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

        if (n <= 0) {
            free(nargv);
            return false;
        }
        self[n] = '\0';
        nargv[6] = self;
    }
    for (int i = 1; i < argc; ++i) {
        nargv[6 + i] = argv[i];
    }
    (void)setenv("GS_BENCH_IN_NETNS", "1", 1);
    fflush(NULL);
    execvp("unshare", (char *const *)(void *)nargv);
    (void)unsetenv("GS_BENCH_IN_NETNS");
    free(nargv);
    return false;
}

/* ---- children ---- */

static pid_t children[GS_OPS_MAX_CHILDREN];
static size_t nchildren;

pid_t gs_ops_spawn(const char *const argv[], int *out_fd, const char *errlog)
{
    int pfd[2] = {-1, -1};
    pid_t parent = getpid();
    pid_t p;

    if (nchildren >= GS_OPS_MAX_CHILDREN) {
        return -1;
    }
    if (out_fd != NULL && pipe2(pfd, O_CLOEXEC) < 0) {
        return -1;
    }
    fflush(NULL);
    p = fork();
    if (p < 0) {
        if (out_fd != NULL) {
            close(pfd[0]);
            close(pfd[1]);
        }
        return -1;
    }
    if (p == 0) {
        /* die with the bench, whatever kills it */
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(1);
        }
        if (out_fd != NULL) {
            (void)dup2(pfd[1], 1);
        } else {
            int dn = open("/dev/null", O_WRONLY);

            if (dn >= 0) {
                (void)dup2(dn, 1);
            }
        }
        if (errlog != NULL) {
            int fd = open(errlog, O_WRONLY | O_CREAT | O_TRUNC, 0644);

            if (fd >= 0) {
                (void)dup2(fd, 2);
            }
        }
        {
            sigset_t none;

            sigemptyset(&none);
            sigprocmask(SIG_SETMASK, &none, NULL);
        }
        execvp(argv[0], (char *const *)(void *)argv);
        fprintf(stderr, "gossip-bench: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    children[nchildren++] = p;
    if (out_fd != NULL) {
        close(pfd[1]);
        *out_fd = pfd[0];
    }
    return p;
}

int gs_ops_read_line(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t n = 0;
    uint64_t end = gs_ops_now_ns() + (uint64_t)timeout_ms * (uint64_t)1000000;

    while (n + 1 < cap) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        uint64_t now = gs_ops_now_ns();
        char ch;
        ssize_t r;

        if (now >= end || poll(&pf, 1, (int)((end - now) / 1000000ULL) + 1) <= 0) {
            return -1;
        }
        r = read(fd, &ch, 1);
        if (r <= 0) {
            return -1;
        }
        if (ch == '\n') {
            break;
        }
        buf[n++] = ch;
    }
    buf[n] = '\0';
    return (int)n;
}

void gs_ops_stop_all(void)
{
    uint64_t end;
    size_t left;

    for (size_t i = 0; i < nchildren; ++i) {
        if (children[i] > 0) {
            (void)kill(children[i], SIGTERM);
        }
    }
    end = gs_ops_now_ns() + 3000000000ULL;
    do {
        left = 0;
        for (size_t i = 0; i < nchildren; ++i) {
            if (children[i] > 0) {
                if (waitpid(children[i], NULL, WNOHANG) == children[i]) {
                    children[i] = 0;
                } else {
                    left++;
                }
            }
        }
        if (left > 0) {
            struct timespec ts = {0, 20000000};

            nanosleep(&ts, NULL);
        }
    } while (left > 0 && gs_ops_now_ns() < end);
    for (size_t i = 0; i < nchildren; ++i) {
        if (children[i] > 0) {
            (void)kill(children[i], SIGKILL);
            (void)waitpid(children[i], NULL, 0);
            children[i] = 0;
        }
    }
    nchildren = 0;
}

static void on_signal(int sig)
{
    (void)sig;
    for (size_t i = 0; i < nchildren; ++i) {
        if (children[i] > 0) {
            (void)kill(children[i], SIGKILL);
        }
    }
    _exit(130);
}

void gs_ops_install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

double gs_ops_proc_cpu_s(pid_t pid)
{
    char path[64];
    char buf[2048];
    FILE *f;
    size_t n;
    char *p;
    unsigned long long ut = 0, st = 0;

    (void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    if (p == NULL) {
        return -1;
    }
    /* fields after ")": state(3) ... utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) {
        return -1;
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static uint64_t status_kb(pid_t pid, const char *key)
{
    char path[64];
    char line[256];
    FILE *f;
    uint64_t v = 0;
    size_t kl = strlen(key);

    (void)snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, key, kl) == 0) {
            v = strtoull(line + kl, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

uint64_t gs_ops_proc_hwm_kb(pid_t pid)
{
    return status_kb(pid, "VmHWM:");
}

uint64_t gs_ops_proc_rss_kb(pid_t pid)
{
    return status_kb(pid, "VmRSS:");
}

/* ---- connections ---- */

static int conn_init(gs_ops_conn *c, int fd)
{
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    c->incap = 1 << 20;
    c->in = malloc(c->incap);
    c->outcap = 1 << 16;
    c->out = malloc(c->outcap);
    if (c->in == NULL || c->out == NULL) {
        gs_ops_conn_close(c);
        return -1;
    }
    (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return 0;
}

int gs_ops_conn_unix(gs_ops_conn *c, const char *path)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    (void)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    {
        int sz = 4 << 20;

        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    }
    return conn_init(c, fd);
}

int gs_ops_conn_tcp(gs_ops_conn *c, const char *host, unsigned port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;

    if (fd < 0) {
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return conn_init(c, fd);
}

void gs_ops_conn_close(gs_ops_conn *c)
{
    if (c->fd >= 0) {
        close(c->fd);
    }
    free(c->in);
    free(c->out);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

int gs_ops_conn_queue(gs_ops_conn *c, const void *data, size_t len)
{
    if (c->outoff > 0 && c->outoff == c->outlen) {
        c->outoff = c->outlen = 0;
    }
    if (c->outlen + len > c->outcap) {
        size_t cap = c->outcap;
        char *p;

        if (c->outoff > 0) {
            memmove(c->out, c->out + c->outoff, c->outlen - c->outoff);
            c->outlen -= c->outoff;
            c->outoff = 0;
        }
        while (c->outlen + len > cap) {
            cap *= 2;
        }
        if (cap != c->outcap) {
            p = realloc(c->out, cap);
            if (p == NULL) {
                return -1;
            }
            c->out = p;
            c->outcap = cap;
        }
    }
    memcpy(c->out + c->outlen, data, len);
    c->outlen += len;
    return 0;
}

int gs_ops_conn_flush(gs_ops_conn *c)
{
    while (c->outoff < c->outlen) {
        ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                return 0;
            }
            return -1;
        }
        c->outoff += (size_t)n;
    }
    c->outoff = c->outlen = 0;
    return 0;
}

long gs_ops_conn_fill(gs_ops_conn *c)
{
    long total = 0;

    for (int i = 0; i < 4; ++i) {
        ssize_t n;

        if (c->incap - c->inlen < 65536) {
            char *p = realloc(c->in, c->incap * 2);

            if (p == NULL) {
                return -1;
            }
            c->in = p;
            c->incap *= 2;
        }
        n = recv(c->fd, c->in + c->inlen, c->incap - c->inlen - 1, 0);
        if (n == 0) {
            c->eof = true;
            break;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                break;
            }
            return -1;
        }
        c->inlen += (size_t)n;
        total += n;
        if ((size_t)n < 65536) {
            break;
        }
    }
    c->in[c->inlen] = '\0';
    return total;
}

void gs_ops_conn_consume(gs_ops_conn *c, size_t n)
{
    if (n >= c->inlen) {
        c->inlen = 0;
    } else {
        memmove(c->in, c->in + n, c->inlen - n);
        c->inlen -= n;
    }
    c->in[c->inlen] = '\0';
}

int gs_ops_conn_request(gs_ops_conn *c, const char *line, char *reply, size_t cap, int timeout_ms)
{
    uint64_t end = gs_ops_now_ns() + (uint64_t)timeout_ms * (uint64_t)1000000;

    if (gs_ops_conn_queue(c, line, strlen(line)) < 0) {
        return -1;
    }
    for (;;) {
        char *nl;
        struct pollfd pf = {.fd = c->fd, .events = POLLIN};
        uint64_t now;

        if (gs_ops_conn_flush(c) < 0) {
            return -1;
        }
        if (c->outlen > c->outoff) {
            pf.events |= POLLOUT;
        }
        while ((nl = memchr(c->in, '\n', c->inlen)) != NULL) {
            size_t n = (size_t)(nl - c->in);
            bool is_reply = memmem(c->in, n, "\"ok\":", 5) != NULL;
            int rv = memmem(c->in, n, "\"ok\":true", 9) != NULL ? 0 : 1;

            if (is_reply && reply != NULL && cap > 0) {
                size_t k = n < cap - 1 ? n : cap - 1;

                memcpy(reply, c->in, k);
                reply[k] = '\0';
            }
            gs_ops_conn_consume(c, n + 1);
            if (is_reply) {
                return rv;
            }
        }
        now = gs_ops_now_ns();
        if (now >= end || c->eof) {
            return -1;
        }
        if (poll(&pf, 1, (int)((end - now) / 1000000ULL) + 1) > 0 && gs_ops_conn_fill(c) < 0) {
            return -1;
        }
    }
}

/* ---- histogram ---- */

#define HIST_BASE_NS 100.0
#define HIST_STEP    1.02

void gs_ops_hist_add(gs_ops_hist *h, uint64_t ns)
{
    double x = (double)ns / HIST_BASE_NS;
    long i = x <= 1.0 ? 0 : (long)(log(x) / log(HIST_STEP)) + 1;

    if (i >= GS_OPS_HIST_BUCKETS) {
        i = GS_OPS_HIST_BUCKETS - 1;
    }
    h->b[i]++;
    h->n++;
    h->sum_ns += (double)ns;
    if (ns > h->max_ns) {
        h->max_ns = ns;
    }
}

double gs_ops_hist_pct(const gs_ops_hist *h, double p)
{
    uint64_t want;
    uint64_t acc = 0;

    if (h->n == 0) {
        return 0;
    }
    want = (uint64_t)ceil((double)h->n * p / 100.0);
    if (want == 0) {
        want = 1;
    }
    for (size_t i = 0; i < GS_OPS_HIST_BUCKETS; ++i) {
        acc += h->b[i];
        if (acc >= want) {
            /* the bucket's upper edge, but never above the true maximum */
            double ns = HIST_BASE_NS * pow(HIST_STEP, (double)i);

            if (ns > (double)h->max_ns) {
                ns = (double)h->max_ns;
            }
            return ns / 1e6;
        }
    }
    return (double)h->max_ns / 1e6;
}

void gs_ops_hist_merge(gs_ops_hist *dst, const gs_ops_hist *src)
{
    for (size_t i = 0; i < GS_OPS_HIST_BUCKETS; ++i) {
        dst->b[i] += src->b[i];
    }
    dst->n += src->n;
    dst->sum_ns += src->sum_ns;
    if (src->max_ns > dst->max_ns) {
        dst->max_ns = src->max_ns;
    }
}

int gs_ops_hist_cdf(const gs_ops_hist *h, const char *path)
{
    FILE *f = fopen(path, "w");
    uint64_t acc = 0;

    if (f == NULL) {
        return -1;
    }
    for (size_t i = 0; i < GS_OPS_HIST_BUCKETS && h->n > 0; ++i) {
        if (h->b[i] == 0) {
            continue;
        }
        acc += h->b[i];
        fprintf(f, "%.6f %.6f\n", HIST_BASE_NS * pow(HIST_STEP, (double)i) / 1e6,
                (double)acc / (double)h->n);
    }
    fclose(f);
    return 0;
}

/* ---- base64 ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void gs_ops_b64_encode(const uint8_t *in, size_t len, char *out)
{
    sodium_bin2base64(out, sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL), in, len,
                      sodium_base64_VARIANT_ORIGINAL);
}

static int b64v(char c)
{
    const char *p = strchr(b64, c);

    return c != '\0' && p != NULL ? (int)(p - b64) : -1;
}

int gs_ops_b64_decode_prefix(const char *in, size_t inlen, uint8_t *out, size_t n)
{
    size_t o = 0;

    for (size_t i = 0; o < n; i += 4) {
        int v[4];

        if (i + 4 > inlen) {
            return -1;
        }
        for (size_t k = 0; k < 4; ++k) {
            v[k] = in[i + k] == '=' ? 0 : b64v(in[i + k]);
            if (v[k] < 0) {
                return -1;
            }
        }
        {
            uint32_t x =
                (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
            uint8_t b[3] = {(uint8_t)(x >> 16), (uint8_t)(x >> 8), (uint8_t)x};

            for (int k = 0; k < 3 && o < n; ++k) {
                out[o++] = b[k];
            }
        }
    }
    return 0;
}

/* ---- reporting ---- */

void gs_ops_result_header(FILE *f)
{
    fprintf(f, "%-9s %-13s %9s %9s %8s %6s %11s %8s %8s %8s %8s %9s\n", "impl", "offered/got",
            "published", "delivered", "ratio", "dups", "deliv/s", "p50 ms", "p90 ms", "p99 ms",
            "max ms", "cpu us/d");
}

void gs_ops_result_row(FILE *f, const char *impl, const gs_ops_result *r)
{
    fprintf(f, "%-9s %6.0f/%-6.0f %9llu %9llu %7.3f%% %6llu %11.0f %8.3f %8.3f %8.3f %8.3f %9.2f\n",
            impl, r->offered, r->achieved, (unsigned long long)r->published,
            (unsigned long long)r->deliveries,
            r->expected ? 100.0 * (double)r->deliveries / (double)r->expected : 0,
            (unsigned long long)r->duplicates, r->deliveries_per_s, gs_ops_hist_pct(&r->lat, 50),
            gs_ops_hist_pct(&r->lat, 90), gs_ops_hist_pct(&r->lat, 99), (double)r->lat.max_ns / 1e6,
            r->cpu_us_per_delivery);
}

void gs_ops_result_json(FILE *f, const gs_ops_result *r)
{
    fprintf(f,
            "{\"offered_rate\":%.1f,\"achieved_rate\":%.1f,\"published\":%llu,"
            "\"publish_errors\":%llu,\"deliveries\":%llu,\"expected\":%llu,"
            "\"delivery_ratio\":%.6f,\"duplicates\":%llu,\"seconds\":%.3f,"
            "\"deliveries_per_s\":%.1f,\"latency_ms\":{\"p50\":%.4f,\"p90\":%.4f,\"p99\":%.4f,"
            "\"max\":%.4f},\"cpu_s\":%.3f,\"cpu_us_per_delivery\":%.3f,\"generator_cpu_s\":%.3f}",
            r->offered, r->achieved, (unsigned long long)r->published,
            (unsigned long long)r->publish_errors, (unsigned long long)r->deliveries,
            (unsigned long long)r->expected,
            r->expected ? (double)r->deliveries / (double)r->expected : 0,
            (unsigned long long)r->duplicates, r->seconds, r->deliveries_per_s,
            gs_ops_hist_pct(&r->lat, 50), gs_ops_hist_pct(&r->lat, 90),
            gs_ops_hist_pct(&r->lat, 99), (double)r->lat.max_ns / 1e6, r->cpu_s,
            r->cpu_us_per_delivery, r->gen_cpu_s);
}

int gs_ops_plot(const char *reldir, const char *name, const char *script)
{
    char dir[4096];
    char path[4096 + 300];
    FILE *f;
    int rc;
    char cmd[13000];

    if (realpath(reldir, dir) == NULL) {
        fprintf(stderr, "gossip-bench: plot directory %s: %s\n", reldir, strerror(errno));
        return -1;
    }
    (void)snprintf(path, sizeof(path), "%s/%s.gp", dir, name);
    f = fopen(path, "w");
    if (f == NULL) {
        return -1;
    }
    fprintf(f, "set terminal pngcairo size 900,600 noenhanced\nset output '%s/%s.png'\n%s\n", dir,
            name, script);
    fclose(f);
    (void)snprintf(cmd, sizeof(cmd), "cd '%s' && gnuplot '%s' 2>'%s/%s.gnuplot.log'", dir, path,
                   dir, name);
    rc = system(cmd);
    if (rc != 0) {
        /* pngcairo is missing from gnuplot-nox: fall back to the png terminal */
        f = fopen(path, "w");
        if (f == NULL) {
            return -1;
        }
        fprintf(f, "set terminal png size 900,600 noenhanced\nset output '%s/%s.png'\n%s\n", dir,
                name, script);
        fclose(f);
        rc = system(cmd);
    }
    if (rc != 0) {
        fprintf(stderr, "gossip-bench: gnuplot failed for %s (see %s/%s.gnuplot.log)\n", name, dir,
                name);
        return -1;
    }
    return 0;
}

double gs_ops_loadavg(void)
{
    double l[3];

    return getloadavg(l, 3) >= 1 ? l[0] : -1;
}

int gs_ops_mkdir_p(const char *dir)
{
    char buf[4096];

    (void)snprintf(buf, sizeof(buf), "%s", dir);
    for (char *p = buf + 1; *p != '\0'; ++p) {
        if (*p == '/') {
            *p = '\0';
            (void)mkdir(buf, 0755);
            *p = '/';
        }
    }
    return mkdir(buf, 0755) == 0 || errno == EEXIST ? 0 : -1;
}
