/* console.h — the admin port's read-only views added for tollgatectl and the web console: GET /routes (the live
 * routing table) and GET /console/... (the console's static files, embedded at build time from console/ by
 * scripts/embed_console.py into build/gen/console_assets.c). */
#ifndef TG_CONSOLE_H
#define TG_CONSOLE_H

#include "process/dataplane.h"

#include <stddef.h>

/* One embedded file (the generated table ends with a {NULL} entry). */
struct tg_console_asset {
    const char *name;         /* "index.html", "js/app.js" */
    const unsigned char *data;
    size_t len;
};
extern const struct tg_console_asset tg_console_assets[];

/* Answers GET/HEAD /routes and /console[/...] and returns 1; returns 0 (nothing sent) for any other path. Main
 * thread (the admin server's loop). */
int tg_console_handle(struct tg_mini_request *req, struct tg_dataplane *dp);

#endif
