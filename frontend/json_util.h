/* JSON helpers shared by the frontend's readers of config.json, model.json
 * and the sentence-transformers metadata (internal header). */
#ifndef BERTC_FRONTEND_JSON_UTIL_H
#define BERTC_FRONTEND_JSON_UTIL_H

#include <jansson.h>
#include <stddef.h>

#include "bertc/status.h"

/* "an object", "a string", ... for messages about a value of the wrong type. */
const char *fe_json_type_name(const json_t *v);

/* Reads `path` (at most max_size bytes) and parses it as JSON, refusing
 * duplicate keys: "<path>: invalid JSON at line L, column C: ..." otherwise.
 * The caller owns *out (json_decref). */
bertc_status_t fe_json_load_file(const char *path, size_t max_size, json_t **out);

#endif
