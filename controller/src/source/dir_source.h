/* dir_source.h — `--source dir:PATH`: the manifests in one directory are the desired state.
 *
 * Reads every regular file of PATH (not recursive; symlinks followed; names starting with "." skipped, so a
 * mounted ConfigMap's ..data links are not read twice) ending in .yaml, .yml or .json — at most
 * TG_DIR_MAX_FILES files, each ≤ 8 MiB, ≤ 10,000 objects in all. A file that fails (YAML syntax, a document
 * that is not a Kubernetes object) keeps the objects it had before in the store (last good); an object defined
 * twice keeps its first definition (files in name order). Changes are picked up within a second: inotify on
 * the directory with a 100 ms debounce (never delaying a reload more than 900 ms after the first event), plus
 * a rescan every second that compares names, sizes, mtimes and inodes (inotify can miss events on some file
 * systems and mounts). It fills the store and calls `changed`; nothing else (source.h).
 *
 * Timers: two ev_timers (the debounce, the rescan) and one ev_io (inotify) on the controller's loop, owned by the
 * source.
 */
#ifndef TG_DIR_SOURCE_H
#define TG_DIR_SOURCE_H

#include "model/diag.h"
#include "model/store.h"

#include <ev.h>
#include <stddef.h>

#define TG_DIR_MAX_FILES 1000
#define TG_DIR_MAX_OBJECTS 10000

struct tg_dir_source;

typedef void (*tg_dir_changed_cb)(void *arg);

struct tg_dir_source *tg_dir_source_new(struct ev_loop *loop, struct tg_store *store, const char *path,
                                        tg_dir_changed_cb changed, void *arg, char *err, size_t errlen);
/* Loads the directory once (synchronously, then calls changed) and starts watching. -1 when PATH is not a
 * readable directory. */
int tg_dir_source_start(struct tg_dir_source *s, char *err, size_t errlen);
void tg_dir_source_free(struct tg_dir_source *s);

/* Re-reads the directory now and syncs the store (what the watchers call). Returns 1 when the store
 * changed, 0 when not, -1 when the directory could not be read (the store is left alone). */
int tg_dir_source_reload(struct tg_dir_source *s);
/* Problems found by the last reload (files that failed, duplicates, skipped kinds). */
const struct tg_diags *tg_dir_source_diags(const struct tg_dir_source *s);

#endif
