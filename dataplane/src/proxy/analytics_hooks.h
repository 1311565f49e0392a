/* analytics_hooks.h — where the proxy layer's analytics records go (the process layer's bounded queue and
 * writer thread: process/analytics_log.c), without knowing it. Types only.
 *
 * emit() is called on a worker thread with one JSON line (malloc'd, newline included, ownership taken); it never
 * blocks: a full queue drops the line and counts it. */
#ifndef TG_ANALYTICS_HOOKS_H
#define TG_ANALYTICS_HOOKS_H

#include <stddef.h>

struct tg_analytics_hooks {
    void *owner;
    void (*emit)(void *owner, char *line, size_t len);
};

#endif
