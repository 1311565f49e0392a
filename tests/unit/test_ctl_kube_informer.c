/* test_ctl_kube_informer.c — the informer against a real HTTP server on 127.0.0.1 (a scripted peer in a thread
 * speaking HTTP/1.1 over real sockets): paginated list (limit/continue), watch from the list's
 * resourceVersion with bookmarks, events split across TCP writes, resourceVersion bookkeeping across a
 * normal watch end, ERROR 410 in the stream and HTTP 410 on the watch both leading to an atomic relist,
 * selectors escaped into the query, list items completed with apiVersion/kind and stripped. */
#include "source/kube_informer.h"
#include "tg_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define STEPS 8
static int listen_fd, port;
static char requests[STEPS][4096];
static atomic_int step_reached;

static void send_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void send_str(int fd, const char *s) { send_all(fd, s, strlen(s)); }

static void respond(int fd, int status, const char *body)
{
    char head[256];
    snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n", status, strlen(body));
    send_str(fd, head);
    send_str(fd, body);
}

/* A watch stream: close-delimited body, written in small pieces that split lines anywhere. */
static void stream(int fd, const char *body)
{
    send_str(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n");
    size_t n = strlen(body);
    for (size_t off = 0; off < n; off += 7) {
        send_all(fd, body + off, n - off < 7 ? n - off : 7);
        usleep(2000);
    }
}

static void *server(void *arg)
{
    for (int step = 0; step < STEPS; step++) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0)
            return NULL;
        char buf[4096];
        size_t len = 0;
        while (len < sizeof buf - 1) {
            ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
            if (r <= 0)
                break;
            len += (size_t)r;
            buf[len] = '\0';
            if (strstr(buf, "\r\n\r\n"))
                break;
        }
        buf[len] = '\0';
        char *eol = strstr(buf, "\r\n");
        if (eol)
            *eol = '\0';
        snprintf(requests[step], sizeof requests[step], "%s", buf);
        atomic_store(&step_reached, step + 1);
        switch (step) {
        case 0:
            respond(fd, 200, "{\"kind\":\"ServiceList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"10\","
                             "\"continue\":\"tok/1=\"},\"items\":[{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\","
                             "\"resourceVersion\":\"5\",\"managedFields\":[{}],\"annotations\":{"
                             "\"kubectl.kubernetes.io/last-applied-configuration\":\"{}\"}}},"
                             "{\"metadata\":{\"name\":\"b\",\"namespace\":\"n\"}}]}");
            break;
        case 1:
            respond(fd, 200, "{\"kind\":\"ServiceList\",\"metadata\":{\"resourceVersion\":\"10\"},"
                             "\"items\":[{\"metadata\":{\"name\":\"c\",\"namespace\":\"n\"}}]}");
            break;
        case 2:
            stream(fd, "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Service\",\"apiVersion\":\"v1\",\"metadata\":"
                       "{\"name\":\"d\",\"namespace\":\"n\",\"resourceVersion\":\"11\"}}}\n"
                       "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Service\",\"apiVersion\":\"v1\",\"metadata\":"
                       "{\"resourceVersion\":\"15\"}}}\n"
                       "{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Service\",\"apiVersion\":\"v1\",\"metadata\":"
                       "{\"name\":\"a\",\"namespace\":\"n\",\"resourceVersion\":\"16\"},\"spec\":{}}}\n");
            break;
        case 3:
            stream(fd, "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":"
                       "\"Failure\",\"message\":\"too old resource version: 16 (40)\",\"reason\":\"Expired\","
                       "\"code\":410}}\n");
            break;
        case 4:
            respond(fd, 200, "{\"kind\":\"ServiceList\",\"metadata\":{\"resourceVersion\":\"20\"},\"items\":["
                             "{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"}},"
                             "{\"metadata\":{\"name\":\"d\",\"namespace\":\"n\"}}]}");
            break;
        case 5:
            respond(fd, 410, "{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\",\"message\":\"gone\"}");
            break;
        case 6:
            respond(fd, 200, "{\"kind\":\"ServiceList\",\"metadata\":{\"resourceVersion\":\"30\"},\"items\":["
                             "{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"}}]}");
            break;
        case 7:
            /* Hold the last watch open until the test is done with it. */
            send_str(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n");
            usleep(300000);
            break;
        }
        close(fd);
    }
    return NULL;
}

static char log_text[8192];

static void note(const char *fmt, const char *a, const char *b)
{
    char line[512];
    snprintf(line, sizeof line, fmt, a, b);
    strncat(log_text, line, sizeof log_text - strlen(log_text) - 1);
}

static void on_replace(void *arg, json_t *items)
{
    note("replace[", "", "");
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        json_t *md = json_object_get(it, "metadata");
        note("%s%s", i ? "," : "", json_string_value(json_object_get(md, "name")));
        CHECK_EQ_STR(json_string_value(json_object_get(it, "kind")), "Service");
        CHECK_EQ_STR(json_string_value(json_object_get(it, "apiVersion")), "v1");
        CHECK(json_object_get(md, "managedFields") == NULL);
        CHECK(json_object_get(md, "annotations") == NULL);
    }
    note("] ", "", "");
}

