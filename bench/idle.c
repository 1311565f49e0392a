/* idle.c — see idle.h. The parent forks the client processes before it touches libev; each child opens its
 * share with at most BATCH handshakes in flight, reports "OPEN n" on a status pipe, then holds its sessions until
 * the parent closes the control pipe, and reports "LOST k" (sessions the server closed meanwhile) before exiting.
 * The parent never holds a session itself, so its own descriptors do not count against anyone's limit. */
#include "idle.h"

#include <errno.h>
#include <ev.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ws_client.h"

#define BATCH 128
#define MAX_PROCS 64

long tg_bench_rss_kib(const pid_t *pids, int npids)
{
    long total = 0;
    for (int i = 0; i < npids; i++) {
        char path[64], line[256];
        snprintf(path, sizeof path, "/proc/%d/status", (int)pids[i]);
        FILE *f = fopen(path, "r");
        if (!f)
            return -1;
        long kib = -1;
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "VmRSS:", 6) == 0) {
                kib = strtol(line + 6, NULL, 10);
                break;
            }
        fclose(f);
        if (kib < 0)
            return -1;
        total += kib;
    }
    return total;
}

/* ---- child side ---- */

struct idle_child {
    struct ev_loop *loop;
    const struct tg_bench_target *target;
    struct tg_bench_conn *conns;
    long share, started, opened, lost;
    int holding;
    const char *failure;
    int status_fd;
    ev_timer timer;
    ev_io ctl;
};

static void do_child_start_next(struct idle_child *ch);

static void on_child_open(struct tg_bench_conn *c)
{
    struct idle_child *ch = c->user;
    ch->opened++;
    do_child_start_next(ch);
    if (ch->opened == ch->share) {
        ev_timer_stop(ch->loop, &ch->timer);
        ch->holding = 1;
        dprintf(ch->status_fd, "OPEN %ld\n", ch->opened);
    }
}

static void on_child_message(struct tg_bench_conn *c, uint64_t bytes) {}

static void on_child_closed(struct tg_bench_conn *c, const char *why)
{
    struct idle_child *ch = c->user;
    if (ch->holding) {
        ch->lost++;
        return;
    }
    ch->failure = why;
    ev_break(ch->loop, EVBREAK_ALL);
}

static const struct tg_bench_conn_ops idle_ops = {on_child_open, on_child_message, on_child_closed};

static void do_child_start_next(struct idle_child *ch)
{
    while (ch->started < ch->share && ch->started - ch->opened < BATCH) {
        struct tg_bench_conn *c = &ch->conns[ch->started++];
        if (tg_bench_conn_start(c, ch->loop, ch->target, &idle_ops, ch) != 0) {
            ch->failure = "cannot create a client socket";
            ev_break(ch->loop, EVBREAK_ALL);
            return;
        }
    }
}

static void on_child_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct idle_child *ch = w->data;
    ch->failure = "timed out opening the sessions";
    ev_break(loop, EVBREAK_ALL);
}

static void on_child_ctl(struct ev_loop *loop, ev_io *w, int revents)
{
    char b[64];
    ssize_t n = read(w->fd, b, sizeof b);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
        ev_break(loop, EVBREAK_ALL); /* the parent closed the control pipe: stop holding */
}

static int child_main(const struct tg_bench_idle_opts *o, long share, int status_fd, int ctl_fd)
{
    struct idle_child ch = {.target = &o->target, .share = share, .status_fd = status_fd};
    tg_bench_raise_nofile();
    ch.loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV);
    ch.conns = calloc((size_t)share, sizeof *ch.conns);
    if (!ch.loop || !ch.conns) {
        dprintf(status_fd, "FAIL out of memory\n");
        free(ch.conns);
        if (ch.loop)
            ev_loop_destroy(ch.loop);
        return 1;
    }
    ev_timer_init(&ch.timer, on_child_timer, o->connect_timeout_s, 0.);
    ch.timer.data = &ch;
    ev_timer_start(ch.loop, &ch.timer);
    ev_io_init(&ch.ctl, on_child_ctl, ctl_fd, EV_READ);
    ev_io_start(ch.loop, &ch.ctl);
    if (share == 0) {
        ch.holding = 1;
        dprintf(status_fd, "OPEN 0\n");
    } else {
        do_child_start_next(&ch);
    }
    ev_run(ch.loop, 0);
    if (!ch.holding) {
        dprintf(status_fd, "FAIL %s (%ld of %ld opened)\n", ch.failure ? ch.failure : "stopped", ch.opened, share);
        return 1;
    }
    dprintf(status_fd, "LOST %ld\n", ch.lost);
    /* exiting closes every session at once; no per-connection teardown needed */
    return 0;
}

/* ---- parent side ---- */

static double now_s(void) { return (double)tg_bench_now_ns() / 1e9; }

/* Reads complete lines from fd into acc until want lines starting with prefix were seen, a FAIL line arrives,
 * or the deadline passes. Returns the sum of the numbers after prefix, or -1 (the reason printed). */
