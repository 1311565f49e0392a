/* test_dp_debug_store.c — process/debug_store.c: the live-session count the hot path reads, filters, the
 * transaction cap, the duration (on a fake clock), WebSocket completion through a handle, DELETE, slot limits
 * and eviction of ended sessions, from several threads at once. */
#include "process/debug_store.h"
#include "tg_test.h"

#include <pthread.h>
#include <string.h>

static uint64_t fake_now;
static uint64_t fake_clock(void) { return fake_now; }

static struct tg_slice sl(const char *s) { return (struct tg_slice){s, strlen(s)}; }

static char *start(struct tg_debug_store *st, const char *body_text, int *status)
{
    static char id[64];
    json_error_t e;
    json_t *body = json_loads(body_text, 0, &e);
    char err[256] = "";
    json_t *out = tg_debug_store_start(st, body, err, sizeof err, status);
    json_decref(body);
    if (!out)
        return NULL;
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(out, "id")));
    json_decref(out);
    return id;
}

static size_t recorded(struct tg_debug_store *st, const char *id)
{
    json_t *s = tg_debug_store_get(st, id);
    size_t n = s ? json_array_size(json_object_get(s, "transactions")) : (size_t)-1;
    json_decref(s);
    return n;
}

static const char *state(struct tg_debug_store *st, const char *id)
{
    static char buf[32];
    json_t *s = tg_debug_store_get(st, id);
    snprintf(buf, sizeof buf, "%s", s ? json_string_value(json_object_get(s, "state")) : "none");
    json_decref(s);
    return buf;
}

static void test_filters_cap_duration(void)
{
    struct tg_debug_store st;
    tg_debug_store_init(&st);
    st.now_ms = fake_clock;
    fake_now = 1000;
    const struct tg_debug_hooks *h = tg_debug_store_hooks(&st);
    struct tg_http_head req;
    memset(&req, 0, sizeof req);
    req.num_headers = 1;
    req.headers[0].name = sl("X-Debug");
    req.headers[0].value = sl("yes");

    CHECK_EQ_INT(atomic_load(h->active), 0);
    int status;
    char a[64], b[64];
    snprintf(a, sizeof a, "%s", start(&st, "{\"proxy\":\"ns/p\",\"maxTransactions\":2,\"durationSeconds\":5}", &status));
    CHECK_EQ_INT(status, 201);
    snprintf(b, sizeof b, "%s", start(&st, "{\"proxy\":\"ns/p\",\"pathPrefix\":\"/x\",\"header\":{\"name\":\"x-debug\",\"value\":\"yes\"},\"clientIp\":\"10.0.0.1\"}", &status));
    CHECK_EQ_INT(status, 201);
    CHECK_EQ_INT(atomic_load(h->active), 2);

    CHECK_EQ_INT(h->wants(h->owner, "prod", "ns/other", sl("/x"), &req, "10.0.0.1"), 0);
    CHECK_EQ_INT(h->wants(h->owner, "prod", "ns/p", sl("/y"), &req, "10.0.0.1"), 1); /* only a */
    CHECK_EQ_INT(h->wants(h->owner, "prod", "ns/p", sl("/x/1?q"), &req, "10.0.0.2"), 1);
    CHECK_EQ_INT(h->wants(h->owner, "prod", "ns/p", sl("/x/1?q"), &req, "10.0.0.1"), 3);
    CHECK_EQ_INT(h->wants(h->owner, "prod", "ns/p", sl("/y?/x"), &req, "10.0.0.1"), 1); /* query not a path */
    req.headers[0].value = sl("no");
    CHECK_EQ_INT(h->wants(h->owner, "prod", "ns/p", sl("/x"), &req, "10.0.0.1"), 1);

    /* a 101 record shared by both sessions, completed once */
    uint64_t handle = h->record(h->owner, 3, json_pack("{s:i}", "status", 101), 1);
    CHECK(handle > 0);
    CHECK_EQ_INT(h->record(h->owner, 1, json_pack("{s:i}", "status", 200), 0), 0);
    CHECK_EQ_INT(recorded(&st, a), 2);
    CHECK_EQ_STR(state(&st, a), "ended"); /* the cap */
    CHECK_EQ_INT(atomic_load(h->active), 1);
    CHECK_EQ_INT(h->record(h->owner, 1, json_pack("{s:i}", "status", 200), 0), 0);
    CHECK_EQ_INT(recorded(&st, a), 2);
    h->complete(h->owner, handle, json_pack("{s:i,s:s}", "closeCode", 1000, "closedBy", "client"));
    json_t *s = tg_debug_store_get(&st, b);
    json_t *t0 = json_array_get(json_object_get(s, "transactions"), 0);
    CHECK_EQ_STR(json_string_value(json_object_get(t0, "state")), "closed");
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(t0, "websocket"), "closeCode")), 1000);
    json_decref(s);

    /* duration: b has the default 600 s */
    fake_now += 600 * 1000;
    tg_debug_store_expire(&st);
    CHECK_EQ_STR(state(&st, b), "ended");
    CHECK_EQ_INT(atomic_load(h->active), 0);
    CHECK_EQ_INT(tg_debug_store_delete(&st, b), 0);
    CHECK_EQ_INT(tg_debug_store_delete(&st, b), -1);
    CHECK_EQ_STR(state(&st, b), "none");

    /* limits */
    CHECK(start(&st, "{\"proxy\":\"p\",\"durationSeconds\":901}", &status) == NULL && status == 400);
    CHECK(start(&st, "{\"proxy\":\"p\",\"maxTransactions\":0}", &status) == NULL && status == 400);
    CHECK(start(&st, "{\"environment\":\"prod\"}", &status) == NULL && status == 400);
    CHECK(start(&st, "[]", &status) == NULL && status == 400);
    tg_debug_store_destroy(&st);
}

