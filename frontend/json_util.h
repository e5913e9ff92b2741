/* JSON helpers shared by the frontend's readers of config.json, model.json
 * and the sentence-transformers metadata (internal header). */
#ifndef BERTC_FRONTEND_JSON_UTIL_H
#define BERTC_FRONTEND_JSON_UTIL_H

#include <jansson.h>
#include <stddef.h>

#include "bertc/status.h"

/* An error about the file at `path`: "<path>: <message>". */
bertc_status_t fe_file_error(const char *path, bertc_status_code_t code, const char *fmt, ...)
    BERTC_PRINTF(3, 4);

/* "an object", "a string", ... for messages about a value of the wrong type. */
const char *fe_json_type_name(const json_t *v);

/* Reads `path` (at most max_size bytes) and parses it as JSON, refusing
 * duplicate keys. A file that does not parse gives OK with *out NULL and the
 * parser's error in *err, for the caller's message. The caller owns *out
 * (json_decref). */
bertc_status_t fe_json_parse_file(const char *path, size_t max_size, json_t **out,
                                  json_error_t *err);

/* fe_json_parse_file with the error message "<path>: invalid JSON at line L,
 * column C: ..." when the file does not parse. */
bertc_status_t fe_json_load_file(const char *path, size_t max_size, json_t **out);

#endif
