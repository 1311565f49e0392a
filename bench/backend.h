/* backend.h — the bench backend (`tollgate-bench backend`): the one upstream every peer of the benchmark proxies
 * to. WebSocket echo on any path (RFC 6455: frames are echoed as they stream in, unmasked, so a 1 MiB message
 * is never buffered whole; ping → pong, close → close), and a plain-text "hello" for any other HTTP/1.1 request,
 * keep-alive and pipelining included. One libev loop per thread, each with its own SO_REUSEPORT listener. */
#ifndef TG_BENCH_BACKEND_H
#define TG_BENCH_BACKEND_H

struct tg_bench_backend_opts {
    const char *listen; /* ADDR:PORT */
    long threads;       /* event-loop threads, 1..64 */
};

/* Serves until the process is killed. Returns -1 when it cannot listen. */
int tg_bench_run_backend(const struct tg_bench_backend_opts *o);

#endif