static void test_slots(void)
{
    struct tg_debug_store st;
    tg_debug_store_init(&st);
    int status;
    char first[64] = "";
    for (int i = 0; i < TG_DEBUG_MAX_SESSIONS; i++) {
        char *id = start(&st, "{\"proxy\":\"p\",\"maxTransactions\":1}", &status);
        CHECK(id != NULL);
        if (i == 0 && id)
            snprintf(first, sizeof first, "%s", id);
    }
    CHECK(start(&st, "{\"proxy\":\"p\"}", &status) == NULL && status == 409);
    /* the first ends at its cap: its slot can be taken by a new session */
    CHECK_EQ_INT(st.hooks.record(&st, 1, json_object(), 0), 0);
    CHECK(start(&st, "{\"proxy\":\"p\"}", &status) != NULL && status == 201);
    CHECK_EQ_STR(state(&st, first), "none");
    tg_debug_store_destroy(&st);
}

struct worker_arg {
    struct tg_debug_store *st;
    int n;
};

static void *record_many(void *p)
{
    struct worker_arg *a = p;
    struct tg_http_head req;
    memset(&req, 0, sizeof req);
    for (int i = 0; i < a->n; i++) {
        uint64_t m = a->st->hooks.wants(a->st, "prod", "p", sl("/"), &req, "1.2.3.4");
        if (m)
            a->st->hooks.record(a->st, m, json_pack("{s:i}", "i", i), 0);
    }
    return NULL;
}

static void test_threads(void)
{
    struct tg_debug_store st;
    tg_debug_store_init(&st);
    int status;
    char id[64];
    snprintf(id, sizeof id, "%s", start(&st, "{\"proxy\":\"p\",\"maxTransactions\":100}", &status));
    pthread_t th[4];
    struct worker_arg arg = {&st, 1000};
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, record_many, &arg);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ_INT(recorded(&st, id), 100); /* bounded, whatever the traffic */
    CHECK_EQ_INT(atomic_load(&st.active), 0);
    tg_debug_store_destroy(&st);
}

int main(void)
{
    test_filters_cap_duration();
    test_slots();
    test_threads();
    TG_TEST_MAIN_END();
}
