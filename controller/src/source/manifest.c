/* manifest.c — see manifest.h. */
#include "source/manifest.h"

#include "json_util.h"
#include "model/validate.h"
#include "yaml_json.h"

#include <stdlib.h>
#include <string.h>

void tg_manifest_set_free(struct tg_manifest_set *set)
{
    for (size_t i = 0; i < set->count; i++)
        json_decref(set->items[i].obj);
    free(set->items);
    memset(set, 0, sizeof *set);
}

static int append(struct tg_manifest_set *set, enum tg_kind kind, json_t *obj, int document)
{
    if (set->count == set->cap) {
        size_t ncap = set->cap ? set->cap * 2 : 16;
        struct tg_manifest *n = realloc(set->items, ncap * sizeof *n);
        if (!n)
            return -1;
        set->items = n;
        set->cap = ncap;
    }
    set->items[set->count++] = (struct tg_manifest){kind, json_incref(obj), document};
    return 0;
}

/* Checks one object; appends it to set when it is of a kind the controller reads. where = "ORIGIN doc N" or
 * "ORIGIN doc N item I". Returns 0 or -1 (error added). */
static int take_object(json_t *doc, const char *where, int document, struct tg_manifest_set *set,
                       struct tg_diags *diags)
{
    if (!json_is_object(doc)) {
        tg_diags_add(diags, TG_DIAG_ERROR, "%s: a manifest must be a mapping, not a %s", where,
                     tg_json_type_name(doc));
        return -1;
    }
    const char *api_version = NULL, *kind = NULL, *name = NULL, *ns = NULL;
    json_t *meta = NULL;
    if (tg_json_get_string(doc, "apiVersion", 256, &api_version) != TG_JSON_FOUND || !*api_version) {
        tg_diags_add(diags, TG_DIAG_ERROR, "%s: apiVersion: required string", where);
        return -1;
    }
    if (tg_json_get_string(doc, "kind", 256, &kind) != TG_JSON_FOUND || !*kind) {
        tg_diags_add(diags, TG_DIAG_ERROR, "%s: kind: required string", where);
        return -1;
    }
    if (strcmp(api_version, "v1") == 0 && strcmp(kind, "List") == 0) {
        json_t *items = NULL;
        if (tg_json_get_array(doc, "items", &items) == TG_JSON_WRONG_TYPE) {
            tg_diags_add(diags, TG_DIAG_ERROR, "%s: items: must be a list", where);
            return -1;
        }
        size_t i;
        json_t *item;
        json_array_foreach(items, i, item) {
            char inner[700];
            snprintf(inner, sizeof inner, "%s item %zu", where, i + 1);
            const char *ik = NULL;
            if (tg_json_get_string(item, "kind", 256, &ik) == TG_JSON_FOUND && strcmp(ik, "List") == 0) {
                tg_diags_add(diags, TG_DIAG_ERROR, "%s: nested lists are not supported", inner);
                return -1;
            }
            if (take_object(item, inner, document, set, diags) < 0)
                return -1;
        }
        return 0;
    }
    if (tg_json_get_object(doc, "metadata", &meta) != TG_JSON_FOUND) {
        tg_diags_add(diags, TG_DIAG_ERROR, "%s: %s: metadata: required mapping", where, kind);
        return -1;
    }
    int r = tg_json_get_string(meta, "name", 253, &name);
    if (r != TG_JSON_FOUND) {
        tg_diags_add(diags, TG_DIAG_ERROR, "%s: %s: metadata.name: %s", where, kind,
                     r == TG_JSON_ABSENT ? "required" : "must be a string of at most 253 characters");
        return -1;
    }
    const char *why = tg_check_dns_subdomain(name);
    if (why) {
        tg_diags_add(diags, TG_DIAG_ERROR, "%s: %s %.253s: metadata.name: %s", where, kind, name, why);
        return -1;
    }
    r = tg_json_get_string(meta, "namespace", 63, &ns);
    if (r < 0 || (r == TG_JSON_FOUND && *ns && tg_check_dns_label(ns))) {
        tg_diags_add(diags, TG_DIAG_ERROR, "%s: %s %s: metadata.namespace: must be an RFC 1123 label", where,
                     kind, name);
        return -1;
    }
    int k = tg_kind_from_manifest(api_version, kind);
    if (k < 0) {
        tg_diags_add(diags, TG_DIAG_WARNING, "%s: %s/%s %s: kind not read by the controller, skipped", where,
                     api_version, kind, name);
        return 0;
    }
    if (append(set, (enum tg_kind)k, doc, document) < 0) {
        tg_diags_add(diags, TG_DIAG_ERROR, "%s: out of memory", where);
        return -1;
    }
    return 0;
}

int tg_manifest_parse(const char *buf, size_t len, const char *origin, int as_json, struct tg_manifest_set *out,
                      struct tg_diags *diags)
{
    if (len > TG_MANIFEST_MAX_FILE_BYTES) {
        tg_diags_add(diags, TG_DIAG_ERROR, "%s: file is larger than %u bytes", origin,
                     TG_MANIFEST_MAX_FILE_BYTES);
        return -1;
    }
    json_t *docs = NULL;
    if (as_json) {
        json_error_t jerr;
        json_t *one = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
        if (!one) {
            tg_diags_add(diags, TG_DIAG_ERROR, "%s: line %d column %d: %s", origin, jerr.line, jerr.column,
                         jerr.text);
            return -1;
        }
        docs = json_array();
        json_array_append_new(docs, one);
    } else {
        struct tg_yaml_limits lim = tg_yaml_default_limits;
        lim.max_bytes = TG_MANIFEST_MAX_FILE_BYTES;
        lim.max_documents = TG_MANIFEST_MAX_DOCUMENTS;
        struct tg_yaml_error yerr;
        docs = tg_yaml_to_json(buf, len, &lim, &yerr);
        if (!docs) {
            if (yerr.line)
                tg_diags_add(diags, TG_DIAG_ERROR, "%s doc %d: line %d column %d: %s", origin, yerr.document,
                             yerr.line, yerr.column, yerr.message);
            else
                tg_diags_add(diags, TG_DIAG_ERROR, "%s: %s", origin, yerr.message);
            return -1;
        }
    }
    struct tg_manifest_set mine = {0};
    size_t i;
    json_t *doc;
    int rc = 0;
    json_array_foreach(docs, i, doc) {
        if (json_is_null(doc))
            continue;
        char where[600];
        snprintf(where, sizeof where, "%s doc %zu", origin, i + 1);
        if (take_object(doc, where, (int)i + 1, &mine, diags) < 0) {
            rc = -1;
            break;
        }
    }
    json_decref(docs);
    if (rc < 0) {
        tg_manifest_set_free(&mine);
        return -1;
    }
    for (size_t j = 0; j < mine.count; j++) {
        if (append(out, mine.items[j].kind, mine.items[j].obj, mine.items[j].document) < 0) {
            tg_manifest_set_free(&mine);
            tg_diags_add(diags, TG_DIAG_ERROR, "%s: out of memory", origin);
            return -1;
        }
    }
    tg_manifest_set_free(&mine);
    return 0;
}
