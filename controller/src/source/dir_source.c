/* dir_source.c — see dir_source.h. Per file, the last successfully parsed manifests are cached; a reload
 * parses every file again (small directories: simpler and more robust than tracking which file changed),
 * builds the desired object set from the files' new or last good manifests, and syncs the store to it
 * (put what is new or changed, delete what is gone). */
#include "source/dir_source.h"

#include "clock.h"
#include "log.h"
#include "source/manifest.h"
#include "source/source.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEBOUNCE_S 0.1
#define MAX_DELAY_MS 900
#define RESCAN_S 1.0

struct file_cache {
    char name[256];
    struct tg_manifest_set set; /* last good parse */
    int seen;                   /* present in the current listing */
};

struct tg_dir_source {
    struct ev_loop *loop;
    struct tg_store *store;
    char path[4096];
    tg_dir_changed_cb changed;
    void *arg;
    struct file_cache *files;
    size_t nfiles, cap;
    struct tg_diags diags;
    uint64_t fingerprint;
    int inotify_fd;
    ev_io inotify_io;
    ev_timer debounce;
    ev_timer rescan;
    uint64_t first_event_ms;
    unsigned long reloads;
    int started, synced, dir_error_logged;
};

static int wanted_name(const char *name)
{
    if (name[0] == '.')
        return 0;
    size_t n = strlen(name);
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) || (n > 4 && strcmp(name + n - 4, ".yml") == 0) ||
           (n > 5 && strcmp(name + n - 5, ".json") == 0);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists the wanted regular files, sorted; fills *fp with a fingerprint of names, sizes, mtimes and inodes. */
static int list_files(struct tg_dir_source *s, char ***names_out, size_t *n_out, uint64_t *fp)
{
    DIR *d = opendir(s->path);
    if (!d)
        return -1;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!wanted_name(e->d_name) || strlen(e->d_name) >= sizeof s->files[0].name)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn)
                break;
            names = nn;
        }
        names[n] = strdup(e->d_name);
        if (names[n])
            n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_names);
    uint64_t h = 1469598103934665603ULL; /* FNV-1a over the listing */
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        char full[4400];
        struct stat st;
        snprintf(full, sizeof full, "%s/%s", s->path, names[i]);
        if (stat(full, &st) < 0 || !S_ISREG(st.st_mode)) {
            free(names[i]);
            continue;
        }
        uint64_t parts[4] = {(uint64_t)st.st_size, (uint64_t)st.st_mtim.tv_sec, (uint64_t)st.st_mtim.tv_nsec,
                             (uint64_t)st.st_ino};
        for (const char *c = names[i]; *c; c++)
            h = (h ^ (unsigned char)*c) * 1099511628211ULL;
        for (int k = 0; k < 4; k++)
            for (int b = 0; b < 8; b++)
                h = (h ^ ((parts[k] >> (8 * b)) & 0xff)) * 1099511628211ULL;
        names[kept++] = names[i];
    }
    *names_out = names;
    *n_out = kept;
    *fp = h;
    return 0;
}

static struct file_cache *cache_get(struct tg_dir_source *s, const char *name, int create)
{
    for (size_t i = 0; i < s->nfiles; i++)
        if (strcmp(s->files[i].name, name) == 0)
            return &s->files[i];
    if (!create)
        return NULL;
    if (s->nfiles == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 16;
        struct file_cache *n = realloc(s->files, ncap * sizeof *n);
        if (!n)
            return NULL;
        s->files = n;
        s->cap = ncap;
    }
    struct file_cache *f = &s->files[s->nfiles++];
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    return f;
}

/* Reads a whole file, bounded. NULL with *why on failure. */
static char *read_bounded(const char *full, size_t *len, const char **why)
{
    int fd = open(full, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        *why = strerror(errno);
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        *why = "not a regular file";
        return NULL;
    }
    if ((uint64_t)st.st_size > TG_MANIFEST_MAX_FILE_BYTES) {
        close(fd);
        *why = "file is larger than 8 MiB";
        return NULL;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        *why = "out of memory";
        return NULL;
    }
    for (;;) {
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            *why = strerror(errno);
            free(buf);
            close(fd);
            return NULL;
        }
        if (got == 0)
            break;
        n += (size_t)got;
        if (n == cap) { /* grew while we read: bounded re-check */
            if (cap > TG_MANIFEST_MAX_FILE_BYTES) {
                *why = "file is larger than 8 MiB";
                free(buf);
                close(fd);
                return NULL;
            }
            cap = cap * 2 > TG_MANIFEST_MAX_FILE_BYTES + 1 ? TG_MANIFEST_MAX_FILE_BYTES + 1 : cap * 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                close(fd);
                *why = "out of memory";
                return NULL;
            }
            buf = nb;
        }
    }
    close(fd);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* One desired object: points into a file cache's manifest set. */
