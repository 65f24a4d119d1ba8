/* rt_json.h — a small strict JSON parser (RFC 8259) into a tree, for the
 * safetensors header and any other JSON the runtime reads.
 *
 * Strict means: exactly one value with only whitespace around it; strings
 * are valid UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF) with no raw control characters; escapes are the JSON ones and
 * \u surrogate pairs must pair up; numbers follow the JSON grammar; objects
 * never repeat a key; nesting is at most RT_JSON_MAX_DEPTH deep. A NUL
 * character (raw or \u0000) in a string is refused, so strings are plain
 * C strings. All memory comes from rt_alloc. */
#ifndef NN_RT_JSON_H
#define NN_RT_JSON_H

#include "rt_core.h"

#define RT_JSON_MAX_DEPTH 64

typedef enum JsonKind {
  JSON_NULL,   /* null */
  JSON_BOOL,   /* true/false; b holds it */
  JSON_NUMBER, /* s holds the literal as written, e.g. "-1.5e3" */
  JSON_STRING, /* s holds the decoded UTF-8 text */
  JSON_ARRAY,  /* items[0..n) */
  JSON_OBJECT  /* keys[0..n) and items[0..n), in text order */
} JsonKind;

typedef struct JsonValue {
  JsonKind kind;
  size_t pos;              /* byte offset of the value in the parsed text */
  bool b;                  /* JSON_BOOL: the value */
  char *s;                 /* JSON_NUMBER, JSON_STRING: NUL-terminated */
  int n;                   /* JSON_ARRAY, JSON_OBJECT: element count */
  struct JsonValue *items; /* JSON_ARRAY, JSON_OBJECT: n values */
  char **keys;             /* JSON_OBJECT: n distinct keys */
} JsonValue;

/* Parses text[0..len) into *out. On failure returns NN_ERR_FORMAT (or
 * NN_ERR_NOMEM) with a message "WHAT: JSON byte N: expected X, found Y",
 * and *out is zeroed (a JSON_NULL needing no free). */
nn_status rt_json_parse(const char *text, size_t len, const char *what,
                        JsonValue *out);
/* Frees everything under v and zeroes it; NULL is ok. */
void rt_json_free(JsonValue *v);
/* The member `key` of an object, or NULL (also if obj is not an object). */
const JsonValue *rt_json_get(const JsonValue *obj, const char *key);
/* True, with *out set, if v is a number written as a non-negative integer
 * (no sign, fraction or exponent) that fits in uint64_t. */
bool rt_json_u64(const JsonValue *v, uint64_t *out);
/* True if s[0..n) is valid UTF-8 by the rules above (NUL bytes allowed). */
bool rt_utf8_valid(const char *s, size_t n);
/* "null", "boolean", "number", "string", "array", "object". */
const char *rt_json_kind_name(JsonKind k);

#endif