static long collect(int fd, const char *prefix, long want, double deadline, const char *label)
{
    static char acc[65536];
    static size_t acc_len;
    long seen = 0, sum = 0;
    size_t plen = strlen(prefix);
    while (seen < want) {
        char *nl;
        while ((nl = memchr(acc, '\n', acc_len)) != NULL) {
            *nl = '\0';
            if (strncmp(acc, prefix, plen) == 0) {
                sum += strtol(acc + plen, NULL, 10);
                seen++;
            } else if (strncmp(acc, "FAIL ", 5) == 0) {
                fprintf(stderr, "tollgate-bench: idle %s: client process: %s\n", label, acc + 5);
                return -1;
            }
            size_t used = (size_t)(nl - acc) + 1;
            memmove(acc, nl + 1, acc_len - used);
            acc_len -= used;
        }
        if (seen >= want)
            break;
        double left = deadline - now_s();
        if (left <= 0) {
            fprintf(stderr, "tollgate-bench: idle %s: timed out waiting for the client processes\n", label);
            return -1;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, (int)(left * 1000) + 1);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue;
        if (acc_len == sizeof acc) {
            fprintf(stderr, "tollgate-bench: idle %s: status overflow\n", label);
            return -1;
        }
        ssize_t n = read(fd, acc + acc_len, sizeof acc - acc_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "tollgate-bench: idle %s: client processes exited early\n", label);
            return -1;
        }
        acc_len += (size_t)n;
    }
    return sum;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int tg_bench_run_idle(const struct tg_bench_idle_opts *o, FILE *out)
{
    int rc = -1;
    int status_pipe[2] = {-1, -1}, ctl_pipe[2] = {-1, -1};
    pid_t kids[MAX_PROCS];
    long nkids = 0;
    if (o->procs < 1 || o->procs > MAX_PROCS) {
        fprintf(stderr, "tollgate-bench: idle: --procs must be 1..%d\n", MAX_PROCS);
        return -1;
    }
    if (pipe(status_pipe) != 0 || pipe(ctl_pipe) != 0) {
        perror("tollgate-bench: pipe");
        goto cleanup;
    }
    long rss_before = o->npids ? tg_bench_rss_kib(o->pids, o->npids) : 0;
    if (rss_before < 0) {
        fprintf(stderr, "tollgate-bench: idle %s: cannot read VmRSS of the proxy processes\n", o->label);
        goto cleanup;
    }
    fflush(NULL);
    double t0 = now_s();
    for (long i = 0; i < o->procs; i++) {
        long share = o->sessions / o->procs + (i < o->sessions % o->procs ? 1 : 0);
        pid_t pid = fork();
        if (pid < 0) {
            perror("tollgate-bench: fork");
            goto cleanup;
        }
        if (pid == 0) {
            close(status_pipe[0]);
            close(ctl_pipe[1]);
            _exit(child_main(o, share, status_pipe[1], ctl_pipe[0]));
        }
        kids[nkids++] = pid;
    }
    close(status_pipe[1]);
    status_pipe[1] = -1;
    close(ctl_pipe[0]);
    ctl_pipe[0] = -1;

    long opened = collect(status_pipe[0], "OPEN ", nkids, t0 + o->connect_timeout_s + 5, o->label);
    if (opened < 0)
        goto cleanup;
    double open_s = now_s() - t0;
    sleep_s(o->settle_s);
    long rss_after = o->npids ? tg_bench_rss_kib(o->pids, o->npids) : 0;
    close(ctl_pipe[1]);
    ctl_pipe[1] = -1;
    long lost = collect(status_pipe[0], "LOST ", nkids, now_s() + 30, o->label);
    if (rss_after < 0) {
        fprintf(stderr, "tollgate-bench: idle %s: the proxy process went away during the hold\n", o->label);
        goto cleanup;
    }
    long delta = rss_after - rss_before;
    fprintf(out, "RESULT scenario=idle label=%s sessions=%ld procs=%ld open_s=%.2f settle_s=%.1f", o->label,
            opened, nkids, open_s, o->settle_s);
    if (o->npids)
        fprintf(out, " rss_before_kib=%ld rss_after_kib=%ld delta_kib=%ld bytes_per_session=%.0f", rss_before,
                rss_after, delta, opened ? (double)delta * 1024.0 / (double)opened : 0.0);
    fprintf(out, " lost=%ld\n", lost < 0 ? -1 : lost);
    fflush(out);
    rc = lost == 0 ? 0 : -1;
    if (lost != 0)
        fprintf(stderr, "tollgate-bench: idle %s: %ld sessions were closed by the server during the hold\n",
                o->label, lost);
cleanup:
    if (ctl_pipe[1] >= 0)
        close(ctl_pipe[1]);
    if (ctl_pipe[0] >= 0)
        close(ctl_pipe[0]);
    if (status_pipe[1] >= 0)
        close(status_pipe[1]);
    for (long k = 0; k < nkids; k++) {
        int st;
        if (rc != 0)
            kill(kids[k], SIGTERM);
        while (waitpid(kids[k], &st, 0) < 0 && errno == EINTR) {
        }
    }
    if (status_pipe[0] >= 0)
        close(status_pipe[0]);
    return rc;
}