struct want {
    const struct tg_manifest *m;
    const char *file;
    const char *ns, *name;
};

static const char *meta_str(const json_t *obj, const char *key, const char *def)
{
    json_t *v = json_object_get(json_object_get(obj, "metadata"), key);
    return json_is_string(v) && json_string_length(v) ? json_string_value(v) : def;
}

int tg_dir_source_reload(struct tg_dir_source *s)
{
    char **names = NULL;
    size_t n = 0;
    uint64_t fp = 0;
    if (list_files(s, &names, &n, &fp) < 0) {
        if (!s->dir_error_logged)
            tg_error("dir:%s: cannot read the directory: %s (keeping the current configuration)", s->path,
                     strerror(errno));
        s->dir_error_logged = 1;
        return -1;
    }
    s->dir_error_logged = 0;
    s->fingerprint = fp;
    s->reloads++;
    tg_diags_free(&s->diags);
    tg_diags_init(&s->diags);
    if (n > TG_DIR_MAX_FILES) {
        tg_diags_add(&s->diags, TG_DIAG_ERROR, "dir:%s: more than %d manifest files; only the first %d are read",
                     s->path, TG_DIR_MAX_FILES, TG_DIR_MAX_FILES);
        for (size_t i = TG_DIR_MAX_FILES; i < n; i++)
            free(names[i]);
        n = TG_DIR_MAX_FILES;
    }
    for (size_t i = 0; i < s->nfiles; i++)
        s->files[i].seen = 0;
    /* parse every file; a failure keeps the file's previous manifests */
    for (size_t i = 0; i < n; i++) {
        char full[4400], origin[4400];
        snprintf(full, sizeof full, "%s/%s", s->path, names[i]);
        snprintf(origin, sizeof origin, "%s", full);
        size_t len = 0;
        const char *why = NULL;
        struct file_cache *fc = cache_get(s, names[i], 1);
        if (!fc)
            continue;
        fc->seen = 1;
        char *buf = read_bounded(full, &len, &why);
        if (!buf) {
            tg_diags_add(&s->diags, TG_DIAG_ERROR, "%s: %s", origin, why);
        } else {
            struct tg_manifest_set set = {0};
            size_t nl = strlen(names[i]);
            int as_json = nl > 5 && strcmp(names[i] + nl - 5, ".json") == 0;
            if (tg_manifest_parse(buf, len, origin, as_json, &set, &s->diags) == 0) {
                tg_manifest_set_free(&fc->set);
                fc->set = set;
            } else if (fc->set.count) {
                tg_diags_add(&s->diags, TG_DIAG_WARNING, "%s: keeping the %zu object(s) it held before", origin,
                             fc->set.count);
            }
            free(buf);
        }
    }
    /* forget files that are gone */
    for (size_t i = 0; i < s->nfiles;) {
        if (!s->files[i].seen) {
            tg_manifest_set_free(&s->files[i].set);
            s->files[i] = s->files[--s->nfiles];
        } else {
            i++;
        }
    }
    /* the desired set, in file name order; first definition wins */
    size_t total = 0;
    for (size_t i = 0; i < s->nfiles; i++)
        total += s->files[i].set.count;
    struct want *w = calloc(total + 1, sizeof *w);
    json_t *index = json_object(); /* "kind|ns|name" -> position in w */
    size_t nw = 0;
    for (size_t i = 0; i < n && w; i++) {
        struct file_cache *fc = cache_get(s, names[i], 0);
        if (!fc)
            continue;
        char full[4400];
        snprintf(full, sizeof full, "%s/%s", s->path, names[i]);
        for (size_t j = 0; j < fc->set.count; j++) {
            const struct tg_manifest *m = &fc->set.items[j];
            const char *ns = meta_str(m->obj, "namespace", "default"), *name = meta_str(m->obj, "name", "");
            char key[400];
            snprintf(key, sizeof key, "%d|%s|%s", (int)m->kind, ns, name);
            json_t *at = json_object_get(index, key);
            const struct want *dup = at ? &w[json_integer_value(at)] : NULL;
            if (dup && dup->m) {
                tg_diags_add(&s->diags, TG_DIAG_ERROR, "%s doc %d: %s %s/%s: already defined in %.300s/%.200s doc %d; ignored",
                             full, m->document, tg_kind_name(m->kind), ns, name, s->path, dup->file,
                             dup->m->document);
                continue;
            }
            if (nw >= TG_DIR_MAX_OBJECTS) {
                tg_diags_add(&s->diags, TG_DIAG_ERROR, "%s doc %d: more than %d objects in the directory; ignored",
                             full, m->document, TG_DIR_MAX_OBJECTS);
                continue;
            }
            json_object_set_new(index, key, json_integer((json_int_t)nw));
            w[nw++] = (struct want){m, fc->name, ns, name};
        }
    }
    /* sync the store: put everything wanted, delete what is not */
    uint64_t before = tg_store_revision(s->store);
    for (size_t k = 0; k < nw; k++) {
        struct tg_object_origin o;
        snprintf(o.source, sizeof o.source, "%.300s/%.200s", s->path, w[k].file);
        o.document = w[k].m->document;
        tg_store_put(s->store, w[k].m->kind, json_incref(w[k].m->obj), &o);
    }
    for (int kind = 0; kind < TG_KIND_COUNT; kind++) {
        size_t count = 0;
        const struct tg_store_object *const *list = tg_store_list(s->store, (enum tg_kind)kind, &count);
        char **gone_ns = calloc(count + 1, sizeof *gone_ns), **gone_name = calloc(count + 1, sizeof *gone_name);
        size_t ngone = 0;
        for (size_t i = 0; i < count && gone_ns && gone_name; i++) {
            char key[400];
            snprintf(key, sizeof key, "%d|%s|%s", kind, list[i]->namespace_, list[i]->name);
            if (!json_object_get(index, key)) {
                gone_ns[ngone] = strdup(list[i]->namespace_);
                gone_name[ngone++] = strdup(list[i]->name);
            }
        }
        for (size_t i = 0; i < ngone; i++) {
            tg_store_delete(s->store, (enum tg_kind)kind, gone_ns[i], gone_name[i]);
            free(gone_ns[i]);
            free(gone_name[i]);
        }
        free(gone_ns);
        free(gone_name);
    }
    free(w);
    json_decref(index);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return tg_store_revision(s->store) != before;
}

