/* manifest.h — turns the bytes of one manifest file into the Kubernetes objects the controller reads.
 *
 * YAML files may hold many documents (yaml_json.h does the conversion); JSON files hold one value. A
 * document (or each item of a `kind: List`) must be an object with string apiVersion and kind and a
 * metadata.name that is an RFC 1123 subdomain; metadata.namespace, when present, must be an RFC 1123 label
 * (absent → "default", filled in by the store). Empty documents are skipped; kinds the controller does not
 * read are skipped with a warning. Any other problem fails the whole file: nothing of it is returned, so the
 * caller can keep what the file held before (dir mode's "last good" rule).
 */
#ifndef TG_MANIFEST_H
#define TG_MANIFEST_H

#include "model/diag.h"
#include "model/store.h"

#include <jansson.h>
#include <stddef.h>

/* Bounds for one file. */
#define TG_MANIFEST_MAX_FILE_BYTES (8u << 20)
#define TG_MANIFEST_MAX_DOCUMENTS 10000

struct tg_manifest {
    enum tg_kind kind;
    json_t *obj;   /* one reference, owned by the set */
    int document;  /* 1-based document index in the file */
};

struct tg_manifest_set {
    struct tg_manifest *items;
    size_t count, cap;
};

void tg_manifest_set_free(struct tg_manifest_set *set);

/* Parses buf[0..len) named origin (used in messages: "ORIGIN doc N: ..."). as_json selects strict JSON
 * instead of YAML. Appends the objects to *out and problems to *diags. Returns 0, or -1 when the file failed
 * as a whole (then nothing was appended to *out and at least one error was added to *diags). */
int tg_manifest_parse(const char *buf, size_t len, const char *origin, int as_json, struct tg_manifest_set *out,
                      struct tg_diags *diags);

#endif
