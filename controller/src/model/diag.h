/* diag.h — the controller's list of problems found while loading manifests and translating them: each entry
 * is one line of text ("FILE doc N: Kind ns/name: field.path: message") with a severity. Errors mean some
 * user intent is not served (an object excluded, a file ignored); warnings mean it is served degraded
 * (no endpoints, a missing certificate) or something was skipped on purpose (an unknown kind). */
#ifndef TG_DIAG_H
#define TG_DIAG_H

#include <stddef.h>

enum tg_diag_severity { TG_DIAG_WARNING = 0, TG_DIAG_ERROR = 1 };

struct tg_diag {
    enum tg_diag_severity severity;
    char *text;
};

struct tg_diags {
    struct tg_diag *items;
    size_t count, cap;
};

void tg_diags_init(struct tg_diags *d);
void tg_diags_free(struct tg_diags *d);
/* Appends one entry (the text is truncated at 1 KiB). Allocation failures drop the entry silently. */
void tg_diags_add(struct tg_diags *d, enum tg_diag_severity sev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
size_t tg_diags_count(const struct tg_diags *d, enum tg_diag_severity sev);
/* "error" / "warning". */
const char *tg_diag_severity_name(enum tg_diag_severity sev);
/* Logs every entry through log.h (errors at error level, warnings at warn level). */
void tg_diags_log(const struct tg_diags *d);

#endif
