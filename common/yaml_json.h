/* yaml_json.h — converts a YAML stream (one or more documents) into jansson values the way Kubernetes'
 * YAML→JSON conversion (sigs.k8s.io/yaml over go-yaml v2, YAML 1.1 rules) types them, with hard bounds.
 *
 * Typing of scalars (values):
 *   - quoted ('…', "…"), literal (|) and folded (>) scalars are always strings;
 *   - plain scalars: "", ~, null, Null, NULL → null; y Y yes Yes YES true True TRUE on On ON → true;
 *     n N no No NO false False FALSE off Off OFF → false; integers as Go's strconv.ParseInt(s, 0, 64) reads
 *     them after removing "_" (decimal, 0x hex, 0o / leading-0 octal, 0b binary, optional sign) → integer;
 *     YAML 1.1 floats ([-+]?(.D+|D+(.D*)?)([eE][-+]?D+)?) → real; everything else (timestamps included) →
 *     string. .inf/.nan are refused (JSON cannot carry them).
 *   - explicit tags: !!str forces a string, !!int/!!float/!!bool/!!null must agree with the plain typing,
 *     !!map/!!seq are accepted, the non-specific "!" makes a string; any other tag is refused.
 * Mapping keys must be scalars and are kept as their literal text (deviation from sigs.k8s.io/yaml, which
 * would turn a key `on:` into "true"); duplicate keys and merge keys (<<) are refused.
 * Anchors and aliases are allowed but bounded: an alias is expanded by copying, and every expanded node
 * counts against max_nodes, so "billion laughs" documents fail fast instead of exhausting memory.
 *
 * Pure: no I/O, no globals; safe on hostile input (sizes, depth, node count bounded).
 */
#ifndef TG_YAML_JSON_H
#define TG_YAML_JSON_H

#include <jansson.h>
#include <stddef.h>

struct tg_yaml_limits {
    size_t max_bytes;     /* input size */
    size_t max_documents; /* documents in the stream */
    size_t max_depth;     /* nesting of sequences/mappings (the document root is depth 1) */
    size_t max_nodes;     /* scalars + containers in the whole stream, alias expansions included */
};

/* 8 MiB, 10,000 documents, depth 64, 1,000,000 nodes. */
extern const struct tg_yaml_limits tg_yaml_default_limits;

struct tg_yaml_error {
    int document;       /* 1-based document the error is in; 0 when before the first document */
    int line;           /* 1-based line; 0 when unknown */
    int column;         /* 1-based column; 0 when unknown */
    char message[256];
};

/* Parses buf[0..len) (UTF-8/UTF-16 with BOM, as libyaml accepts). Returns a new JSON array holding one value
 * per document in order (json null for an empty document), or NULL with *err filled. limits NULL = defaults.
 * The caller owns the returned array. */
json_t *tg_yaml_to_json(const char *buf, size_t len, const struct tg_yaml_limits *limits,
                        struct tg_yaml_error *err);

#endif
