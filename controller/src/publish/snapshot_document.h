/* snapshot_document.h — the versioned document pushed to the data plane (docs/control-protocol.md): the content hash
 * that decides whether a push is needed, and the final document with "version" and "generatedAt". */
#ifndef TG_SNAPSHOT_DOCUMENT_H
#define TG_SNAPSHOT_DOCUMENT_H

#include <jansson.h>
#include <stdint.h>

#define TG_SNAPSHOT_HASH_HEX 65

/* SHA-256 (hex, NUL-terminated) of the canonical form of content (compact, keys sorted). Two contents hash
 * equally exactly when they are equal JSON. Returns 0, or -1 when content cannot be serialised. */
int tg_snapshot_hash(const json_t *content, char out[TG_SNAPSHOT_HASH_HEX]);

/* A new document {"version":V,"generatedAt":"RFC 3339 UTC",…content's fields}; NULL on allocation failure. */
json_t *tg_snapshot_finalize(const json_t *content, uint64_t version, int64_t unix_ms);

/* Serialises a finalized snapshot for the wire (compact). The caller frees the string. */
char *tg_snapshot_dump(const json_t *doc, size_t *len);

#endif
