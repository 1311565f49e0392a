/* test_ctl_dir_source.c — dir mode against a real directory: initial load, multi-document and JSON files,
 * last good objects kept when a file breaks, deletions, duplicates, ignored files, and change detection
 * through inotify within a second (run on a real libev loop). */
#include "source/dir_source.h"
#include "model/store.h"
#include "tg_test.h"

#include <ev.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];
static int changes;

static void write_file(const char *name, const char *text)
{
    char path[512], tmp[520];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    FILE *f = fopen(tmp, "w");
    fputs(text, f);
    fclose(f);
    rename(tmp, path); /* atomic, like editors and kubectl cp do */
}

static void remove_file(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

static void on_changed(void *arg)
{
    changes++;
}

static const char *proxy(const char *name, const char *base)
{
    static char bufs[2][512];
    static int which;
    char *buf = bufs[which++ % 2];
    snprintf(buf, sizeof bufs[0],
             "apiVersion: tollgate.dev/v1alpha1\nkind: ApiProxy\nmetadata: {name: %s}\n"
             "spec: {environments: [prod], basePath: %s, target: {url: 'http://10.0.0.1'}}\n",
             name, base);
    return buf;
}

static const char *base_path_of(struct tg_store *s, const char *name)
{
    const struct tg_store_object *o = tg_store_get(s, TG_KIND_API_PROXY, "default", name);
    return o ? json_string_value(json_object_get(json_object_get(o->obj, "spec"), "basePath")) : NULL;
}

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    ev_break(loop, EVBREAK_ONE);
}

static void on_poll(struct ev_loop *loop, ev_timer *w, int revents)
{
    if (changes > *(int *)w->data)
        ev_break(loop, EVBREAK_ONE);
}

