/* http1_heads_same.h — test-only: the restartable-parser comparison shared by the unit test
 * (test_common_http1_parser.c) and the fuzzer (tests/fuzz/fuzz_http1_parser.c): two parses of the same message
 * from different buffers (a whole copy, a prefix, a split feed) must agree field by field, with every slice at
 * the same offset of its own buffer. */
#ifndef TG_TEST_HTTP1_HEADS_SAME_H
#define TG_TEST_HTTP1_HEADS_SAME_H

#include "http1_parser.h"

static int slice_same(struct tg_slice a, const char *abase, struct tg_slice b, const char *bbase)
{
    if (a.len != b.len)
        return 0;
    if (a.ptr == NULL || b.ptr == NULL)
        return a.ptr == NULL && b.ptr == NULL;
    return a.ptr - abase == b.ptr - bbase;
}

/* Same parse result, with slices at the same offsets of their own buffers. */
static int heads_same(const struct tg_http_head *a, const char *abase, const struct tg_http_head *b,
                      const char *bbase)
{
    if (a->status != b->status || a->minor_version != b->minor_version || a->head_len != b->head_len ||
        a->num_headers != b->num_headers || a->framing != b->framing || a->content_length != b->content_length ||
        a->connection_flags != b->connection_flags || a->keep_alive != b->keep_alive)
        return 0;
    if (!slice_same(a->method, abase, b->method, bbase) || !slice_same(a->target, abase, b->target, bbase) ||
        !slice_same(a->reason, abase, b->reason, bbase) || !slice_same(a->host, abase, b->host, bbase) ||
        !slice_same(a->upgrade, abase, b->upgrade, bbase))
        return 0;
    for (size_t i = 0; i < a->num_headers; i++)
        if (!slice_same(a->headers[i].name, abase, b->headers[i].name, bbase) ||
            !slice_same(a->headers[i].value, abase, b->headers[i].value, bbase))
            return 0;
    return 1;
}

#endif