static void reload_and_notify(struct tg_dir_source *s)
{
    int changed = tg_dir_source_reload(s);
    if (changed < 0)
        return;
    tg_diags_log(&s->diags);
    tg_debug("dir:%s reloaded (%s)", s->path, changed ? "changed" : "unchanged");
    if (changed || !s->synced) {
        s->synced = 1;
        s->changed(s->arg);
    }
}

static void on_debounce(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct tg_dir_source *s = w->data;
    s->first_event_ms = 0;
    reload_and_notify(s);
}

static void on_inotify(struct ev_loop *loop, ev_io *w, int revents)
{
    struct tg_dir_source *s = w->data;
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    while (read(s->inotify_fd, buf, sizeof buf) > 0)
        ; /* drain: any event means "look again" */
    uint64_t now = tg_now_ms();
    if (!s->first_event_ms)
        s->first_event_ms = now;
    double delay = DEBOUNCE_S;
    uint64_t deadline = s->first_event_ms + MAX_DELAY_MS;
    if (now + (uint64_t)(DEBOUNCE_S * 1000) > deadline)
        delay = deadline > now ? (double)(deadline - now) / 1000.0 : 0.;
    ev_timer_stop(loop, &s->debounce);
    ev_timer_set(&s->debounce, delay, 0.);
    ev_timer_start(loop, &s->debounce);
}

static void on_rescan(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct tg_dir_source *s = w->data;
    if (ev_is_active(&s->debounce))
        return; /* a reload is coming anyway */
    char **names = NULL;
    size_t n = 0;
    uint64_t fp = 0;
    if (list_files(s, &names, &n, &fp) == 0) {
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        if (fp == s->fingerprint)
            return;
    }
    reload_and_notify(s);
}

