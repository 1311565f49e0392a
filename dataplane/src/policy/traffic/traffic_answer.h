/* traffic_answer.h — the one place that decides which response edits ride on the gateway's own answers.
 *
 * Response edits (policy.h) normally apply only to the backend's response. A refusal the gateway answers itself
 * (401, 403, 429, 503 ...) carries, besides its own header fields, the CORS and rate-limit fields that earlier
 * policies of the list set as response edits (Access-Control-*, Vary, X-RateLimit-*) — so that a browser can
 * read the refusal and a client sees its quota — and never any other edit (framing or content fields, headers
 * meant for the backend's answers). The traffic policies refuse through tg_traffic_reject; the proxy applies
 * tg_answer_carry_edits to every refusal of the pipeline before it answers (auth refusals included). Applying
 * both is harmless: a field already present is never added twice. */
#ifndef TG_TRAFFIC_ANSWER_H
#define TG_TRAFFIC_ANSWER_H

#include <stddef.h>

struct tg_policy_ctx;

/* Appends to headers ("Name: value\r\n" lines, NUL-terminated, size bytes in all) the carried response edits of
 * ctx whose field is not there yet; an edit that does not fit is left out. */
void tg_answer_carry_edits(const struct tg_policy_ctx *ctx, char *headers, size_t size);

/* tg_policy_reject with own_headers ("Name: value\r\n" lines, may be NULL) followed by the carried edits;
 * edits that would not fit in the context's extra_headers are left out. */
void tg_traffic_reject(struct tg_policy_ctx *ctx, int status, const char *code, const char *message,
                       const char *own_headers);

#endif