static void on_event(void *arg, enum tg_watch_type type, json_t *obj)
{
    static const char *const names[] = {"ADDED", "MODIFIED", "DELETED"};
    note("%s:%s ", names[type], json_string_value(json_object_get(json_object_get(obj, "metadata"), "name")));
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    if (atomic_load(&step_reached) >= STEPS)
        ev_break(loop, EVBREAK_ALL);
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    fprintf(stderr, "deadline reached at step %d\n", atomic_load(&step_reached));
    ev_break(loop, EVBREAK_ALL);
}

static void test_paths(void)
{
    char p[256];
    CHECK_EQ_INT(tg_kube_collection_path("v1", NULL, "services", p, sizeof p), 0);
    CHECK_EQ_STR(p, "/api/v1/services");
    CHECK_EQ_INT(tg_kube_collection_path("tollgate.dev/v1alpha1", "apis", "apiproxies", p, sizeof p), 0);
    CHECK_EQ_STR(p, "/apis/tollgate.dev/v1alpha1/namespaces/apis/apiproxies");
    CHECK_EQ_INT(tg_kube_collection_path("v1", "a/b", "services", p, sizeof p), -1);
    CHECK_EQ_INT(tg_kube_collection_path("v1", "a?x", "services", p, sizeof p), -1);
    char e[64];
    CHECK_EQ_STR(tg_kube_query_escape("type=kubernetes.io/tls,a!=b", e, sizeof e),
                 "type%3Dkubernetes.io%2Ftls%2Ca%21%3Db");
    CHECK(tg_kube_query_escape("////////////////////////", e, 16) == NULL);
}

int main(void)
{
    test_paths();
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    if (bind(listen_fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(listen_fd, 16) != 0)
        return 2;
    getsockname(listen_fd, (struct sockaddr *)&sa, &sl);
    port = ntohs(sa.sin_port);
    pthread_t th;
    pthread_create(&th, NULL, server, NULL);

    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct tg_kube_config cfg = {0};
    snprintf(cfg.server, sizeof cfg.server, "http://127.0.0.1:%d", port);
    cfg.token = strdup("test-token");
    struct tg_kube_client *c = tg_kube_client_new(loop, &cfg);
    struct tg_informer_spec spec = {.api_version = "v1", .kind = "Service", .resource = "services",
                                    .namespace_ = "n", .field_selector = "type=kubernetes.io/tls",
                                    .label_selector = "app in (a,b)", .page_limit = 2};
    struct tg_informer_ops ops = {.on_replace = on_replace, .on_event = on_event};
    struct tg_informer *inf = tg_informer_new(c, &spec, &ops, NULL);
    CHECK(inf != NULL);
    tg_informer_start(inf);
    ev_timer tick, deadline;
    ev_timer_init(&tick, on_tick, 0.01, 0.01);
    ev_timer_init(&deadline, on_deadline, 10., 0.);
    ev_timer_start(loop, &tick);
    ev_timer_start(loop, &deadline);
    ev_run(loop, 0);

    CHECK_EQ_INT(atomic_load(&step_reached), STEPS);
    CHECK_EQ_STR(log_text, "replace[a,b,c] ADDED:d MODIFIED:a replace[a,d] replace[a] ");
    const char *sel = "&fieldSelector=type%3Dkubernetes.io%2Ftls&labelSelector=app%20in%20%28a%2Cb%29";
    char want[1024];
    snprintf(want, sizeof want, "GET /api/v1/namespaces/n/services?limit=2%s HTTP/1.1", sel);
    CHECK_EQ_STR(requests[0], want);
    snprintf(want, sizeof want, "GET /api/v1/namespaces/n/services?limit=2%s&continue=tok%%2F1%%3D HTTP/1.1", sel);
    CHECK_EQ_STR(requests[1], want);
    CHECK(strstr(requests[2], "?watch=1&allowWatchBookmarks=true&resourceVersion=10&timeoutSeconds=") != NULL);
    CHECK(strstr(requests[2], sel) != NULL);
    CHECK(strstr(requests[3], "resourceVersion=16&") != NULL); /* after the bookmark (15) and MODIFIED (16) */
    CHECK(strstr(requests[4], "?limit=2") != NULL && !strstr(requests[4], "continue="));
    CHECK(strstr(requests[5], "watch=1") && strstr(requests[5], "resourceVersion=20&"));
    CHECK(strstr(requests[6], "?limit=2") != NULL);
    CHECK(strstr(requests[7], "resourceVersion=30&") != NULL);
    const struct tg_informer_stats *st = tg_informer_stats(inf);
    CHECK_EQ_INT(st->lists, 3);
    CHECK_EQ_INT(st->relists, 2);
    CHECK_EQ_INT(st->events, 2);
    CHECK_EQ_INT(st->watch_restarts, 3); /* watches at steps 2, 3, 5, 7 */
    CHECK(tg_informer_synced(inf));
    CHECK_EQ_STR(tg_informer_resource_version(inf), "30");

    tg_informer_free(inf);
    tg_kube_client_free(c);
    tg_kube_config_free(&cfg);
    pthread_join(th, NULL);
    close(listen_fd);
    ev_loop_destroy(loop);
    TG_TEST_MAIN_END();
}
