/* JSON helpers shared by the frontend's readers (json_util.h). */
#include "frontend/json_util.h"

#include <stdarg.h>
#include <stdlib.h>

#include "base/base.h"

bertc_status_t fe_file_error(const char *path, bertc_status_code_t code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  bertc_status_t s = bertc_status_makev(code, fmt, ap);
  va_end(ap);
  return bertc_status_annotate(s, "%s", path);
}

const char *fe_json_type_name(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT: return "an object";
  case JSON_ARRAY: return "an array";
  case JSON_STRING: return "a string";
  case JSON_INTEGER: return "an integer";
  case JSON_REAL: return "a real number";
  case JSON_TRUE:
  case JSON_FALSE: return "a boolean";
  case JSON_NULL: return "null";
  }
  return "?";
}

bertc_status_t fe_json_parse_file(const char *path, size_t max_size, json_t **out,
                                  json_error_t *err) {
  *out = NULL;
  char *text;
  size_t size;
  BERTC_RETURN_IF_ERROR(base_read_file(path, max_size, &text, &size));
  *out = json_loadb(text, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, err);
  free(text);
  return BERTC_OK;
}

bertc_status_t fe_json_load_file(const char *path, size_t max_size, json_t **out) {
  json_error_t jerr;
  BERTC_RETURN_IF_ERROR(fe_json_parse_file(path, max_size, out, &jerr));
  if (!*out)
    return fe_file_error(path, BERTC_STATUS_DATA, "invalid JSON at line %d, column %d: %s",
                         jerr.line, jerr.column, jerr.text);
  return BERTC_OK;
}