struct tg_dir_source *tg_dir_source_new(struct ev_loop *loop, struct tg_store *store, const char *path,
                                        tg_dir_changed_cb changed, void *arg, char *err, size_t errlen)
{
    if (strlen(path) >= sizeof(((struct tg_dir_source *)0)->path) - 300) {
        snprintf(err, errlen, "dir:%s: path too long", path);
        return NULL;
    }
    struct tg_dir_source *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->loop = loop;
    s->store = store;
    snprintf(s->path, sizeof s->path, "%s", path);
    size_t pl = strlen(s->path);
    while (pl > 1 && s->path[pl - 1] == '/')
        s->path[--pl] = '\0';
    s->changed = changed;
    s->arg = arg;
    s->inotify_fd = -1;
    tg_diags_init(&s->diags);
    ev_timer_init(&s->debounce, on_debounce, DEBOUNCE_S, 0.);
    s->debounce.data = s;
    ev_timer_init(&s->rescan, on_rescan, RESCAN_S, RESCAN_S);
    s->rescan.data = s;
    return s;
}

int tg_dir_source_start(struct tg_dir_source *s, char *err, size_t errlen)
{
    struct stat st;
    if (stat(s->path, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "dir:%s: not a readable directory", s->path);
        return -1;
    }
    s->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (s->inotify_fd >= 0 &&
        inotify_add_watch(s->inotify_fd, s->path,
                          IN_CLOSE_WRITE | IN_MODIFY | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
                              IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF) >= 0) {
        ev_io_init(&s->inotify_io, on_inotify, s->inotify_fd, EV_READ);
        s->inotify_io.data = s;
        ev_io_start(s->loop, &s->inotify_io);
    } else {
        tg_warn("dir:%s: inotify unavailable (%s); relying on the 1 s rescan", s->path, strerror(errno));
    }
    ev_timer_start(s->loop, &s->rescan);
    s->started = 1;
    if (tg_dir_source_reload(s) < 0) {
        snprintf(err, errlen, "dir:%s: cannot read the directory", s->path);
        return -1;
    }
    tg_diags_log(&s->diags);
    s->synced = 1;
    s->changed(s->arg);
    return 0;
}

void tg_dir_source_free(struct tg_dir_source *s)
{
    if (!s)
        return;
    ev_timer_stop(s->loop, &s->debounce);
    ev_timer_stop(s->loop, &s->rescan);
    if (s->inotify_fd >= 0) {
        ev_io_stop(s->loop, &s->inotify_io);
        close(s->inotify_fd);
    }
    for (size_t i = 0; i < s->nfiles; i++)
        tg_manifest_set_free(&s->files[i].set);
    free(s->files);
    tg_diags_free(&s->diags);
    free(s);
}

const struct tg_diags *tg_dir_source_diags(const struct tg_dir_source *s)
{
    return &s->diags;
}

/* ---- source ops ---- */

static void *dir_create(struct ev_loop *loop, struct tg_store *store, const struct tg_source_config *cfg,
                        const struct tg_source_events *events, char *err, size_t errlen)
{
    return tg_dir_source_new(loop, store, cfg->dir, events->changed, events->arg, err, errlen);
}

static int dir_start(void *self, char *err, size_t errlen)
{
    return tg_dir_source_start(self, err, errlen);
}

static void dir_destroy(void *self)
{
    tg_dir_source_free(self);
}

static int dir_synced(const void *self)
{
    return ((const struct tg_dir_source *)self)->synced;
}

static const struct tg_diags *dir_diags(const void *self)
{
    return tg_dir_source_diags(self);
}

static size_t dir_metrics(const void *self, char *out, size_t outlen)
{
    const struct tg_dir_source *s = self;
    int n = snprintf(out, outlen,
                     "# HELP tollgate_controller_dir_reloads_total Directory re-reads.\n"
                     "# TYPE tollgate_controller_dir_reloads_total counter\n"
                     "tollgate_controller_dir_reloads_total %lu\n"
                     "# HELP tollgate_controller_dir_load_errors Errors found by the last directory read.\n"
                     "# TYPE tollgate_controller_dir_load_errors gauge\n"
                     "tollgate_controller_dir_load_errors %zu\n",
                     s->reloads, tg_diags_count(&s->diags, TG_DIAG_ERROR));
    return n < 0 ? 0 : (size_t)n >= outlen ? 0 : (size_t)n;
}

const struct tg_source_ops tg_dir_source_ops = {
    .name = "dir",
    .create = dir_create,
    .start = dir_start,
    .destroy = dir_destroy,
    .synced = dir_synced,
    .diags = dir_diags,
    .metrics = dir_metrics,
};
