/* traffic_answer.h — answers the traffic policies make themselves (429, 403, 503): they carry, besides their
 * own headers, the CORS and rate-limit response headers that earlier policies of the list set as response
 * edits, so that a browser can read a 429 (Access-Control-Allow-Origin) and a client sees its quota
 * (X-RateLimit-*) on refusals too. (Response edits otherwise only apply to the backend's response.) */
#ifndef TG_TRAFFIC_ANSWER_H
#define TG_TRAFFIC_ANSWER_H

struct tg_policy_ctx;

/* tg_policy_reject with own_headers ("Name: value\r\n" lines, may be NULL) followed by the carried edits;
 * edits that would not fit in the context's extra_headers are left out. */
void tg_traffic_reject(struct tg_policy_ctx *ctx, int status, const char *code, const char *message,
                       const char *own_headers);

#endif
