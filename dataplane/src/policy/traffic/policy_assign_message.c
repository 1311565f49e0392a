/* policy_assign_message.c — the assignMessage policy (Apigee AssignMessage, headers only): sets and removes
 * headers of the request toward the target and of the response toward the client, as policy edits
 * (policy.h); a set replaces every field of that name.
 *
 * Snapshot (docs/policy-traffic.md):
 *   {"type":"assignMessage","setRequestHeaders":{"x-env":"prod"},"removeRequestHeaders":["x-api-key"],
 *    "setResponseHeaders":{"x-served-by":"tollgate"},"removeResponseHeaders":["server"]}
 * Names and values follow common/header_rules.h (tokens of at most 63 characters; values of at most 383 bytes
 * without controls: no header injection; framing, hop-by-hop, Sec-WebSocket-* and — on requests — Host are
 * refused: the proxy owns them); at most 16 request and 16 response edits. Removals run before sets. Edits of several policies share the request's
 * edit list; when it is full the request is refused (500 policy.too_many_header_edits) rather than forwarded
 * half-edited. Response edits apply to the backend's responses (not to a 101). */
#include "policy/policy.h"

#include "header_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NAME_MAX_LEN TG_EDIT_NAME_MAX
#define VALUE_MAX_LEN TG_EDIT_VALUE_MAX

struct edit {
    char name[NAME_MAX_LEN + 1];
    char value[VALUE_MAX_LEN + 1];
};

struct edit_list {
    struct edit items[TG_POLICY_MAX_EDITS];
    size_t n;
};

struct am_state {
    struct edit_list set_req, remove_req, set_resp, remove_resp;
};

static void am_free(void *p) { free(p); }

static int compile_sets(const json_t *spec, const char *field, int request, struct edit_list *out, char *err,
                        size_t err_size)
{
    const json_t *obj = json_object_get(spec, field);
    if (!obj)
        return 0;
    if (!json_is_object(obj) || json_object_size(obj) > TG_POLICY_MAX_EDITS) {
        snprintf(err, err_size, "%s: must be a mapping of at most %d header names to values", field,
                 TG_POLICY_MAX_EDITS);
        return -1;
    }
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)obj, name, v) {
        const char *why = tg_header_edit_name_check(name, request);
        if (!why && !json_is_string(v))
            why = "the value must be a string";
        if (!why)
            why = tg_header_edit_value_check(json_string_value(v), json_string_length(v));
        if (why) {
            snprintf(err, err_size, "%s.%.64s: %s", field, name, why);
            return -1;
        }
        struct edit *e = &out->items[out->n++];
        snprintf(e->name, sizeof e->name, "%s", name);
        snprintf(e->value, sizeof e->value, "%s", json_string_value(v));
    }
    return 0;
}

static int compile_removes(const json_t *spec, const char *field, int request, struct edit_list *out, char *err,
                           size_t err_size)
{
    const json_t *arr;
    if (tg_policy_array_field(spec, "", field, TG_POLICY_MAX_EDITS, "header names", &arr, err, err_size) < 0)
        return -1;
    if (!arr)
        return 0;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        const char *why = json_is_string(v) ? tg_header_edit_name_check(json_string_value(v), request) : "must be a string";
        if (why) {
            snprintf(err, err_size, "%s[%zu]: %s", field, i, why);
            return -1;
        }
        snprintf(out->items[out->n++].name, sizeof out->items[0].name, "%s", json_string_value(v));
    }
    return 0;
}

static void *am_compile(const json_t *spec, char *err, size_t err_size, int *failed)
{
    static const char *const fields[] = {"setRequestHeaders", "removeRequestHeaders", "setResponseHeaders",
                                         "removeResponseHeaders", NULL};
    struct am_state *st = tg_policy_state_new(sizeof *st, err, err_size);
    if (!st || tg_policy_only_fields(spec, fields, "", err, err_size) < 0)
        goto fail;
    if (compile_sets(spec, "setRequestHeaders", 1, &st->set_req, err, err_size) < 0 ||
        compile_removes(spec, "removeRequestHeaders", 1, &st->remove_req, err, err_size) < 0 ||
        compile_sets(spec, "setResponseHeaders", 0, &st->set_resp, err, err_size) < 0 ||
        compile_removes(spec, "removeResponseHeaders", 0, &st->remove_resp, err, err_size) < 0)
        goto fail;
    if (st->set_req.n + st->remove_req.n > TG_POLICY_MAX_EDITS ||
        st->set_resp.n + st->remove_resp.n > TG_POLICY_MAX_EDITS) {
        snprintf(err, err_size, "at most %d request and %d response header edits", TG_POLICY_MAX_EDITS,
                 TG_POLICY_MAX_EDITS);
        goto fail;
    }
    return st;
fail:
    am_free(st);
    *failed = 1;
    return NULL;
}

static void am_run(struct tg_policy_ctx *ctx, void *state)
{
    const struct am_state *st = state;
    int full = 0;
    for (size_t i = 0; i < st->remove_req.n; i++)
        full |= tg_policy_remove_request_header(ctx, st->remove_req.items[i].name);
    for (size_t i = 0; i < st->set_req.n; i++)
        full |= tg_policy_set_request_header(ctx, st->set_req.items[i].name, st->set_req.items[i].value);
    for (size_t i = 0; i < st->remove_resp.n; i++)
        full |= tg_policy_remove_response_header(ctx, st->remove_resp.items[i].name);
    for (size_t i = 0; i < st->set_resp.n; i++)
        full |= tg_policy_set_response_header(ctx, st->set_resp.items[i].name, st->set_resp.items[i].value);
    if (full) {
        tg_policy_reject(ctx, 500, "policy.too_many_header_edits",
                         "the policies of this API proxy edit more headers than the gateway can carry", NULL);
        return;
    }
    tg_policy_continue(ctx);
}

const struct tg_policy_type tg_policy_assign_message = {
    .name = "assignMessage",
    .compile = am_compile,
    .run = am_run,
    .free_state = am_free,
};