/* Runs the loop until the source reports a change or `seconds` pass; returns the time it took in ms. */
static double wait_change(struct ev_loop *loop, double seconds)
{
    int before = changes;
    ev_timer t, p;
    ev_timer_init(&t, on_timeout, seconds, 0.);
    ev_timer_init(&p, on_poll, 0.01, 0.01);
    p.data = &before;
    ev_timer_start(loop, &t);
    ev_timer_start(loop, &p);
    ev_now_update(loop);
    double start = ev_now(loop);
    ev_run(loop, 0);
    ev_now_update(loop);
    ev_timer_stop(loop, &t);
    ev_timer_stop(loop, &p);
    return changes > before ? (ev_now(loop) - start) * 1000.0 : -1;
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/tg-dir-test-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    char two[2048];
    snprintf(two, sizeof two, "%s---\n%s", proxy("a", "/a"), proxy("b", "/b"));
    write_file("01-two.yaml", two);
    write_file("02-one.json",
               "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cm\",\"namespace\":\"x\"}}");
    write_file("notes.txt", "not a manifest");
    write_file(".hidden.yaml", proxy("hidden", "/h"));

    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct tg_store *store = tg_store_new();
    char err[256];
    struct tg_dir_source *s = tg_dir_source_new(loop, store, dir, on_changed, NULL, err, sizeof err);
    CHECK(s != NULL);
    CHECK_EQ_INT(tg_dir_source_start(s, err, sizeof err), 0);
    CHECK_EQ_INT(changes, 1);
    CHECK_EQ_INT(tg_store_count(store, TG_KIND_API_PROXY), 2);
    CHECK_EQ_INT(tg_store_count(store, TG_KIND_CONFIG_MAP), 1);
    CHECK(tg_store_get(store, TG_KIND_CONFIG_MAP, "x", "cm") != NULL);
    CHECK(tg_store_get(store, TG_KIND_API_PROXY, "default", "hidden") == NULL);
    const struct tg_store_object *a = tg_store_get(store, TG_KIND_API_PROXY, "default", "a");
    CHECK(a && strstr(a->origin.source, "01-two.yaml") && a->origin.document == 1);
    const struct tg_store_object *b = tg_store_get(store, TG_KIND_API_PROXY, "default", "b");
    CHECK(b && b->origin.document == 2);
    CHECK_EQ_INT(tg_diags_count(tg_dir_source_diags(s), TG_DIAG_ERROR), 0);

    /* unchanged reload: store untouched */
    uint64_t rev = tg_store_revision(store);
    CHECK_EQ_INT(tg_dir_source_reload(s), 0);
    CHECK_EQ_INT(tg_store_revision(store), rev);

    /* a change is seen through inotify, debounced, well within a second */
    snprintf(two, sizeof two, "%s---\n%s", proxy("a", "/a2"), proxy("b", "/b"));
    write_file("01-two.yaml", two);
    double ms = wait_change(loop, 3.0);
    CHECK(ms >= 0 && ms < 1000);
    CHECK_EQ_STR(base_path_of(store, "a"), "/a2");

    /* a broken file keeps its last good objects, and says so */
    write_file("01-two.yaml", "apiVersion: v1\nkind: [\n");
    CHECK_EQ_INT(tg_dir_source_reload(s), 0);
    CHECK_EQ_STR(base_path_of(store, "a"), "/a2");
    CHECK_EQ_INT(tg_store_count(store, TG_KIND_API_PROXY), 2);
    const struct tg_diags *d = tg_dir_source_diags(s);
    CHECK_EQ_INT(tg_diags_count(d, TG_DIAG_ERROR), 1);
    CHECK(d->count >= 1 && strstr(d->items[0].text, "01-two.yaml doc 1: line") != NULL);
    /* ... also when a document is not a Kubernetes object */
    write_file("01-two.yaml", "apiVersion: tollgate.dev/v1alpha1\nkind: ApiProxy\nmetadata: {}\n");
    CHECK_EQ_INT(tg_dir_source_reload(s), 0);
    CHECK_EQ_INT(tg_store_count(store, TG_KIND_API_PROXY), 2);

    /* fixed: b disappears from the file, so from the store */
    write_file("01-two.yaml", proxy("a", "/a3"));
    CHECK_EQ_INT(tg_dir_source_reload(s), 1);
    CHECK_EQ_STR(base_path_of(store, "a"), "/a3");
    CHECK(tg_store_get(store, TG_KIND_API_PROXY, "default", "b") == NULL);

    /* a duplicate in a later file is reported and ignored */
    write_file("03-dup.yml", proxy("a", "/dup"));
    CHECK_EQ_INT(tg_dir_source_reload(s), 0);
    CHECK_EQ_STR(base_path_of(store, "a"), "/a3");
    d = tg_dir_source_diags(s);
    CHECK(d->count == 1 && strstr(d->items[0].text, "already defined in") != NULL);
    /* the earlier file goes away: the later definition takes over */
    remove_file("01-two.yaml");
    CHECK_EQ_INT(tg_dir_source_reload(s), 1);
    CHECK_EQ_STR(base_path_of(store, "a"), "/dup");

    /* unknown kinds are skipped with a warning; a deleted file takes its objects along */
    write_file("04-pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n");
    remove_file("02-one.json");
    CHECK_EQ_INT(tg_dir_source_reload(s), 1);
    CHECK_EQ_INT(tg_store_count(store, TG_KIND_CONFIG_MAP), 0);
    CHECK_EQ_INT(tg_diags_count(tg_dir_source_diags(s), TG_DIAG_WARNING), 1);

    /* deletion is seen through inotify too */
    remove_file("03-dup.yml");
    ms = wait_change(loop, 3.0);
    CHECK(ms >= 0 && ms < 1000);
    CHECK_EQ_INT(tg_store_count(store, TG_KIND_API_PROXY), 0);

    /* an oversized file is refused without reading it whole */
    char big[600];
    snprintf(big, sizeof big, "%s/05-big.yaml", dir);
    FILE *f = fopen(big, "w");
    fseek(f, 9 << 20, SEEK_SET);
    fputc('\n', f);
    fclose(f);
    tg_dir_source_reload(s);
    d = tg_dir_source_diags(s);
    int found = 0;
    for (size_t i = 0; i < d->count; i++)
        found |= strstr(d->items[i].text, "larger than 8 MiB") != NULL;
    CHECK(found);
    unlink(big);

    /* a missing directory is an error at start */
    struct tg_dir_source *missing = tg_dir_source_new(loop, store, "/nonexistent/tollgate", on_changed, NULL, err,
                                                      sizeof err);
    CHECK(missing != NULL);
    CHECK_EQ_INT(tg_dir_source_start(missing, err, sizeof err), -1);
    tg_dir_source_free(missing);

    tg_dir_source_free(s);
    tg_store_free(store);
    ev_loop_destroy(loop);
    remove_file("04-pod.yaml");
    remove_file("notes.txt");
    remove_file(".hidden.yaml");
    rmdir(dir);
    TG_TEST_MAIN_END();
}
